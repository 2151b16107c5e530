//! FastCDC (the `fastcdc` crate's 2020 variant) as an alternative cut
//! function.
//!
//! FastCDC chunks do **not** deduplicate against restic's Rabin chunks:
//! the same file gets different chunk boundaries, so none of its blobs
//! match those restic (or Cairn's Rabin chunker) stored. Use it only for
//! repositories written exclusively with it, and knowingly.

use fastcdc::v2020;

use crate::Error;

/// Validated FastCDC parameters with their precomputed masks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FastCdc {
    pub(crate) min: usize,
    pub(crate) avg: usize,
    pub(crate) max: usize,
    mask_s: u64,
    mask_l: u64,
}

impl FastCdc {
    /// Checks the sizes against the limits the `fastcdc` crate asserts
    /// on (so we return an error where it would panic).
    pub(crate) fn new(min: u32, avg: u32, max: u32) -> Result<FastCdc, Error> {
        let in_range = (v2020::MINIMUM_MIN..=v2020::MINIMUM_MAX).contains(&min)
            && (v2020::AVERAGE_MIN..=v2020::AVERAGE_MAX).contains(&avg)
            && (v2020::MAXIMUM_MIN..=v2020::MAXIMUM_MAX).contains(&max);
        // The crate tests positions in pairs from min/2 * 2, so an odd
        // min would allow chunks one byte shorter than min.
        if !in_range || min > avg || avg > max || min % 2 == 1 {
            return Err(Error::InvalidSizes(format!(
                "FastCDC needs {}<=min<={}, {}<=avg<={}, {}<=max<={} and min<=avg<=max with min even; got {min}, {avg}, {max}",
                v2020::MINIMUM_MIN,
                v2020::MINIMUM_MAX,
                v2020::AVERAGE_MIN,
                v2020::AVERAGE_MAX,
                v2020::MAXIMUM_MIN,
                v2020::MAXIMUM_MAX,
            )));
        }
        // Normalization level 1, the crate's default.
        let bits = v2020::logarithm2(avg) as usize;
        Ok(FastCdc {
            min: min as usize,
            avg: avg as usize,
            max: max as usize,
            mask_s: v2020::MASKS[bits + 1],
            mask_l: v2020::MASKS[bits - 1],
        })
    }

    /// Length of the chunk starting at `data[0]`. `data` must hold at
    /// least `max` bytes or all remaining input; it must not be empty.
    pub(crate) fn cut(&self, data: &[u8]) -> usize {
        let data = &data[..data.len().min(self.max)];
        let (_, len) = v2020::cut(
            data,
            self.min,
            self.avg,
            self.max,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
        );
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_crates_own_iterator() {
        let mut seed = 99u64;
        let data: Vec<u8> = (0..300_000)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                (seed >> 56) as u8
            })
            .collect();
        let ours = FastCdc::new(2048, 8192, 32768).unwrap();
        let mut pos = 0;
        let mut lens = Vec::new();
        while pos < data.len() {
            let n = ours.cut(&data[pos..]);
            lens.push(n);
            pos += n;
        }
        let theirs: Vec<usize> = v2020::FastCDC::new(&data, 2048, 8192, 32768)
            .map(|c| c.length)
            .collect();
        assert_eq!(lens, theirs);
        assert!(lens.len() > 10);
    }

    #[test]
    fn rejects_what_the_crate_would_panic_on() {
        assert!(FastCdc::new(32, 8192, 32768).is_err());
        assert!(FastCdc::new(2048, 100, 32768).is_err());
        assert!(FastCdc::new(2048, 8192, 1 << 30).is_err());
        assert!(FastCdc::new(16384, 8192, 32768).is_err());
        assert!(FastCdc::new(2048, 8192, 4096).is_err());
        assert!(FastCdc::new(2049, 8192, 32768).is_err());
    }
}
