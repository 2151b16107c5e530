//! Fixed test vectors from the restic format facts.

use cairn_chunker::{ChunkerKind, Polynomial, MIN_SIZE};
use sha2::{Digest, Sha256};

/// SHA-256 of 512 KiB of zeros: restic's "zero chunk" ID.
const ZERO_CHUNK_ID: &str = "07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541";

#[test]
fn all_zero_input_cuts_at_min_size() {
    let data = vec![0u8; 3 * MIN_SIZE + 1000];
    for pol in [Polynomial::RESTIC_TEST, Polynomial::random()] {
        let engine = ChunkerKind::Rabin(pol).build().unwrap();
        let chunks: Vec<&[u8]> = engine.chunks(&data).collect();
        let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(lens, [524_288, 524_288, 524_288, 1000], "polynomial {pol}");
        for c in &chunks[..3] {
            assert_eq!(hex::encode(Sha256::digest(c)), ZERO_CHUNK_ID);
        }
        let streamed: Vec<Vec<u8>> = engine.chunker(&data[..]).collect::<Result<_, _>>().unwrap();
        assert_eq!(streamed.len(), 4);
        assert_eq!(hex::encode(Sha256::digest(&streamed[1])), ZERO_CHUNK_ID);
    }
}

#[test]
fn empty_and_short_inputs() {
    let engine = ChunkerKind::Rabin(Polynomial::RESTIC_TEST).build().unwrap();
    assert_eq!(engine.chunks(&[]).count(), 0);
    assert_eq!(engine.chunker(&[][..]).count(), 0);
    let short = vec![7u8; 1000];
    assert_eq!(engine.chunks(&short).collect::<Vec<_>>(), [&short[..]]);
}

#[test]
fn known_irreducible_and_reducible_polynomials() {
    // AES's x^8 + x^4 + x^3 + x + 1 and the low-weight degree-53
    // x^53 + x^6 + x^2 + x + 1 are irreducible, as is restic's test polynomial.
    for p in [0x11b, (1 << 53) | 0b100_0111, 0x3DA3358B4DC173] {
        assert!(Polynomial(p).is_irreducible(), "{p:#x}");
    }
    // x^8 + 1 = (x + 1)^8; x^4 + x^2 + 1 = (x^2 + x + 1)^2; even
    // polynomials (divisible by x); x^53 + 1 (divisible by x + 1); and
    // (x^8 + x^4 + x^3 + x + 1)(x^45 + x + 1), of degree 53.
    let product = clmul(0x11b, (1 << 45) | 0b11);
    for p in [
        0x101,
        0b10101,
        (1 << 53) | 0b100_0110,
        0x3DA3358B4DC172,
        (1 << 53) | 1,
        product,
    ] {
        assert!(!Polynomial(p).is_irreducible(), "{p:#x}");
    }
}

#[test]
fn random_polynomials_are_irreducible_of_degree_53() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        let p = Polynomial::random();
        assert!(p.is_irreducible(), "{p}");
        assert_eq!(p.degree(), Some(53), "{p}");
        assert_eq!(p.to_string().parse::<Polynomial>().unwrap(), p);
        seen.insert(p);
    }
    assert!(
        seen.len() > 1,
        "random() keeps returning the same polynomial"
    );
}

fn clmul(a: u64, b: u64) -> u64 {
    (0..64)
        .filter(|i| b >> i & 1 == 1)
        .fold(0, |acc, i| acc ^ (a << i))
}
