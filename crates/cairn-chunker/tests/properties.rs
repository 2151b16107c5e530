//! Property tests: chunking is lossless, respects the size bounds, and
//! does not depend on how the input arrives.

use std::io::{self, Read};

use cairn_chunker::{ChunkEngine, ChunkerKind, Polynomial, Rabin, RabinSizes, RabinState};
use proptest::prelude::*;

/// Input built from segments so that repeats and zero runs occur.
#[derive(Debug, Clone)]
enum Segment {
    Random {
        len: usize,
        seed: u64,
    },
    Zeros(usize),
    /// Repeat `len` bytes from `back` bytes earlier (clamped).
    Repeat {
        back: usize,
        len: usize,
    },
}

fn expand(segments: &[Segment]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in segments {
        match *s {
            Segment::Random { len, mut seed } => {
                seed |= 1;
                out.extend((0..len).map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 32) as u8
                }));
            }
            Segment::Zeros(n) => out.resize(out.len() + n, 0),
            Segment::Repeat { back, len } => {
                let start = out.len().saturating_sub(back);
                let copy: Vec<u8> = out[start..].iter().copied().take(len).collect();
                out.extend_from_slice(&copy);
            }
        }
    }
    out
}

fn segments(max_len: usize) -> impl Strategy<Value = Vec<Segment>> {
    let seg = prop_oneof![
        4 => (1..max_len, any::<u64>()).prop_map(|(len, seed)| Segment::Random { len, seed }),
        1 => (1..max_len).prop_map(Segment::Zeros),
        1 => (1..max_len, 1..max_len).prop_map(|(back, len)| Segment::Repeat { back, len }),
    ];
    prop::collection::vec(seg, 0..8)
}

/// A reader that returns at most the next of `sizes` bytes per call
/// (cycling) and reports `Interrupted` every seventh call.
struct Choppy<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    calls: usize,
}

impl Read for Choppy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(7) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = self.sizes[self.calls % self.sizes.len()]
            .min(buf.len())
            .min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn small_rabin(pol: u64, sizes: RabinSizes) -> Rabin {
    // Any degree-53 polynomial works for chunking; irreducibility only
    // matters for fingerprint quality.
    Rabin::with_sizes(Polynomial((pol & ((1 << 53) - 1)) | (1 << 53) | 1), sizes).unwrap()
}

fn rabin_sizes() -> impl Strategy<Value = RabinSizes> {
    (64usize..600, 0usize..5000, 3u32..10).prop_map(|(min, extra, average_bits)| RabinSizes {
        min,
        max: min + extra,
        average_bits,
    })
}

fn engines() -> impl Strategy<Value = ChunkEngine> {
    prop_oneof![
        (any::<u64>(), rabin_sizes()).prop_map(|(p, s)| ChunkEngine::from(small_rabin(p, s))),
        (64u32..512, 256u32..2048, 1024u32..8192)
            .prop_filter_map("min<=avg<=max", |(min, avg, max)| {
                ChunkerKind::FastCdc { min, avg, max }.build().ok()
            }),
    ]
}

fn chunks_of(engine: &ChunkEngine, data: &[u8]) -> Vec<Vec<u8>> {
    engine.chunks(data).map(<[u8]>::to_vec).collect()
}

fn check_bounds(engine: &ChunkEngine, chunks: &[Vec<u8>]) -> Result<(), TestCaseError> {
    for (i, c) in chunks.iter().enumerate() {
        prop_assert!(!c.is_empty(), "empty chunk {i}");
        prop_assert!(
            c.len() <= engine.max_size(),
            "chunk {i} has {} > max {}",
            c.len(),
            engine.max_size()
        );
        if i + 1 < chunks.len() {
            prop_assert!(
                c.len() >= engine.min_size(),
                "chunk {i} has {} < min {}",
                c.len(),
                engine.min_size()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn lossless_bounded_and_read_size_independent(
        engine in engines(),
        segs in segments(6000),
        sizes in prop::collection::vec(1usize..3000, 1..6),
    ) {
        let data = expand(&segs);
        let chunks = chunks_of(&engine, &data);
        prop_assert_eq!(chunks.concat(), data.clone());
        check_bounds(&engine, &chunks)?;

        let reader = Choppy { data: &data, sizes, calls: 0 };
        let streamed: Vec<Vec<u8>> = engine.chunker(reader).collect::<io::Result<_>>().unwrap();
        prop_assert_eq!(&streamed, &chunks);
    }

    #[test]
    fn state_machine_agrees_with_find_boundary(
        pol in any::<u64>(),
        sizes in rabin_sizes(),
        segs in segments(6000),
        pieces in prop::collection::vec(1usize..2000, 1..6),
    ) {
        let rabin = small_rabin(pol, sizes);
        let data = expand(&segs);
        let expected: Vec<usize> = ChunkEngine::from(rabin.clone()).chunks(&data).map(<[u8]>::len).collect();

        // Feed the data in pieces of varying size.
        let mut state = RabinState::new(&rabin);
        let mut lens = Vec::new();
        let mut rest = &data[..];
        let mut i = 0;
        while !rest.is_empty() {
            let mut piece = &rest[..pieces[i % pieces.len()].min(rest.len())];
            i += 1;
            rest = &rest[piece.len()..];
            loop {
                let before = state.chunk_len();
                let Some(n) = rabin.next_split_point(&mut state, piece) else { break };
                lens.push(before + n);
                piece = &piece[n..];
            }
        }
        if state.chunk_len() > 0 {
            lens.push(state.chunk_len());
        }
        prop_assert_eq!(lens, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]

    /// restic's real sizes on multi-MiB inputs, which exercises the
    /// four-lane scanner (it needs 64 KiB blocks) and max-size cuts.
    #[test]
    fn restic_sizes_on_large_inputs(
        segs in segments(3 << 20),
        sizes in prop::collection::vec(1usize..(1 << 20), 1..4),
    ) {
        let engine = ChunkerKind::Rabin(Polynomial::RESTIC_TEST).build().unwrap();
        let data = expand(&segs);
        let chunks = chunks_of(&engine, &data);
        prop_assert_eq!(chunks.concat(), data.clone());
        check_bounds(&engine, &chunks)?;
        let reader = Choppy { data: &data, sizes, calls: 0 };
        let streamed: Vec<Vec<u8>> = engine.chunker(reader).collect::<io::Result<_>>().unwrap();
        prop_assert_eq!(&streamed, &chunks);

        let rabin = engine.rabin().unwrap();
        let mut state = RabinState::new(rabin);
        let mut lens = Vec::new();
        let mut rest = &data[..];
        while let Some(n) = rabin.next_split_point(&mut state, rest) {
            lens.push(n);
            rest = &rest[n..];
        }
        if !rest.is_empty() {
            lens.push(rest.len());
        }
        let expected: Vec<usize> = chunks.iter().map(Vec::len).collect();
        prop_assert_eq!(lens, expected);
    }
}
