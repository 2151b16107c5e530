//! A local cache of repository files, in restic's layout, so that a remote
//! repository's index, snapshots and trees are downloaded once.
//!
//! The cache lives in a base directory (`$RESTIC_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/restic`, else `~/.cache/restic`; see [`default_dir`])
//! tagged with a `CACHEDIR.TAG`. Each repository has its own directory
//! named by the repository ID from its config:
//!
//! ```text
//! <base>/CACHEDIR.TAG
//! <base>/<repository-id>/version              "1"
//! <base>/<repository-id>/index/XX/<id>
//! <base>/<repository-id>/snapshots/XX/<id>
//! <base>/<repository-id>/data/XX/<id>         packs holding only tree blobs
//! ```
//!
//! This is byte for byte what restic writes, so restic and Cairn can share
//! one cache directory. Files are written to a temporary name in their
//! folder and renamed into place, so a concurrent reader (either program)
//! never sees half a file.
//!
//! A cached file is never trusted: repository files are named by their
//! SHA-256, and [`CacheBackend`] checks every cached file against its name
//! before using it (packs once per process, when first used). A damaged
//! copy is removed and read again from the repository.
//!
//! Each open updates the modification time of the repository's cache
//! directory; directories unused for 30 days ([`MAX_CACHE_AGE`]) are old
//! and can be removed with [`cleanup`].
//!
//! ```
//! use cairn::cache::{Cache, CacheBackend};
//! use cairn::{Backend, FileType, Id, LocalBackend};
//! use std::sync::Arc;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let repo = LocalBackend::new(dir.path().join("repo"));
//! repo.create().unwrap();
//! let id = "5a3b".repeat(16);
//! let cache = Arc::new(Cache::open(&dir.path().join("cache"), &id).unwrap());
//! assert!(cache.created());
//!
//! let key = cairn_crypto::MasterKey::generate();
//! let backend = CacheBackend::new(Arc::new(repo), cache.clone(), key);
//! let bytes = b"an encrypted snapshot".to_vec();
//! let name = Id::hash(&bytes).to_hex();
//! backend.write(FileType::Snapshot, &name, &bytes).unwrap();
//! // Written through to the repository and kept in the cache:
//! let cached = cache.path().join("snapshots").join(&name[..2]).join(&name);
//! assert_eq!(std::fs::read(cached).unwrap(), bytes);
//! assert_eq!(backend.read(FileType::Snapshot, &name).unwrap(), bytes);
//! ```

mod backend;
mod dirs;
mod file;
#[cfg(test)]
mod tests;

pub use backend::CacheBackend;
pub use dirs::{
    cleanup, default_dir, default_dir_from, dir_size, list_dirs, CacheDirInfo, CleanupReport,
    MAX_CACHE_AGE,
};

use crate::{Error, Result};
use cairn_format::{BlobType, Id};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

/// The cache layout version restic writes (and the newest it reads).
pub const CACHE_VERSION: u32 = 1;

/// The content of a `CACHEDIR.TAG` (<https://bford.info/cachedir/>).
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n";

/// The cache directory of one repository.
#[derive(Debug)]
pub struct Cache {
    base: PathBuf,
    path: PathBuf,
    created: bool,
    /// Packs that hold only tree blobs: the packs worth caching.
    tree_packs: RwLock<HashSet<Id>>,
    /// Cached packs already checked against their name in this process.
    verified_packs: Mutex<HashSet<Id>>,
    /// Serialises downloads of the same file between threads.
    downloads: [Mutex<()>; 32],
}

impl Cache {
    /// Opens (creating if needed) the cache of repository `repo_id` below
    /// `base`, as restic does: tags `base` with a `CACHEDIR.TAG`, writes
    /// the `version` file, creates `index`, `snapshots` and `data`, and
    /// marks the directory as used now. Fails if the cache was written by
    /// a newer layout version.
    pub fn open(base: &Path, repo_id: &str) -> Result<Cache> {
        if !dirs::valid_repo_dir_name(repo_id) {
            return Err(Error::InvalidArgument(format!(
                "invalid repository ID {repo_id:?} for a cache directory"
            )));
        }
        file::create_dir_all(base)?;
        file::write_cachedir_tag(base)?;
        let path = base.join(repo_id);
        let version = file::read_version(&path)?;
        if version > CACHE_VERSION {
            return Err(Error::io(
                path.join("version"),
                std::io::Error::other("cache version is newer"),
            ));
        }
        let created = file::create_dir(&path)?;
        dirs::touch(&path)?;
        if version < CACHE_VERSION {
            let v = CACHE_VERSION.to_string();
            std::fs::write(path.join("version"), v)
                .map_err(|e| Error::io(path.join("version"), e))?;
        }
        for sub in ["index", "snapshots", "data"] {
            file::create_dir_all(&path.join(sub))?;
        }
        Ok(Cache {
            base: base.to_path_buf(),
            path,
            created,
            tree_packs: RwLock::default(),
            verified_packs: Mutex::default(),
            downloads: Default::default(),
        })
    }

    /// The base directory holding every repository's cache.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// This repository's cache directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True if [`Cache::open`] created the directory.
    pub fn created(&self) -> bool {
        self.created
    }

    /// Learns from a freshly loaded index which packs hold only tree blobs
    /// (those are cached when read), and removes cached packs the index no
    /// longer lists.
    pub fn index_loaded(&self, index: &crate::Index) {
        let mut trees = HashSet::new();
        let mut data = HashSet::new();
        for loc in index.iter() {
            match loc.blob_type {
                BlobType::Tree => trees.insert(loc.pack),
                BlobType::Data => data.insert(loc.pack),
            };
        }
        trees.retain(|p| !data.contains(p));
        *self.tree_packs.write().unwrap_or_else(|e| e.into_inner()) = trees;
        let known: HashSet<Id> = index.packs().iter().copied().collect();
        // A cache that cannot be tidied still works; the error is harmless.
        let _ = self.clear(cairn_backend::FileType::Pack, &known);
    }

    /// True if `pack` holds only tree blobs, as far as the loaded index (or
    /// packs written in this process) tell.
    pub fn is_tree_pack(&self, pack: &Id) -> bool {
        self.tree_packs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(pack)
    }

    fn add_tree_pack(&self, pack: Id) {
        self.tree_packs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pack);
    }

    fn download_lock(&self, id: &Id) -> std::sync::MutexGuard<'_, ()> {
        let slot = usize::from(id.0[0]) % self.downloads.len();
        self.downloads[slot]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn is_verified(&self, pack: &Id) -> bool {
        self.verified_packs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(pack)
    }

    fn set_verified(&self, pack: Id, verified: bool) {
        let mut set = self
            .verified_packs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if verified {
            set.insert(pack);
        } else {
            set.remove(&pack);
        }
    }
}
