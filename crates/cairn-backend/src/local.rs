//! A repository in a local folder (also an NFS mount).
//!
//! Writes go to a temporary name in the destination folder, are fsynced,
//! renamed into place, made read-only, and the folder is fsynced, so a crash
//! never leaves a partial file under a real name. Operations that fail with
//! `EINTR` or NFS's `ESTALE` are retried a few times.

use crate::{is_temp_name, Backend, BackendError, FileInfo, FileType, Result, TempFile};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How often a transient error (`EINTR`, `ESTALE`) is retried.
const TRANSIENT_RETRIES: usize = 5;

/// A repository stored in a local (or NFS-mounted) folder.
#[derive(Clone, Debug)]
pub struct LocalBackend {
    root: PathBuf,
}

impl LocalBackend {
    /// A backend rooted at `root`. Nothing is touched until it is used.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBackend { root: root.into() }
    }

    /// The repository's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, file_type: FileType, name: &str) -> PathBuf {
        match file_type {
            FileType::Config => self.root.clone(),
            FileType::Pack => {
                let prefix = name.get(..2).unwrap_or(name);
                self.root.join("data").join(prefix)
            }
            other => self.root.join(other.dir_name()),
        }
    }

    fn path(&self, file_type: FileType, name: &str) -> Result<PathBuf> {
        if file_type == FileType::Config {
            return Ok(self.root.join("config"));
        }
        check_name(name)?;
        Ok(self.dir(file_type, name).join(name))
    }

    fn map_err(&self, file_type: FileType, name: &str, path: &Path, e: io::Error) -> BackendError {
        if e.kind() == io::ErrorKind::NotFound {
            BackendError::NotFound {
                file_type,
                name: name.to_string(),
            }
        } else {
            BackendError::io(path.display().to_string(), e)
        }
    }
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(BackendError::InvalidName(name.to_string()));
    }
    Ok(())
}

fn is_transient(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::ESTALE))
}

/// Runs `op`, retrying transient errors.
fn retry<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut attempt = 0;
    loop {
        match op() {
            Err(e) if is_transient(&e) && attempt < TRANSIENT_RETRIES => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(10 << attempt));
            }
            other => return other,
        }
    }
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        // Some file systems refuse fsync on folders; the rename is still done.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOTSUP)) => Ok(()),
        other => other,
    }
}

fn temp_name(name: &str) -> String {
    format!(".{}.tmp-{:016x}", name, rand::random::<u64>())
}

impl Backend for LocalBackend {
    fn location(&self) -> String {
        format!("local:{}", self.root.display())
    }

    fn create(&self) -> Result<()> {
        let config = self.root.join("config");
        if config.exists() {
            return Err(BackendError::repository_exists(self.root.display()));
        }
        let mut dirs = vec![self.root.clone()];
        for t in [
            FileType::Key,
            FileType::Lock,
            FileType::Snapshot,
            FileType::Index,
        ] {
            dirs.push(self.root.join(t.dir_name()));
        }
        dirs.push(self.root.join("data"));
        for i in 0..=255u8 {
            dirs.push(self.root.join("data").join(format!("{i:02x}")));
        }
        for d in &dirs {
            retry(|| fs::create_dir_all(d))
                .map_err(|e| BackendError::io(d.display().to_string(), e))?;
            let _ = fs::set_permissions(d, fs::Permissions::from_mode(0o700));
        }
        Ok(())
    }

    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>> {
        if file_type == FileType::Config {
            return match fs::metadata(self.root.join("config")) {
                Ok(m) => Ok(vec![FileInfo {
                    name: "config".into(),
                    size: m.len(),
                }]),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(vec![]),
                Err(e) => Err(BackendError::io(
                    self.root.join("config").display().to_string(),
                    e,
                )),
            };
        }
        let base = self.root.join(file_type.dir_name());
        let dirs = if file_type == FileType::Pack {
            read_dir_entries(&base)?
                .into_iter()
                .filter(|(_, m)| m.is_dir())
                .map(|(p, _)| p)
                .collect()
        } else {
            vec![base]
        };
        let mut out = Vec::new();
        for dir in dirs {
            for (path, meta) in read_dir_entries(&dir)? {
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if meta.is_file() && !name.starts_with('.') {
                    out.push(FileInfo {
                        name: name.to_string(),
                        size: meta.len(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        let path = self.path(file_type, name)?;
        retry(|| fs::read(&path)).map_err(|e| self.map_err(file_type, name, &path, e))
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        let path = self.path(file_type, name)?;
        let read = || -> io::Result<Vec<u8>> {
            let mut f = File::open(&path)?;
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = Vec::with_capacity(length.min(1 << 30) as usize);
            f.take(length).read_to_end(&mut buf)?;
            Ok(buf)
        };
        let buf = retry(read).map_err(|e| self.map_err(file_type, name, &path, e))?;
        BackendError::check_range(buf, file_type, name, offset, length)
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        let path = self.path(file_type, name)?;
        let dir = path
            .parent()
            .expect("file paths have a parent")
            .to_path_buf();
        let tmp = dir.join(temp_name(name));
        let io_err = |e: io::Error| BackendError::io(path.display().to_string(), e);
        let write_tmp = || -> io::Result<()> {
            if file_type == FileType::Pack {
                fs::create_dir_all(&dir)?;
            }
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            // Written files are never changed again: make that visible.
            f.set_permissions(fs::Permissions::from_mode(0o400))?;
            Ok(())
        };
        if let Err(e) = write_tmp() {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(e));
        }
        if let Err(e) = retry(|| fs::rename(&tmp, &path)) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(e));
        }
        retry(|| fsync_dir(&dir)).map_err(io_err)
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        let path = self.path(file_type, name)?;
        retry(|| fs::remove_file(&path)).map_err(|e| self.map_err(file_type, name, &path, e))
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        let path = self.path(file_type, name)?;
        let meta =
            retry(|| fs::metadata(&path)).map_err(|e| self.map_err(file_type, name, &path, e))?;
        Ok(FileInfo {
            name: name.to_string(),
            size: meta.len(),
        })
    }

    fn list_temp(&self, file_type: FileType) -> Result<Vec<TempFile>> {
        if file_type == FileType::Config {
            return Ok(Vec::new());
        }
        let base = self.root.join(file_type.dir_name());
        let dirs: Vec<(String, PathBuf)> = if file_type == FileType::Pack {
            read_dir_entries(&base)?
                .into_iter()
                .filter(|(_, m)| m.is_dir())
                .filter_map(|(p, _)| {
                    let sub = p.file_name()?.to_str()?.to_string();
                    Some((format!("{sub}/"), p))
                })
                .collect()
        } else {
            vec![(String::new(), base)]
        };
        let mut out = Vec::new();
        for (prefix, dir) in dirs {
            for (path, meta) in read_dir_entries(&dir)? {
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if meta.is_file() && is_temp_name(name) {
                    out.push(TempFile {
                        name: format!("{prefix}{name}"),
                        size: meta.len(),
                        modified: meta.modified().ok(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn remove_temp(&self, file_type: FileType, name: &str) -> Result<()> {
        let (sub, file) = crate::temp::split_temp_name(file_type, name)?;
        let mut path = self.root.join(file_type.dir_name());
        if let Some(sub) = sub {
            path.push(sub);
        }
        path.push(file);
        retry(|| fs::remove_file(&path)).map_err(|e| self.map_err(file_type, name, &path, e))
    }
}

fn read_dir_entries(dir: &Path) -> Result<Vec<(PathBuf, fs::Metadata)>> {
    let entries = match retry(|| fs::read_dir(dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(BackendError::io(dir.display().to_string(), e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BackendError::io(dir.display().to_string(), e))?;
        let path = entry.path();
        match fs::metadata(&path) {
            Ok(m) => out.push((path, m)),
            // Removed between listing and stat: not there any more.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(BackendError::io(path.display().to_string(), e)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_makes_all_data_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let be = LocalBackend::new(dir.path().join("repo"));
        be.create().unwrap();
        for i in 0..=255u8 {
            assert!(dir
                .path()
                .join("repo/data")
                .join(format!("{i:02x}"))
                .is_dir());
        }
        be.write(FileType::Config, "", b"cfg").unwrap();
        assert!(matches!(
            be.create(),
            Err(BackendError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn packs_live_under_their_prefix_and_list_with_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let be = LocalBackend::new(dir.path());
        be.create().unwrap();
        be.write(FileType::Pack, "abcdef", b"12345").unwrap();
        assert!(dir.path().join("data/ab/abcdef").is_file());
        let list = be.list(FileType::Pack).unwrap();
        assert_eq!(
            list,
            vec![FileInfo {
                name: "abcdef".into(),
                size: 5
            }]
        );
        assert_eq!(be.stat(FileType::Pack, "abcdef").unwrap().size, 5);
    }

    #[test]
    fn missing_files_are_not_found_and_short_ranges_fail() {
        let dir = tempfile::tempdir().unwrap();
        let be = LocalBackend::new(dir.path());
        be.create().unwrap();
        assert!(be.read(FileType::Index, "00").unwrap_err().is_not_found());
        assert!(be.remove(FileType::Index, "00").unwrap_err().is_not_found());
        be.write(FileType::Index, "00", b"abc").unwrap();
        assert!(matches!(
            be.read_range(FileType::Index, "00", 2, 5),
            Err(BackendError::ShortRead { got: 1, .. })
        ));
        be.remove(FileType::Index, "00").unwrap();
        assert!(be.list(FileType::Index).unwrap().is_empty());
    }

    #[test]
    fn bad_names_are_refused() {
        let be = LocalBackend::new("/nonexistent");
        for bad in ["", "..", "a/b", "../x"] {
            assert!(matches!(
                be.read(FileType::Key, bad),
                Err(BackendError::InvalidName(_))
            ));
        }
    }

    #[test]
    fn estale_and_eintr_are_retried_a_bounded_number_of_times() {
        let mut calls = 0;
        let r = retry(|| {
            calls += 1;
            match calls {
                1 => Err(io::Error::from_raw_os_error(libc::ESTALE)),
                2 => Err(io::Error::from_raw_os_error(libc::EINTR)),
                _ => Ok(calls),
            }
        });
        assert_eq!(r.unwrap(), 3);
        let mut calls = 0;
        let r: io::Result<()> = retry(|| {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::ESTALE))
        });
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ESTALE));
        assert_eq!(calls, TRANSIENT_RETRIES + 1);
        let mut calls = 0;
        let r: io::Result<()> = retry(|| {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::EIO))
        });
        assert!(r.is_err());
        assert_eq!(calls, 1, "other errors are not retried");
    }

    #[test]
    fn written_files_are_read_only_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let be = LocalBackend::new(dir.path());
        be.create().unwrap();
        be.write(FileType::Snapshot, "aa", b"x").unwrap();
        let mode = fs::metadata(dir.path().join("snapshots/aa"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        let names: Vec<_> = fs::read_dir(dir.path().join("snapshots"))
            .unwrap()
            .collect();
        assert_eq!(names.len(), 1);
    }
}
