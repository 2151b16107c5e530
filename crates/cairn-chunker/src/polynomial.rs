//! [`Polynomial`]: the chunker polynomial stored in a restic config.

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use rand::RngCore;

use crate::{gf2, Error};

/// How many candidates [`Polynomial::derive`] tries, as in restic.
pub const MAX_TRIES: u32 = 1_000_000;

/// A polynomial over GF(2), bit `i` being the coefficient of `x^i`.
///
/// restic stores one per repository (`chunker_polynomial` in the config),
/// always irreducible and of degree 53. Formatting with `{}` or `{:x}`
/// gives the config's spelling (lowercase hex, no prefix), and
/// [`FromStr`] parses it back.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Polynomial(pub u64);

impl Polynomial {
    /// The polynomial restic's own chunker tests use. Irreducible, degree 53.
    pub const RESTIC_TEST: Polynomial = Polynomial(0x3DA3358B4DC173);

    /// A fresh random irreducible polynomial of degree 53, drawn from the
    /// thread-local CSPRNG the way `restic init` draws one.
    ///
    /// # Panics
    /// If a million random candidates were all reducible (about
    /// 1 in 10^16000 — it does not happen).
    pub fn random() -> Polynomial {
        Self::derive(&mut RngReader(rand::rng()))
            .expect("an irreducible polynomial within 1e6 tries")
    }

    /// restic's `DerivePolynomial`: repeatedly read 8 bytes as a
    /// little-endian `u64`, keep bits 0..=53, set bits 53 and 0, and return
    /// the first candidate that is irreducible. Gives up after
    /// [`MAX_TRIES`] candidates.
    pub fn derive(source: &mut impl Read) -> Result<Polynomial, Error> {
        for _ in 0..MAX_TRIES {
            let mut bytes = [0u8; 8];
            source
                .read_exact(&mut bytes)
                .map_err(|e| Error::Random(e.to_string()))?;
            let candidate =
                Polynomial((u64::from_le_bytes(bytes) & ((1 << 54) - 1)) | (1 << 53) | 1);
            if candidate.is_irreducible() {
                return Ok(candidate);
            }
        }
        Err(Error::NoIrreduciblePolynomial(MAX_TRIES))
    }

    /// The coefficients as an integer.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// Degree, or `None` for the zero polynomial.
    pub fn degree(self) -> Option<u32> {
        gf2::degree(self.0)
    }

    /// Whether the polynomial is irreducible over GF(2) (Ben-Or's test,
    /// as restic checks when it loads a config). Constants are not.
    pub fn is_irreducible(self) -> bool {
        gf2::is_irreducible(self.0)
    }

    /// `(self * other) mod modulus`.
    ///
    /// # Panics
    /// If `modulus` is zero.
    pub fn mul_mod(self, other: Polynomial, modulus: Polynomial) -> Polynomial {
        Polynomial(gf2::mul_mod(self.0, other.0, modulus.0))
    }

    /// Greatest common divisor.
    pub fn gcd(self, other: Polynomial) -> Polynomial {
        Polynomial(gf2::gcd(self.0, other.0))
    }
}

/// Remainder of GF(2) polynomial division (not integer `%`).
///
/// # Panics
/// If the divisor is zero.
impl std::ops::Rem for Polynomial {
    type Output = Polynomial;

    fn rem(self, modulus: Polynomial) -> Polynomial {
        Polynomial(gf2::rem(self.0, modulus.0))
    }
}

impl fmt::Debug for Polynomial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Polynomial({:#x})", self.0)
    }
}

/// Lowercase hex without prefix, as in the restic config.
impl fmt::Display for Polynomial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl fmt::LowerHex for Polynomial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// Parses what Go's `strconv.ParseUint(s, 16, 64)` accepts: one or more
/// hex digits of either case, no `0x`, sign or underscores, value fitting
/// 64 bits. Irreducibility is not checked here.
impl FromStr for Polynomial {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = || Error::ParsePolynomial(s.to_owned());
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        u64::from_str_radix(s, 16)
            .map(Polynomial)
            .map_err(|_| invalid())
    }
}

/// Adapts an RNG to [`Read`] so [`Polynomial::derive`] can consume it.
struct RngReader<R>(R);

impl<R: RngCore> Read for RngReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.fill_bytes(buf);
        Ok(buf.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restic_test_polynomial() {
        let p = Polynomial::RESTIC_TEST;
        assert!(p.is_irreducible());
        assert_eq!(p.degree(), Some(53));
        assert_eq!(p.to_string(), "3da3358b4dc173");
        assert_eq!("3DA3358B4DC173".parse::<Polynomial>().unwrap(), p);
    }

    #[test]
    fn reducible_polynomials() {
        let p = Polynomial::RESTIC_TEST.0;
        // Even polynomials are divisible by x.
        assert!(!Polynomial(p ^ 1).is_irreducible());
        // A product of two irreducible factors.
        let product = gf2::mul(0x3DA3358B4DC173, 0b1011) as u64;
        assert!(!Polynomial(product).is_irreducible());
        // x^53 + 1 is divisible by x + 1.
        assert!(!Polynomial((1 << 53) | 1).is_irreducible());
        assert!(!Polynomial(0).is_irreducible());
        assert!(!Polynomial(1).is_irreducible());
    }

    #[test]
    fn arithmetic_wrappers() {
        let (a, m) = (Polynomial(0b1001), Polynomial(0b11));
        assert_eq!(a % m, Polynomial(0));
        assert_eq!(Polynomial(0b10011) % Polynomial(0b1001), Polynomial(1));
        assert_eq!(a.gcd(Polynomial(0b101)), m);
        assert_eq!(
            Polynomial(0b10).mul_mod(Polynomial(0b100), Polynomial(0b1011)),
            Polynomial(0b11)
        );
        assert_eq!(Polynomial(0x1234).value(), 0x1234);
    }

    #[test]
    fn derive_follows_restic() {
        // A source of all-zero bytes always yields x^53 + 1, which is
        // reducible, so derive must give up rather than loop forever.
        let mut zeros = std::io::repeat(0);
        assert_eq!(
            Polynomial::derive(&mut zeros),
            Err(Error::NoIrreduciblePolynomial(MAX_TRIES))
        );
        // The first candidate is masked and adjusted: bits above 53 are
        // dropped, bits 53 and 0 set.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(
            &(Polynomial::RESTIC_TEST.0 | (0xff << 56) | (1 << 54)).to_le_bytes(),
        );
        let mut src = &bytes[..];
        assert_eq!(
            Polynomial::derive(&mut src).unwrap(),
            Polynomial::RESTIC_TEST
        );
        // A short source is an error.
        assert!(matches!(
            Polynomial::derive(&mut &[1u8, 2][..]),
            Err(Error::Random(_))
        ));
    }

    #[test]
    fn random_is_irreducible_degree_53() {
        for _ in 0..20 {
            let p = Polynomial::random();
            assert!(p.is_irreducible(), "{p}");
            assert_eq!(p.degree(), Some(53));
        }
    }

    #[test]
    fn parsing() {
        assert_eq!("0".parse::<Polynomial>().unwrap(), Polynomial(0));
        assert_eq!(
            "ffffffffffffffff".parse::<Polynomial>().unwrap(),
            Polynomial(u64::MAX)
        );
        for bad in [
            "",
            "0x12",
            "+12",
            "-1",
            "12_3",
            "g",
            "1ffffffffffffffff",
            " 12",
        ] {
            assert!(bad.parse::<Polynomial>().is_err(), "{bad:?}");
        }
        assert_eq!(format!("{:x}", Polynomial(0xABC)), "abc");
        assert_eq!(format!("{:?}", Polynomial(0xABC)), "Polynomial(0xabc)");
    }
}
