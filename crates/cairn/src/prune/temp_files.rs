//! Removing the temporary files of writes that were killed mid-way.
//!
//! Every store write goes to a temporary name and is renamed into place
//! (see [`cairn_backend::TempFile`]); a process killed in between leaves
//! the temporary file, up to a whole pack, which nothing else removes.
//! Prune (holding the exclusive lock) removes those last written more
//! than [`TEMP_FILE_MIN_AGE`] ago. The age is far beyond anything a live
//! writer needs: a writer rewrites its lock every 5 minutes and restic
//! calls a lock stale after 30 minutes, and a single upload that takes a
//! day is not a running write any more. Files whose time the store does
//! not give, or that claim to be from the future, are left alone.

use crate::repository::Repository;
use cairn_backend::FileType;
use std::time::{Duration, SystemTime};

/// Temporary files younger than this are never removed.
pub const TEMP_FILE_MIN_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// The folders writes put temporary files in.
const TYPES: [FileType; 5] = [
    FileType::Key,
    FileType::Lock,
    FileType::Snapshot,
    FileType::Index,
    FileType::Pack,
];

/// What [`remove_old_temp_files`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TempCleanup {
    /// Old temporary files (removed unless it was a dry run).
    pub files: usize,
    /// Their size in bytes.
    pub bytes: u64,
    /// Files that could not be listed or removed (left for a later prune).
    pub failures: Vec<String>,
}

/// Finds temporary files older than [`TEMP_FILE_MIN_AGE`] (as of `now`)
/// and, unless `dry_run`, removes them.
pub(crate) fn remove_old_temp_files(
    repo: &Repository,
    now: SystemTime,
    dry_run: bool,
) -> TempCleanup {
    let backend = repo.backend();
    let mut out = TempCleanup::default();
    for file_type in TYPES {
        let found = match backend.list_temp(file_type) {
            Ok(found) => found,
            Err(e) => {
                out.failures.push(format!("listing temporary files: {e}"));
                continue;
            }
        };
        for temp in found {
            let old = temp
                .modified
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > TEMP_FILE_MIN_AGE);
            if !old {
                continue;
            }
            if !dry_run {
                if let Err(e) = backend.remove_temp(file_type, &temp.name) {
                    out.failures.push(format!("{file_type}/{}: {e}", temp.name));
                    continue;
                }
            }
            out.files += 1;
            out.bytes += temp.size;
        }
    }
    out
}
