//! One repository's folder on disk, laid out exactly like restic's local
//! backend (`config`, `keys/`, `locks/`, `snapshots/`, `index/`,
//! `data/XX/`), so a served folder is also a valid local repository.

use crate::route::{is_object_name, ObjectType};
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

/// A repository folder and the permissions for what is created in it.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    dir: PathBuf,
    dir_mode: u32,
    file_mode: u32,
}

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub size: u64,
}

impl Repo {
    /// The repository at `dir`, creating entries with the given modes.
    pub(crate) fn new(dir: PathBuf, (dir_mode, file_mode): (u32, u32)) -> Self {
        Repo {
            dir,
            dir_mode,
            file_mode,
        }
    }

    /// Permission bits for new folders.
    pub(crate) fn dir_mode(&self) -> u32 {
        self.dir_mode
    }

    /// Permission bits for new files.
    pub(crate) fn file_mode(&self) -> u32 {
        self.file_mode
    }

    /// `<repo>/config`.
    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.join("config")
    }

    /// Where an object lives; data objects go to `data/XX/` by the first two
    /// hex digits of their name. `name` must be a valid object name.
    pub(crate) fn object_path(&self, tpe: ObjectType, name: &str) -> PathBuf {
        debug_assert!(is_object_name(name));
        let folder = self.dir.join(tpe.as_str());
        match tpe {
            ObjectType::Data => folder.join(&name[..2]).join(name),
            _ => folder.join(name),
        }
    }

    /// Creates the repository folder, the type folders and `data/00`…`data/ff`;
    /// existing ones are kept.
    pub(crate) async fn create(&self) -> io::Result<()> {
        let dir = self.dir.clone();
        let mode = self.dir_mode;
        blocking(move || {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true).mode(mode);
            builder.create(&dir)?;
            for tpe in ObjectType::ALL {
                builder.create(dir.join(tpe.as_str()))?;
            }
            let data = dir.join(ObjectType::Data.as_str());
            for i in 0..=255u8 {
                builder.create(data.join(format!("{i:02x}")))?;
            }
            Ok(())
        })
        .await
    }

    /// Every object of a type with its size. Names that are not object
    /// names (temporary files, strays) are skipped. A missing type folder
    /// is `NotFound`.
    pub(crate) async fn list(&self, tpe: ObjectType) -> io::Result<Vec<Entry>> {
        let folder = self.dir.join(tpe.as_str());
        blocking(move || {
            let mut out = Vec::new();
            if tpe == ObjectType::Data {
                for sub in std::fs::read_dir(&folder)? {
                    let sub = sub?;
                    if sub.file_type()?.is_dir() {
                        list_files(&sub.path(), &mut out)?;
                    }
                }
            } else {
                list_files(&folder, &mut out)?;
            }
            Ok(out)
        })
        .await
    }
}

fn list_files(folder: &Path, out: &mut Vec<Entry>) -> io::Result<()> {
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !is_object_name(&name) {
            continue;
        }
        match entry.metadata() {
            Ok(md) if md.is_file() => out.push(Entry {
                name,
                size: md.len(),
            }),
            Ok(_) => {}
            // Deleted while listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes a file; `Ok(None)` if it was already gone (deletes are
/// idempotent so that retried requests succeed), else its size.
pub(crate) async fn remove(path: PathBuf) -> io::Result<Option<u64>> {
    blocking(move || {
        let size = match std::fs::symlink_metadata(&path) {
            Ok(md) if md.is_dir() => return Err(io::ErrorKind::NotFound.into()),
            Ok(md) => md.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(Some(size)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
}

/// The size of a regular file; folders count as missing.
pub(crate) async fn file_size(path: PathBuf) -> io::Result<u64> {
    let md = tokio::fs::metadata(path).await?;
    if md.is_file() {
        Ok(md.len())
    } else {
        Err(io::ErrorKind::NotFound.into())
    }
}

/// Runs blocking filesystem work off the async executor.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// Flushes a folder's entries to disk; filesystems that cannot are ignored.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(code) if code == 22 /* EINVAL */ || code == 95 /* EOPNOTSUPP */
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Whether an error means "nothing there" to a client (404).
pub(crate) fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_and_list() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repo::new(tmp.path().join("a/b"), (0o700, 0o600));
        repo.create().await.unwrap();
        repo.create().await.unwrap();
        assert!(tmp.path().join("a/b/data/ff").is_dir());
        assert!(tmp.path().join("a/b/snapshots").is_dir());
        let id = "ab".repeat(32);
        let p = repo.object_path(ObjectType::Data, &id);
        assert!(p.ends_with(format!("data/ab/{id}")));
        std::fs::write(&p, b"12345").unwrap();
        std::fs::write(p.with_file_name(".tmp-x"), b"1").unwrap();
        let listed = repo.list(ObjectType::Data).await.unwrap();
        assert_eq!(listed, vec![Entry { name: id, size: 5 }]);
        assert_eq!(remove(p.clone()).await.unwrap(), Some(5));
        assert_eq!(remove(p).await.unwrap(), None);
    }
}
