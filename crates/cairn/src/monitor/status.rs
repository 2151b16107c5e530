//! Packs and locks of a repository, from listings and lock files only.

use crate::{Error, Repository, Result};
use cairn_backend::FileType;
use std::time::{Duration, SystemTime};

/// A repository's packs and locks at one moment.
#[derive(Debug, Default)]
pub struct RepositoryStatus {
    /// Pack files in `data/`.
    pub packs: u64,
    /// Their total size in bytes.
    pub pack_bytes: u64,
    /// Non-empty lock files present, unreadable ones included.
    pub locks: u64,
    /// Age of the oldest readable lock (its time to `now`; zero for a
    /// lock dated in the future), `None` without readable locks.
    pub oldest_lock_age: Option<Duration>,
    /// Lock files that could not be read or parsed.
    pub lock_problems: Vec<Error>,
}

impl Repository {
    /// Lists `data/` and `locks/` and reads the lock files, without
    /// taking a lock. Fails only when a listing fails.
    pub fn status(&self, now: SystemTime) -> Result<RepositoryStatus> {
        let packs = self.list_ids(FileType::Pack)?;
        let mut status = RepositoryStatus {
            packs: packs.len() as u64,
            pack_bytes: packs.iter().map(|(_, size)| size).sum(),
            ..RepositoryStatus::default()
        };
        for (id, size) in self.list_ids(FileType::Lock)? {
            if size == 0 {
                continue;
            }
            let lock = match self.load_lock(&id) {
                Ok(lock) => lock,
                // Released between listing and reading.
                Err(Error::Backend(e)) if e.is_not_found() => continue,
                Err(e) => {
                    status.locks += 1;
                    status.lock_problems.push(e);
                    continue;
                }
            };
            status.locks += 1;
            let age = lock
                .time
                .to_system_time()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or(Duration::ZERO);
            status.oldest_lock_age = Some(status.oldest_lock_age.map_or(age, |o| o.max(age)));
        }
        Ok(status)
    }
}
