//! The scanner: counts what a backup will read, beside the backup itself,
//! so that progress can show a percentage and an ETA (restic does the
//! same; `--no-scan` turns it off).

use super::exclude::Excluder;
use super::BackupProgress;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Reports totals after at least this many entries.
const REPORT_EVERY: u64 = 1000;

/// Walks `targets` with the backup's exclusions, reporting running totals
/// of files and bytes through `progress.scanned`, until done or `stop`.
pub(crate) fn scan(
    targets: &[&Path],
    excluder: &Excluder,
    progress: &dyn BackupProgress,
    stop: &AtomicBool,
) {
    let mut files = 0u64;
    let mut bytes = 0u64;
    let mut seen = 0u64;
    let mut stack: Vec<std::path::PathBuf> = targets.iter().map(|t| t.to_path_buf()).collect();
    while let Some(path) = stack.pop() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if excluder.excluded_by_name(path.as_os_str().as_bytes()) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if excluder.excluded(&path, &meta) {
            continue;
        }
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if meta.is_file() {
            files += 1;
            bytes += meta.len();
        }
        seen += 1;
        if seen.is_multiple_of(REPORT_EVERY) {
            progress.scanned(files, bytes, false);
        }
    }
    progress.scanned(files, bytes, true);
}
