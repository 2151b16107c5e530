//! Which packs `--read-data` and `--read-data-subset` read.

use crate::{Error, Result};
use cairn_format::Id;

/// The largest `t` of `n/t`: buckets are chosen by the first byte of the
/// pack ID.
pub const MAX_BUCKETS: u32 = 256;

/// Which packs to read, as restic's `--read-data` / `--read-data-subset`
/// select them.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadDataSubset {
    /// Every pack (`--read-data`).
    All,
    /// `n/t`: the packs whose ID's first byte modulo `t` is `n - 1`. The
    /// groups `1/t` … `t/t` together read every pack exactly once.
    Bucket {
        /// The group, 1-based.
        n: u32,
        /// The number of groups, at most 256.
        t: u32,
    },
    /// `x%`: that share of the packs, chosen at random (at least one).
    Percent(f64),
    /// A size such as `50M`: random packs making up that share of the
    /// repository's pack bytes.
    Bytes(u64),
}

const INVALID: &str = "check flag --read-data-subset has invalid value, please see documentation";

impl std::str::FromStr for ReadDataSubset {
    type Err = Error;

    /// Parses `n/t`, `x%` / `x.y%`, or a size with an optional `b`, `k`,
    /// `m`, `g` or `t` suffix (powers of 1024), with restic's messages.
    fn from_str(s: &str) -> Result<Self> {
        let invalid = |m: &str| Error::InvalidArgument(m.to_string());
        let parts: Option<Vec<u32>> = s.split('/').map(|p| p.parse::<u32>().ok()).collect();
        if let Some(parts) = parts {
            let &[n, t] = parts.as_slice() else {
                return Err(invalid(INVALID));
            };
            if n == 0 || t == 0 || n > t {
                return Err(invalid("check flag --read-data-subset=n/t values must be positive integers, and n <= t, e.g. --read-data-subset=1/2"));
            }
            if t > MAX_BUCKETS {
                return Err(invalid(&format!(
                    "check flag --read-data-subset=n/t t must be at most {MAX_BUCKETS}"
                )));
            }
            return Ok(ReadDataSubset::Bucket { n, t });
        }
        if let Some(number) = s.strip_suffix('%') {
            let p: f64 = number.parse().map_err(|_| invalid(INVALID))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(invalid(
                    "check flag --read-data-subset=x% x must be above 0.0% and at most 100.0%",
                ));
            }
            return Ok(ReadDataSubset::Percent(p));
        }
        let size = crate::backup::exclude::parse_size(s).map_err(|_| invalid(INVALID))?;
        if size == 0 {
            return Err(invalid("check flag --read-data-subset=n n must be above 0"));
        }
        Ok(ReadDataSubset::Bytes(size))
    }
}

impl ReadDataSubset {
    /// Chooses packs from `packs` (ID and size, as the index describes
    /// them). Random choices use `seed`, or the clock when it is `None`.
    /// The result is sorted by ID.
    pub fn select(&self, packs: &[(Id, u64)], seed: Option<u64>) -> Vec<(Id, u64)> {
        let mut chosen: Vec<(Id, u64)> = match *self {
            ReadDataSubset::All => packs.to_vec(),
            ReadDataSubset::Bucket { n, t } => packs
                .iter()
                .filter(|(id, _)| u32::from(id.0[0]) % t == n - 1)
                .copied()
                .collect(),
            ReadDataSubset::Percent(p) => random_share(packs, p, seed),
            ReadDataSubset::Bytes(size) => {
                let total: u64 = packs.iter().map(|(_, s)| s).sum();
                if total == 0 {
                    packs.to_vec()
                } else {
                    let p = size.min(total) as f64 / total as f64 * 100.0;
                    random_share(packs, p, seed)
                }
            }
        };
        chosen.sort();
        chosen
    }
}

/// `percent` of the packs (rounded down, at least one), chosen at random.
fn random_share(packs: &[(Id, u64)], percent: f64, seed: Option<u64>) -> Vec<(Id, u64)> {
    let count = packs.len();
    let mut want = (count as f64 * (percent / 100.0)) as usize;
    if count > 0 && want < 1 {
        want = 1;
    }
    let mut rng = SplitMix(seed.unwrap_or_else(clock_seed));
    let mut order: Vec<usize> = (0..count).collect();
    // Fisher-Yates, stopping once the first `want` places are drawn.
    for i in 0..want.min(count) {
        let j = i + (rng.next() % (count - i) as u64) as usize;
        order.swap(i, j);
    }
    order[..want.min(count)].iter().map(|&i| packs[i]).collect()
}

fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// A small, fast generator; the choice of packs needs no more.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packs(n: u8) -> Vec<(Id, u64)> {
        (0..n).map(|i| (Id([i; 32]), 100)).collect()
    }

    #[test]
    fn parses_restic_forms() {
        let p = |s: &str| s.parse::<ReadDataSubset>();
        assert_eq!(p("1/2").unwrap(), ReadDataSubset::Bucket { n: 1, t: 2 });
        assert_eq!(
            p("256/256").unwrap(),
            ReadDataSubset::Bucket { n: 256, t: 256 }
        );
        assert_eq!(p("2.5%").unwrap(), ReadDataSubset::Percent(2.5));
        assert_eq!(p("50M").unwrap(), ReadDataSubset::Bytes(50 << 20));
        assert_eq!(p("4096b").unwrap(), ReadDataSubset::Bytes(4096));
        // A bare number is one `n/t` part too few, as in restic.
        assert!(p("4096").is_err());
        for bad in [
            "0/2", "3/2", "1/257", "1/2/3", "0%", "101%", "x%", "", "0", "1.5M", "abc",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_partition_by_first_byte() {
        let all = packs(20);
        let mut seen = Vec::new();
        for n in 1..=3 {
            let part = ReadDataSubset::Bucket { n, t: 3 }.select(&all, None);
            assert!(part.iter().all(|(id, _)| u32::from(id.0[0]) % 3 == n - 1));
            seen.extend(part);
        }
        seen.sort();
        assert_eq!(seen, all);
    }

    #[test]
    fn random_shares_round_down_but_take_one() {
        let all = packs(10);
        assert_eq!(ReadDataSubset::Percent(35.0).select(&all, Some(1)).len(), 3);
        assert_eq!(ReadDataSubset::Percent(1.0).select(&all, Some(1)).len(), 1);
        assert_eq!(ReadDataSubset::Percent(100.0).select(&all, Some(1)), all);
        assert_eq!(ReadDataSubset::Bytes(500).select(&all, Some(2)).len(), 5);
        assert_eq!(ReadDataSubset::Bytes(1 << 40).select(&all, Some(2)), all);
        let a = ReadDataSubset::Percent(50.0).select(&all, Some(7));
        assert_eq!(a, ReadDataSubset::Percent(50.0).select(&all, Some(7)));
    }
}
