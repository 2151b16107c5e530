//! The metrics file: the latest run of each command, merged in place and
//! replaced atomically (a temporary file in the same directory, synced,
//! then renamed), so that node_exporter's textfile collector never reads
//! half a file. Writers serialize on an exclusive `flock` of `PATH.lock`.

use super::{parse_text, CommandRun, MetricSet, LAST_SUCCESS};
use crate::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The largest metrics file read back for merging (bigger ones, and
/// ones that do not parse, are replaced by this run's series alone).
pub const MAX_METRICS_FILE_SIZE: u64 = 4 << 20;

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `PATH` with `suffix` appended to its file name.
fn with_suffix(path: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!("{prefix}{name}{suffix}"))
}

/// Holds an exclusive `flock` on the lock file until dropped.
struct FileLock(File);

impl FileLock {
    fn take(path: &Path) -> Result<FileLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .open(path)
            .map_err(|e| io_error(path, e))?;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => return Ok(FileLock(file)),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io_error(path, e.into())),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first only
        // makes it explicit.
        let _ = rustix::fs::flock(&self.0, rustix::fs::FlockOperation::Unlock);
    }
}

/// The series already in the file (none if it is missing, too large or
/// unreadable as metrics).
fn read_existing(path: &Path) -> Result<MetricSet> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(MetricSet::default()),
        Err(e) => return Err(io_error(path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_METRICS_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > MAX_METRICS_FILE_SIZE {
        return Ok(MetricSet::default());
    }
    let text = String::from_utf8_lossy(&bytes);
    Ok(parse_text(&text).unwrap_or_default())
}

/// Merges `run` into `existing`: the previous run with the same identity
/// (every series with the same command, repository, host, paths and
/// tags) is replaced, the series of other runs are kept. A failed run
/// keeps the previous run's last-success time.
pub fn merge_run(mut existing: MetricSet, run: &CommandRun) -> MetricSet {
    let previous_success = existing
        .family(LAST_SUCCESS)
        .and_then(|f| f.samples.iter().find(|s| run.same_identity(s)))
        .map(|s| s.value);
    existing.remove_samples(|s| run.same_identity(s));
    existing.extend(&run.to_metrics(previous_success));
    existing
}

/// Writes `run` into the metrics file at `path`, merged with the other
/// runs it holds (see [`merge_run`]): under an exclusive lock of
/// `PATH.lock`, through a temporary file `.NAME.PID.tmp` in the same
/// directory (not matched by the collector's `*.prom`), synced and
/// renamed over `path`. The file is made readable by all (0644).
pub fn write_metrics_file(path: &Path, run: &CommandRun) -> Result<()> {
    let _lock = FileLock::take(&with_suffix(path, "", ".lock"))?;
    let merged = merge_run(read_existing(path)?, run);
    let temp = with_suffix(path, ".", &format!(".{}.tmp", std::process::id()));
    let result = (|| {
        // A stale temporary file of a killed process with this PID goes
        // first; then O_EXCL creation never follows a symlink planted in
        // a shared directory.
        let _ = std::fs::remove_file(&temp);
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o644)
            .open(&temp)?;
        file.write_all(merged.render().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(path, e));
    }
    // The rename is durable once the directory is synced.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
