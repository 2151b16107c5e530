//! Which file-system entries a backup leaves out, with the semantics of
//! `restic backup`'s `--exclude*`, `--exclude-if-present`,
//! `--exclude-caches`, `--exclude-larger-than` and `--one-file-system`.
//!
//! The archiver asks an [`Excluder`] twice per entry, in restic's order:
//!
//! 1. [`Excluder::excluded_by_name`] before `lstat`, with the absolute,
//!    cleaned path: the exclude patterns, then the exclude-if-present tag
//!    files. A tag file excludes every entry *in the directory holding it*
//!    except the tag file itself; the directory itself is still saved
//!    (holding just the tag file). Whether a directory is tagged is checked
//!    once and cached.
//! 2. [`Excluder::excluded`] with the `lstat` result: one-file-system,
//!    then the size limit.
//!
//! With one-file-system, an entry is kept if its device is that of the
//! nearest backup target above it (or equal to it). A directory on another
//! device is still kept when its parent directory is allowed, so a mount
//! point appears as a directory whose contents are left out.
//!
//! The size limit applies to everything that is not a directory (for a
//! symlink, `lstat`'s size is the length of its target).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::filter::{clean, PatternList};
use crate::{Error, Result};

/// The tag file and header `--exclude-caches` looks for (see
/// <https://bford.info/cachedir/>).
pub const CACHEDIR_TAG: &str = "CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55";

/// What to leave out of a backup (restic's backup flags).
#[derive(Clone, Debug, Default)]
pub struct ExcludeOptions {
    /// Pattern lists from `--exclude`, `--iexclude`, `--exclude-file` and
    /// `--iexclude-file`; a path matching any list is excluded.
    pub excludes: Vec<PatternList>,
    /// `--exclude-if-present` specs, `filename[:header]`.
    pub exclude_if_present: Vec<String>,
    /// `--exclude-caches`: the same as an exclude-if-present spec of
    /// [`CACHEDIR_TAG`].
    pub exclude_caches: bool,
    /// `--exclude-larger-than`: leave out non-directories larger than this
    /// many bytes (see [`parse_size`]).
    pub exclude_larger_than: Option<u64>,
    /// `--one-file-system`: stay on the devices of the backup targets.
    pub one_file_system: bool,
}

/// Parses restic's size syntax: a decimal integer (an optional sign is
/// accepted, as Go's `strconv.ParseInt` does) optionally followed by one
/// unit letter `b`/`B` (bytes), `k`/`K`, `m`/`M`, `g`/`G`, `t`/`T` (powers
/// of 1024). No fractions, spaces or `KiB`-style units.
///
/// restic also accepts negative sizes (excluding every non-directory,
/// even empty ones) and silently wraps on overflow; both are errors here.
pub fn parse_size(s: &str) -> Result<u64> {
    let b = s.as_bytes();
    let Some((&last, head)) = b.split_last() else {
        return Err(Error::InvalidArgument(
            "expected size, got empty string".into(),
        ));
    };
    let (digits, unit): (&[u8], u64) = match last {
        b'b' | b'B' => (head, 1),
        b'k' | b'K' => (head, 1 << 10),
        b'm' | b'M' => (head, 1 << 20),
        b'g' | b'G' => (head, 1 << 30),
        b't' | b'T' => (head, 1 << 40),
        _ => (b, 1),
    };
    let digits = String::from_utf8_lossy(digits);
    let err = |why: &str| {
        Error::InvalidArgument(format!(
            "invalid size {s:?}: strconv.ParseInt: parsing {digits:?}: {why}"
        ))
    };
    let value: i64 = digits.parse().map_err(|e: std::num::ParseIntError| {
        use std::num::IntErrorKind::{NegOverflow, PosOverflow};
        match e.kind() {
            PosOverflow | NegOverflow => err("value out of range"),
            _ => err("invalid syntax"),
        }
    })?;
    let value = u64::try_from(value).map_err(|_| err("negative sizes are not supported"))?;
    value
        .checked_mul(unit)
        .filter(|v| i64::try_from(*v).is_ok())
        .ok_or_else(|| err("value out of range"))
}

/// One `--exclude-if-present` spec.
#[derive(Debug)]
struct TagFile {
    /// File name to look for.
    name: Vec<u8>,
    /// Bytes the file must start with (empty: any file).
    header: Vec<u8>,
    /// Directory (with trailing `/`, as split off an entry's path) to
    /// whether it holds a valid tag file.
    cache: Mutex<HashMap<Vec<u8>, bool>>,
}

impl TagFile {
    fn parse(spec: &str) -> Result<TagFile> {
        if spec.is_empty() {
            return Err(Error::InvalidArgument(
                "name for exclusion tagfile is empty".into(),
            ));
        }
        let (name, header) = match spec.find(':') {
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "no name for exclusion tagfile provided".into(),
                ))
            }
            Some(i) => (&spec[..i], &spec[i + 1..]),
            None => (spec, ""),
        };
        Ok(TagFile {
            name: name.as_bytes().to_vec(),
            header: header.as_bytes().to_vec(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `path` lies in a directory holding a valid tag file (and is
    /// not that tag file).
    fn excludes(&self, path: &[u8]) -> bool {
        let split = path.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
        let (dir, base) = path.split_at(split);
        if base == self.name.as_slice() {
            return false;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&tagged) = cache.get(dir) {
            return tagged;
        }
        let tagged = self.dir_is_tagged(dir);
        cache.insert(dir.to_vec(), tagged);
        tagged
    }

    /// Whether `dir` holds the tag file with the right header. Unreadable
    /// or short tag files do not count (restic warns about them).
    fn dir_is_tagged(&self, dir: &[u8]) -> bool {
        let mut full = dir.to_vec();
        if !full.is_empty() && !full.ends_with(b"/") {
            full.push(b'/');
        }
        full.extend_from_slice(&self.name);
        let tag = PathBuf::from(OsString::from_vec(full));
        if std::fs::symlink_metadata(&tag).is_err() {
            return false;
        }
        if self.header.is_empty() {
            return true;
        }
        let mut buf = vec![0u8; self.header.len()];
        let read = File::open(&tag).and_then(|mut f| f.read_exact(&mut buf));
        read.is_ok() && buf == self.header
    }
}

/// Backup targets and their devices, for one-file-system.
#[derive(Debug)]
struct DeviceMap {
    /// Absolute cleaned target path to its `st_dev`.
    devices: BTreeMap<Vec<u8>, u64>,
}

impl DeviceMap {
    fn new(targets: &[PathBuf]) -> Result<DeviceMap> {
        let mut devices = BTreeMap::new();
        for t in targets {
            let abs = absolute(t)?;
            let meta = std::fs::symlink_metadata(&abs).map_err(|e| Error::io(&abs, e))?;
            devices.insert(abs.into_os_string().into_vec(), meta.dev());
        }
        Ok(DeviceMap { devices })
    }

    /// Whether `dev` is the device of the nearest target at or above the
    /// cleaned absolute `path`; `None` if no target is above it.
    fn is_allowed(&self, path: &[u8], dev: u64) -> Option<bool> {
        let mut p = path;
        loop {
            if let Some(&allowed) = self.devices.get(p) {
                return Some(allowed == dev);
            }
            let parent = parent_of(p);
            if parent == p {
                return None;
            }
            p = parent;
        }
    }
}

/// Go's `filepath.Dir` on a cleaned absolute path.
fn parent_of(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|&c| c == b'/') {
        Some(0) => b"/",
        Some(i) => &p[..i],
        None => b".",
    }
}

/// `path` made absolute (against the working directory) and cleaned.
fn absolute(path: &Path) -> Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
        cwd.join(path)
    };
    Ok(PathBuf::from(OsString::from_vec(clean(
        joined.as_os_str().as_bytes(),
    ))))
}

/// Decides which entries a backup leaves out; see the module docs. Safe to
/// share between threads.
#[derive(Debug)]
pub struct Excluder {
    patterns: Vec<PatternList>,
    tag_files: Vec<TagFile>,
    devices: Option<DeviceMap>,
    max_size: Option<u64>,
}

impl Excluder {
    /// Builds the excluder for backing up `targets` (the paths given on
    /// the command line; their devices are the allowed ones for
    /// one-file-system). Fails on a malformed exclude-if-present spec or a
    /// target that cannot be `lstat`ed when one-file-system is on.
    pub fn new(opts: &ExcludeOptions, targets: &[PathBuf]) -> Result<Excluder> {
        // restic appends the cache spec after the user's ones.
        let cache_spec = opts.exclude_caches.then_some(CACHEDIR_TAG);
        let tag_files = opts
            .exclude_if_present
            .iter()
            .map(String::as_str)
            .chain(cache_spec)
            .map(TagFile::parse)
            .collect::<Result<Vec<_>>>()?;
        let devices = if opts.one_file_system && !targets.is_empty() {
            Some(DeviceMap::new(targets)?)
        } else {
            None
        };
        Ok(Excluder {
            patterns: opts
                .excludes
                .iter()
                .filter(|l| !l.is_empty())
                .cloned()
                .collect(),
            tag_files,
            devices,
            max_size: opts.exclude_larger_than,
        })
    }

    /// Whether the entry at `path` (absolute and cleaned, raw bytes) is
    /// excluded by a pattern or an exclude-if-present tag file in its
    /// directory. Call before `lstat`; the tag check reads the file system
    /// once per directory.
    pub fn excluded_by_name(&self, path: &[u8]) -> bool {
        self.patterns.iter().any(|l| l.matches(path))
            || self.tag_files.iter().any(|t| t.excludes(path))
    }

    /// Whether the entry at `path` (absolute), whose `lstat` result is
    /// `meta`, is excluded by one-file-system or by the size limit.
    pub fn excluded(&self, path: &Path, meta: &Metadata) -> bool {
        if let Some(devices) = &self.devices {
            if self.other_device(devices, path, meta) {
                return true;
            }
        }
        matches!(self.max_size, Some(max) if !meta.is_dir() && meta.len() > max)
    }

    fn other_device(&self, devices: &DeviceMap, path: &Path, meta: &Metadata) -> bool {
        let path = clean(path.as_os_str().as_bytes());
        match devices.is_allowed(&path, meta.dev()) {
            // Not below any target: the archiver never asks (restic
            // panics here); keep it.
            None | Some(true) => return false,
            Some(false) => {}
        }
        if !meta.is_dir() {
            return true;
        }
        // A mount point is kept (empty) if its parent is allowed.
        let parent = parent_of(&path);
        let parent_path = Path::new(std::ffi::OsStr::from_bytes(parent));
        match std::fs::symlink_metadata(parent_path) {
            Ok(pm) => devices.is_allowed(parent, pm.dev()) != Some(true),
            Err(_) => true,
        }
    }
}

#[cfg(test)]
#[path = "exclude_tests.rs"]
mod tests;
