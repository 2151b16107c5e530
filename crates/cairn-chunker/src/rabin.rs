//! restic's Rabin fingerprint chunker: per-polynomial tables, the size
//! parameters, and two ways to find chunk boundaries.
//!
//! * [`Rabin::find_boundary`] works on a chunk's bytes held contiguously
//!   in memory. It exploits that restic's digest at every allowed cut
//!   position equals the 64 bytes ending there, taken as a polynomial
//!   mod P (the reset byte has left the window by then), so independent
//!   stretches can be hashed in parallel lanes; see [`crate::scan`].
//! * [`Rabin::next_split_point`] with a [`RabinState`] is a byte-at-a-time
//!   port of restic's own loop that accepts input in arbitrary pieces.
//!
//! Both give identical boundaries; the tests check one against the other.

use crate::{gf2, scan, Error, Polynomial};

/// Bytes in the rolling window.
pub const WINDOW_SIZE: usize = 64;
/// restic's minimum chunk size (512 KiB).
pub const MIN_SIZE: usize = 512 * 1024;
/// restic's maximum chunk size (8 MiB).
pub const MAX_SIZE: usize = 8 * 1024 * 1024;
/// restic's split mask: a cut needs the low 20 digest bits clear, about
/// one position in 1 MiB.
pub const SPLIT_MASK: u64 = (1 << 20) - 1;

/// Chunk size bounds and cut frequency of a Rabin chunker.
///
/// [`RabinSizes::RESTIC`] is the only setting that deduplicates with
/// restic; the others exist for tests and experiments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RabinSizes {
    /// Smallest chunk, except for a file's last one. At least
    /// [`WINDOW_SIZE`].
    pub min: usize,
    /// Largest chunk. At least `min`.
    pub max: usize,
    /// Number of low digest bits that must be zero for a cut (1 to 53).
    pub average_bits: u32,
}

impl RabinSizes {
    /// restic's parameters: 512 KiB, 8 MiB, 20 bits.
    pub const RESTIC: RabinSizes = RabinSizes {
        min: MIN_SIZE,
        max: MAX_SIZE,
        average_bits: 20,
    };

    fn validate(self) -> Result<(), Error> {
        if self.min < WINDOW_SIZE {
            return Err(Error::InvalidSizes(format!(
                "min {} is below the {WINDOW_SIZE}-byte window",
                self.min
            )));
        }
        if self.max < self.min {
            return Err(Error::InvalidSizes(format!(
                "max {} is below min {}",
                self.max, self.min
            )));
        }
        if !(1..=53).contains(&self.average_bits) {
            return Err(Error::InvalidSizes(format!(
                "average_bits {} is not in 1..=53",
                self.average_bits
            )));
        }
        Ok(())
    }
}

impl Default for RabinSizes {
    fn default() -> Self {
        Self::RESTIC
    }
}

/// Tables and parameters of a Rabin chunker for one polynomial.
///
/// Building one costs a few hundred microseconds; build it once per
/// repository and share it (`&Rabin` or `Arc<Rabin>`), it is immutable.
#[derive(Clone)]
pub struct Rabin {
    pol: Polynomial,
    sizes: RabinSizes,
    mask: u64,
    /// `digest >> shift` selects the `reduce` entry; `shift = deg - 8`.
    shift: u32,
    /// `out[b]` = `b * x^(8 * 63) mod P`: removes byte `b` leaving the window.
    out: [u64; 256],
    /// `reduce[b]` = `(b * x^deg mod P) | (b * x^deg)`: one XOR clears the
    /// 8 bits above the degree and adds their remainder.
    reduce: [u64; 256],
}

impl std::fmt::Debug for Rabin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rabin")
            .field("pol", &self.pol)
            .field("sizes", &self.sizes)
            .finish_non_exhaustive()
    }
}

impl Rabin {
    /// restic's chunker for polynomial `pol`.
    ///
    /// Fails if `pol` does not have degree 8 to 53 (restic's are all 53).
    /// Irreducibility is not required to chunk; check it when loading a
    /// config.
    pub fn new(pol: Polynomial) -> Result<Rabin, Error> {
        Self::with_sizes(pol, RabinSizes::RESTIC)
    }

    /// A chunker with non-restic size parameters.
    pub fn with_sizes(pol: Polynomial, sizes: RabinSizes) -> Result<Rabin, Error> {
        sizes.validate()?;
        let degree = match pol.degree() {
            Some(d @ 8..=53) => d,
            degree => {
                return Err(Error::UnsupportedDegree {
                    polynomial: pol.0,
                    degree,
                })
            }
        };
        let p = pol.0;
        let mut out = [0u64; 256];
        let mut reduce = [0u64; 256];
        for b in 0..256u64 {
            // Append b, then 63 zero bytes: h = (h * x^8 + byte) mod P.
            let mut h = gf2::rem(b, p);
            for _ in 1..WINDOW_SIZE {
                h = gf2::rem(h << 8, p);
            }
            out[b as usize] = h;
            reduce[b as usize] = gf2::rem(b << degree, p) | (b << degree);
        }
        Ok(Rabin {
            pol,
            sizes,
            mask: (1 << sizes.average_bits) - 1,
            shift: degree - 8,
            out,
            reduce,
        })
    }

    /// The polynomial.
    pub fn polynomial(&self) -> Polynomial {
        self.pol
    }

    /// The size parameters.
    pub fn sizes(&self) -> RabinSizes {
        self.sizes
    }

    /// Digest after rolling in `new` while `old` leaves the window.
    #[inline(always)]
    pub(crate) fn roll(&self, digest: u64, old: u8, new: u8) -> u64 {
        self.roll_with_shift(digest, old, new, self.shift)
    }

    /// [`Rabin::roll`] with the shift passed in, so callers can make it a
    /// compile-time constant. `shift` must equal `self.shift()`.
    #[inline(always)]
    pub(crate) fn roll_with_shift(&self, digest: u64, old: u8, new: u8, shift: u32) -> u64 {
        let d = digest ^ self.out[old as usize];
        // d < 2^deg, so d >> shift < 256 and the cast only drops zeros.
        ((d << 8) | u64::from(new)) ^ self.reduce[(d >> shift) as u8 as usize]
    }

    /// `degree - 8`.
    pub(crate) fn shift(&self) -> u32 {
        self.shift
    }

    /// Fingerprint of exactly one window of bytes (`window` as a polynomial
    /// mod P, first byte highest).
    #[inline]
    pub(crate) fn window_digest(&self, window: &[u8; WINDOW_SIZE]) -> u64 {
        window.iter().fold(0, |d, &b| self.roll(d, 0, b))
    }

    pub(crate) fn mask(&self) -> u64 {
        self.mask
    }

    /// Whether the window ending at that digest is a cut candidate.
    #[inline(always)]
    pub(crate) fn is_candidate(&self, digest: u64) -> bool {
        digest & self.mask == 0
    }

    /// Length of the chunk that starts at `chunk[0]`, if it can be decided
    /// from these bytes: `Some(len)` for a cut after `chunk[len - 1]`,
    /// `None` when `chunk` ends before a boundary (supply more bytes, or,
    /// at end of input, the whole of `chunk` is the last chunk).
    ///
    /// `Some` is guaranteed once `chunk.len() >= max`.
    pub fn find_boundary(&self, chunk: &[u8]) -> Option<usize> {
        self.find_boundary_from(chunk, 0)
    }

    /// [`Rabin::find_boundary`] for a chunk that grows: `scanned` is the
    /// length of a previous, shorter `chunk` (same start and contents) for
    /// which this returned `None`, so the bytes before it are not hashed
    /// again. `scanned = 0` is always correct.
    pub fn find_boundary_from(&self, chunk: &[u8], scanned: usize) -> Option<usize> {
        let RabinSizes { min, max, .. } = self.sizes;
        let limit = chunk.len().min(max);
        // A chunk of length L may end at index L - 1 for L in min..=max;
        // indices below `scanned` were checked by the earlier call.
        let from = scanned.max(min - 1);
        if from < limit {
            if let Some(end) = scan::first_candidate(self, &chunk[..limit], from) {
                return Some(end + 1);
            }
        }
        (chunk.len() >= max).then_some(max)
    }
}

/// Progress of [`Rabin::next_split_point`] through the current chunk.
#[derive(Clone, Debug)]
pub struct RabinState {
    window: [u8; WINDOW_SIZE],
    wpos: usize,
    digest: u64,
    /// Bytes of the current chunk seen so far.
    count: usize,
    /// Bytes still to skip unhashed at the start of the chunk.
    pre: usize,
}

impl RabinState {
    /// State at the start of a chunk for `rabin`.
    pub fn new(rabin: &Rabin) -> RabinState {
        let mut window = [0u8; WINDOW_SIZE];
        // restic pushes a single 1 byte into the empty window.
        window[0] = 1;
        RabinState {
            window,
            wpos: 1,
            digest: 1,
            count: 0,
            pre: rabin.sizes.min - WINDOW_SIZE,
        }
    }

    /// Bytes of the current chunk consumed so far.
    pub fn chunk_len(&self) -> usize {
        self.count
    }
}

impl Rabin {
    /// Feed the next piece of input, restic's `NextSplitPoint`.
    ///
    /// Returns `Some(n)` if the current chunk ends after `data[n - 1]`;
    /// `state` is then reset for the next chunk, which begins at
    /// `data[n]` (feed `&data[n..]` next). `None` means all of `data`
    /// belongs to the current chunk. At end of input, a chunk with
    /// [`RabinState::chunk_len`] > 0 is the last one.
    pub fn next_split_point(&self, state: &mut RabinState, data: &[u8]) -> Option<usize> {
        let mut skipped = 0;
        if state.pre > 0 {
            if state.pre >= data.len() {
                state.pre -= data.len();
                state.count += data.len();
                return None;
            }
            skipped = state.pre;
            state.count += state.pre;
            state.pre = 0;
        }
        let RabinSizes { min, max, .. } = self.sizes;
        let mut digest = state.digest;
        let mut wpos = state.wpos;
        let mut count = state.count;
        for (i, &b) in data[skipped..].iter().enumerate() {
            let old = std::mem::replace(&mut state.window[wpos], b);
            wpos = (wpos + 1) % WINDOW_SIZE;
            digest = self.roll(digest, old, b);
            count += 1;
            if (self.is_candidate(digest) || count >= max) && count >= min {
                *state = RabinState::new(self);
                return Some(skipped + i + 1);
            }
        }
        state.digest = digest;
        state.wpos = wpos;
        state.count = count;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Rabin {
        Rabin::with_sizes(
            Polynomial::RESTIC_TEST,
            RabinSizes {
                min: 64,
                max: 700,
                average_bits: 5,
            },
        )
        .unwrap()
    }

    /// Pseudo-random bytes (xorshift), enough for unit tests.
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn tables_match_definition() {
        let r = Rabin::new(Polynomial::RESTIC_TEST).unwrap();
        let p = Polynomial::RESTIC_TEST.0;
        let x_pow = gf2::x_pow_2k_mod(0, p); // x
        let mut x504 = 1u64;
        for _ in 0..8 * 63 {
            x504 = gf2::mul_mod(x504, x_pow, p);
        }
        for b in [0u64, 1, 0x80, 0xff] {
            assert_eq!(r.out[b as usize], gf2::mul_mod(b, x504, p));
            assert_eq!(r.reduce[b as usize] >> 53, b);
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Rabin::new(Polynomial(0x1ff)).is_ok());
        assert!(matches!(
            Rabin::new(Polynomial(0x7f)),
            Err(Error::UnsupportedDegree {
                degree: Some(6),
                ..
            })
        ));
        assert!(matches!(
            Rabin::new(Polynomial(1 << 54)),
            Err(Error::UnsupportedDegree { .. })
        ));
        assert!(matches!(
            Rabin::new(Polynomial(0)),
            Err(Error::UnsupportedDegree { degree: None, .. })
        ));
        let bad = RabinSizes {
            min: 63,
            max: 100,
            average_bits: 4,
        };
        assert!(matches!(
            Rabin::with_sizes(Polynomial::RESTIC_TEST, bad),
            Err(Error::InvalidSizes(_))
        ));
        let bad = RabinSizes {
            min: 100,
            max: 99,
            average_bits: 4,
        };
        assert!(Rabin::with_sizes(Polynomial::RESTIC_TEST, bad).is_err());
        let bad = RabinSizes {
            min: 100,
            max: 200,
            average_bits: 0,
        };
        assert!(Rabin::with_sizes(Polynomial::RESTIC_TEST, bad).is_err());
    }

    #[test]
    fn state_digest_equals_window_digest() {
        // At every position where a cut is allowed, restic's running digest
        // must equal the fingerprint of the last 64 bytes alone.
        let r = small();
        let data = noise(600, 7);
        let mut state = RabinState::new(&r);
        let mut fed = 0;
        for (i, &b) in data.iter().enumerate() {
            if r.next_split_point(&mut state, &[b]).is_some() {
                break;
            }
            fed = i + 1;
            if fed >= 64 {
                let window: [u8; 64] = data[fed - 64..fed].try_into().unwrap();
                assert_eq!(state.digest, r.window_digest(&window), "at {fed}");
            }
        }
        assert!(fed >= 63);
    }

    #[test]
    fn find_boundary_agrees_with_state_machine() {
        let r = small();
        for seed in 1..40 {
            let data = noise(5000, seed);
            let mut state = RabinState::new(&r);
            let mut pos = 0;
            while pos < data.len() {
                let rest = &data[pos..];
                let expected = r.next_split_point(&mut state, rest);
                state = RabinState::new(&r);
                assert_eq!(r.find_boundary(rest), expected, "seed {seed} pos {pos}");
                // Resuming from any shorter prefix gives the same answer.
                let scanned = (seed as usize * 37) % rest.len().min(r.sizes.max);
                if r.find_boundary(&rest[..scanned]).is_none() {
                    assert_eq!(r.find_boundary_from(rest, scanned), expected);
                }
                pos += expected.unwrap_or(rest.len());
            }
        }
    }

    #[test]
    fn zeros_cut_at_min() {
        let r = Rabin::new(Polynomial::RESTIC_TEST).unwrap();
        let zeros = vec![0u8; MIN_SIZE + 10];
        assert_eq!(r.find_boundary(&zeros), Some(MIN_SIZE));
        assert_eq!(r.find_boundary(&zeros[..MIN_SIZE - 1]), None);
        let mut state = RabinState::new(&r);
        assert_eq!(r.next_split_point(&mut state, &zeros), Some(MIN_SIZE));
    }
}
