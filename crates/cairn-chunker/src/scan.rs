//! The hot loop: finding the first cut candidate in a byte range.
//!
//! A position `p` is a candidate when the fingerprint of the window
//! `data[p - 63..=p]` has the split-mask bits clear. That fingerprint
//! depends on those 64 bytes only, so distant stretches of input can be
//! hashed independently. A single rolling hash is latency-bound (each
//! byte's table lookup needs the previous digest); four lanes over four
//! adjacent segments keep the CPU busy while each waits for its loads.
//! Each lane pays for a 64-byte warm-up per segment, and a block's work
//! past the first hit is wasted, both small against a 16 KiB segment and
//! ~1 MiB average distance between cuts.

use crate::rabin::{Rabin, SPLIT_MASK, WINDOW_SIZE};

/// `degree - 8` for restic's degree-53 polynomials.
const RESTIC_SHIFT: u32 = 45;

/// Number of interleaved rolling hashes.
const LANES: usize = 4;
/// Bytes per lane per block.
const SEGMENT: usize = 16 * 1024;

/// Bytes the lanes cover per step; scanning whole multiples of this
/// avoids the slower single-hash tail.
pub(crate) const BLOCK: usize = LANES * SEGMENT;

/// First candidate position `p >= from` with `p < data.len()`.
///
/// Requires `from >= 63` so the window at `from` lies inside `data`.
pub(crate) fn first_candidate(rabin: &Rabin, data: &[u8], from: usize) -> Option<usize> {
    first_candidate_with::<SEGMENT>(rabin, data, from)
}

/// [`first_candidate`] with the segment length as a parameter, so tests
/// can exercise the lanes on small inputs.
pub(crate) fn first_candidate_with<const SEG: usize>(
    rabin: &Rabin,
    data: &[u8],
    from: usize,
) -> Option<usize> {
    assert!(from >= WINDOW_SIZE - 1, "scan must start at a full window");
    let mut pos = from;
    while data.len().saturating_sub(pos) >= LANES * SEG {
        if let Some(p) = lanes::<SEG>(rabin, data, pos) {
            return Some(p);
        }
        pos += LANES * SEG;
    }
    single(rabin, data, pos)
}

/// Fingerprint of the window ending at `data[end]`.
#[inline]
fn digest_at(rabin: &Rabin, data: &[u8], end: usize) -> u64 {
    let window: &[u8; WINDOW_SIZE] = data[end + 1 - WINDOW_SIZE..=end]
        .try_into()
        .expect("64-byte window");
    rabin.window_digest(window)
}

/// One rolling hash over `from..data.len()`.
fn single(rabin: &Rabin, data: &[u8], from: usize) -> Option<usize> {
    if from >= data.len() {
        return None;
    }
    let mut d = digest_at(rabin, data, from);
    if rabin.is_candidate(d) {
        return Some(from);
    }
    let start = from + 1;
    let new = &data[start..];
    let old = &data[start - WINDOW_SIZE..data.len() - WINDOW_SIZE];
    for (i, (&n, &o)) in new.iter().zip(old).enumerate() {
        d = rabin.roll(d, o, n);
        if rabin.is_candidate(d) {
            return Some(start + i);
        }
    }
    None
}

/// Four rolling hashes over the block `pos..pos + LANES * SEG`; lane `k`
/// covers `pos + k * SEG..pos + (k + 1) * SEG`. Returns the first
/// candidate in the block.
#[inline(never)]
fn lanes<const SEG: usize>(rabin: &Rabin, data: &[u8], pos: usize) -> Option<usize> {
    // restic's parameters get their own copy of the loop with the shift
    // and mask as immediates, which frees registers.
    if rabin.shift() == RESTIC_SHIFT && rabin.mask() == SPLIT_MASK {
        lanes_with::<SEG>(rabin, data, pos, RESTIC_SHIFT, SPLIT_MASK)
    } else {
        lanes_with::<SEG>(rabin, data, pos, rabin.shift(), rabin.mask())
    }
}

/// [`lanes`] with `shift == rabin.shift()` and `mask == rabin.mask()`.
#[inline(always)]
fn lanes_with<const SEG: usize>(
    rabin: &Rabin,
    data: &[u8],
    pos: usize,
    shift: u32,
    mask: u64,
) -> Option<usize> {
    // `block[63 + i]` is `data[pos + i]`; the fixed length lets the
    // compiler drop bounds checks on the constant-offset indexing below.
    let block = &data[pos + 1 - WINDOW_SIZE..pos + LANES * SEG];
    let base = WINDOW_SIZE - 1;
    let mut d = [0u64; LANES];
    let mut hit = [None::<usize>; LANES];
    for (k, digest) in d.iter_mut().enumerate() {
        *digest = digest_at(rabin, block, base + k * SEG);
        if rabin.is_candidate(*digest) {
            hit[k] = Some(pos + k * SEG);
        }
    }
    if hit[0].is_some() {
        return hit[0];
    }
    let [mut d0, mut d1, mut d2, mut d3] = d;
    // Step j rolls in lane k's byte at block index base + k*SEG + 1 + j,
    // dropping the one 64 bytes earlier.
    for j in 0..SEG - 1 {
        let n = base + 1 + j;
        let o = j;
        d0 = rabin.roll_with_shift(d0, block[o], block[n], shift);
        d1 = rabin.roll_with_shift(d1, block[o + SEG], block[n + SEG], shift);
        d2 = rabin.roll_with_shift(d2, block[o + 2 * SEG], block[n + 2 * SEG], shift);
        d3 = rabin.roll_with_shift(d3, block[o + 3 * SEG], block[n + 3 * SEG], shift);
        if (d0 & mask == 0) | (d1 & mask == 0) | (d2 & mask == 0) | (d3 & mask == 0) {
            for (k, dk) in [d0, d1, d2, d3].into_iter().enumerate() {
                if dk & mask == 0 && hit[k].is_none() {
                    hit[k] = Some(pos + k * SEG + 1 + j);
                }
            }
            if hit[0].is_some() {
                return hit[0];
            }
        }
    }
    hit.into_iter().flatten().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Polynomial, RabinSizes};

    fn naive(rabin: &Rabin, data: &[u8], from: usize) -> Option<usize> {
        (from..data.len()).find(|&p| rabin.is_candidate(digest_at(rabin, data, p)))
    }

    #[test]
    fn lanes_match_naive_scan() {
        let mut seed = 0x1234_5678_u64;
        let data: Vec<u8> = (0..6000)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 56) as u8
            })
            .collect();
        for bits in [6, 8, 10, 14] {
            let sizes = RabinSizes {
                min: 64,
                max: 1 << 20,
                average_bits: bits,
            };
            let r = Rabin::with_sizes(Polynomial::RESTIC_TEST, sizes).unwrap();
            for from in (63..2000).step_by(97) {
                for end in [from, from + 1, from + 300, from + 517, 4000, 6000] {
                    let d = &data[..end.min(data.len())];
                    let want = naive(&r, d, from.min(d.len()));
                    assert_eq!(
                        first_candidate_with::<64>(&r, d, from),
                        want,
                        "bits {bits} from {from} end {end}"
                    );
                    assert_eq!(first_candidate_with::<100>(&r, d, from), want);
                    assert_eq!(first_candidate(&r, d, from), want);
                }
            }
        }
    }
}
