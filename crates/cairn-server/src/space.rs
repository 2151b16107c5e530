//! Disk usage accounting under `--path`, and the `--max-size` quota.
//!
//! The total is tallied once at start-up (only when a quota or metrics need
//! it) and then kept current: uploads reserve bytes as they arrive and give
//! them back if they fail, deletes subtract the removed file's size.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes used by all repositories, and the optional limit.
#[derive(Debug, Default)]
pub(crate) struct Space {
    used: AtomicU64,
    max: Option<u64>,
}

impl Space {
    /// Starts from `used` bytes with an optional limit.
    pub(crate) fn new(used: u64, max: Option<u64>) -> Self {
        Space {
            used: AtomicU64::new(used),
            max,
        }
    }

    /// Bytes in use now.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The limit, if any.
    pub(crate) fn max(&self) -> Option<u64> {
        self.max
    }

    /// Whether an upload announcing `len` bytes fits at all.
    pub(crate) fn fits(&self, len: u64) -> bool {
        self.max
            .is_none_or(|max| self.used().saturating_add(len) <= max)
    }

    /// Takes `n` bytes from the quota; false (and nothing taken) if they
    /// would exceed it.
    pub(crate) fn reserve(&self, n: u64) -> bool {
        match self.max {
            None => {
                self.used.fetch_add(n, Ordering::Relaxed);
                true
            }
            Some(max) => self
                .used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                    u.checked_add(n).filter(|&t| t <= max)
                })
                .is_ok(),
        }
    }

    /// Gives back `n` bytes (failed upload, deleted file).
    pub(crate) fn release(&self, n: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(n))
            });
    }
}

/// Sum of the sizes of every file under `path` (0 if it does not exist).
pub(crate) fn tally(path: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(entry.path());
            } else {
                total += entry.metadata()?.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_reservations() {
        let s = Space::new(10, Some(100));
        assert!(s.fits(90));
        assert!(!s.fits(91));
        assert!(s.reserve(60));
        assert!(!s.reserve(31));
        assert!(s.reserve(30));
        assert_eq!(s.used(), 100);
        s.release(50);
        assert_eq!(s.used(), 50);
        let unlimited = Space::new(0, None);
        assert!(unlimited.reserve(u64::MAX / 2));
    }
}
