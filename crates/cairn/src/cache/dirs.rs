//! The base cache directory: where it is, the repositories' folders in it,
//! their age and removing old ones.

use crate::{Error, Result};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Age after which a repository's cache directory is old: 30 days.
pub const MAX_CACHE_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The default base directory, read from the environment as restic does:
/// `$RESTIC_CACHE_DIR`, else `$XDG_CACHE_HOME/restic`, else
/// `$HOME/.cache/restic`.
pub fn default_dir() -> Result<PathBuf> {
    default_dir_from(|name| std::env::var_os(name))
}

/// [`default_dir`] with the environment given as a function (empty
/// values count as unset).
pub fn default_dir_from(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("RESTIC_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let user_cache =
        match (var("XDG_CACHE_HOME"), var("HOME")) {
            (Some(xdg), _) => PathBuf::from(xdg),
            (None, Some(home)) => PathBuf::from(home).join(".cache"),
            (None, None) => return Err(Error::InvalidArgument(
                "unable to locate cache directory: neither $XDG_CACHE_HOME nor $HOME are defined"
                    .into(),
            )),
        };
    Ok(user_cache.join("restic"))
}

/// One repository's folder in the base cache directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheDirInfo {
    /// The folder name: a repository ID, or `restic-check-cache-N`.
    pub name: String,
    /// Its full path.
    pub path: PathBuf,
    /// When it was last used (its modification time).
    pub modified: SystemTime,
}

impl CacheDirInfo {
    /// True if the folder was last used more than `max_age` ago.
    pub fn is_old(&self, max_age: Duration) -> bool {
        match SystemTime::now().checked_sub(max_age) {
            Some(oldest) => self.modified < oldest,
            None => false,
        }
    }
}

/// True for the folder names restic treats as repository caches: 64 hex
/// digits, or `restic-check-cache-` and digits.
pub(super) fn valid_repo_dir_name(name: &str) -> bool {
    let hex = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
    let check = name
        .strip_prefix("restic-check-cache-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    hex || check
}

/// Every repository cache folder in `base`, in no given order (none if
/// `base` does not exist).
pub fn list_dirs(base: &Path) -> Result<Vec<CacheDirInfo>> {
    let entries = match fs::read_dir(base) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(base, e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(base, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let path = entry.path();
        // Not following symbolic links, as Go's Readdir.
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if !meta.is_dir() || !valid_repo_dir_name(&name) {
            continue;
        }
        dirs.push(CacheDirInfo {
            name,
            modified: meta.modified().map_err(|e| Error::io(&path, e))?,
            path,
        });
    }
    Ok(dirs)
}

/// What [`cleanup`] removed, and what it could not.
#[derive(Debug, Default)]
pub struct CleanupReport {
    /// Folders removed.
    pub removed: Vec<PathBuf>,
    /// Folders that could not be removed, with the reason.
    pub failed: Vec<(PathBuf, io::Error)>,
}

/// Removes the repository cache folders in `base` last used more than
/// `max_age` ago.
pub fn cleanup(base: &Path, max_age: Duration) -> Result<CleanupReport> {
    let mut report = CleanupReport::default();
    for dir in list_dirs(base)?.into_iter().filter(|d| d.is_old(max_age)) {
        match fs::remove_dir_all(&dir.path) {
            Ok(()) => report.removed.push(dir.path),
            Err(e) => report.failed.push((dir.path, e)),
        }
    }
    Ok(report)
}

/// Total size in bytes of the files below `dir`.
pub fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let entry = entry.map_err(|e| Error::io(&d, e))?;
            let meta = entry.metadata().map_err(|e| Error::io(entry.path(), e))?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

/// Marks a folder as used now (access and modification time).
pub(super) fn touch(dir: &Path) -> Result<()> {
    let now = filetime::FileTime::now();
    filetime::set_file_times(dir, now, now).map_err(|e| Error::io(dir, e))
}
