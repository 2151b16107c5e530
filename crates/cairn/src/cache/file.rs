//! Files in the cache: where they live, atomic saves, removal and tidying.

use super::{Cache, CACHEDIR_TAG};
use crate::{Error, Result};
use cairn_backend::FileType;
use cairn_format::Id;
use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// restic's permissions for cache folders.
const DIR_MODE: u32 = 0o700;

/// The cache folder of a file type; `None` for types never cached.
pub(super) fn type_dir(file_type: FileType) -> Option<&'static str> {
    match file_type {
        FileType::Pack => Some("data"),
        FileType::Snapshot => Some("snapshots"),
        FileType::Index => Some("index"),
        _ => None,
    }
}

pub(super) fn create_dir_all(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Creates one folder; true if it did not exist before.
pub(super) fn create_dir(dir: &Path) -> Result<bool> {
    match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// Writes `CACHEDIR.TAG` unless one exists.
pub(super) fn write_cachedir_tag(base: &Path) -> Result<()> {
    let path = base.join("CACHEDIR.TAG");
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path);
    match file {
        Ok(mut f) => f
            .write_all(CACHEDIR_TAG.as_bytes())
            .map_err(|e| Error::io(&path, e)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// The layout version of a repository's cache; 0 when there is none yet.
pub(super) fn read_version(dir: &Path) -> Result<u32> {
    let path = dir.join("version");
    match fs::read_to_string(&path) {
        Ok(text) => text.parse().map_err(|_| {
            Error::io(
                &path,
                io::Error::new(io::ErrorKind::InvalidData, "invalid cache version"),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(&path, e)),
    }
}

impl Cache {
    /// Where a file is (or would be) cached: `<type>/<first two>/<name>`.
    pub(super) fn file_path(&self, file_type: FileType, id: &Id) -> Option<PathBuf> {
        let name = id.to_hex();
        Some(
            self.path
                .join(type_dir(file_type)?)
                .join(&name[..2])
                .join(name),
        )
    }

    /// The whole cached file, if there is one.
    pub(super) fn load(&self, file_type: FileType, id: &Id) -> Option<Vec<u8>> {
        fs::read(self.file_path(file_type, id)?).ok()
    }

    /// `length` bytes at `offset` of a cached file, if it has them.
    pub(super) fn load_range(
        &self,
        file_type: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> Option<Vec<u8>> {
        let mut f = fs::File::open(self.file_path(file_type, id)?).ok()?;
        f.seek(SeekFrom::Start(offset)).ok()?;
        let mut buf = vec![0; usize::try_from(length).ok()?];
        f.read_exact(&mut buf).ok()?;
        Some(buf)
    }

    /// Stores a file: written under a temporary name in its folder, then
    /// renamed into place, so that other processes sharing the cache see
    /// the whole file or none.
    pub(super) fn save(&self, file_type: FileType, id: &Id, data: &[u8]) -> io::Result<()> {
        let path = self
            .file_path(file_type, id)
            .ok_or_else(|| io::Error::other("file type is not cached"))?;
        let dir = path.parent().expect("cache files live in a folder");
        match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        let (tmp, mut f) = create_temp(dir)?;
        let written = f.write_all(data).and_then(|()| f.flush());
        drop(f);
        let result = written.and_then(|()| fs::rename(&tmp, &path));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Removes a cached file; a file that is not cached is no error.
    pub(super) fn remove(&self, file_type: FileType, id: &Id) -> io::Result<()> {
        if file_type == FileType::Pack {
            self.set_verified(*id, false);
        }
        let Some(path) = self.file_path(file_type, id) else {
            return Ok(());
        };
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The IDs of every cached file of a type (temporary files and other
    /// names are skipped).
    pub(super) fn list(&self, file_type: FileType) -> io::Result<Vec<Id>> {
        let Some(sub) = type_dir(file_type) else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        let top = match fs::read_dir(self.path.join(sub)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e),
        };
        for entry in top {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            // Another process may tidy the same folder at the same time.
            let Ok(files) = fs::read_dir(entry.path()) else {
                continue;
            };
            for file in files.flatten() {
                if let Some(id) = file.file_name().to_str().and_then(|n| Id::from_hex(n).ok()) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    /// Removes every cached file of a type whose ID is not in `valid`.
    pub(super) fn clear(&self, file_type: FileType, valid: &HashSet<Id>) -> io::Result<()> {
        for id in self.list(file_type)? {
            if !valid.contains(&id) {
                self.remove(file_type, &id)?;
            }
        }
        Ok(())
    }
}

/// Creates a new file `tmp-<unique>` in `dir`, readable only by its owner
/// (as Go's `os.CreateTemp`, which restic uses).
fn create_temp(dir: &Path) -> io::Result<(PathBuf, fs::File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("tmp-{}{nanos:09}{n}", std::process::id());
        let path = dir.join(name);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}
