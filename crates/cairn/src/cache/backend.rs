//! [`CacheBackend`]: a backend wrapper that serves index files, snapshots
//! and tree packs from the cache and keeps the cache in step with the
//! repository.

use super::file::type_dir;
use super::Cache;
use cairn_backend::{Backend, BackendError, FileInfo, FileType, Result};
use cairn_crypto::MasterKey;
use cairn_format::{header_length, parse_header, BlobType, Id, HEADER_LENGTH_SIZE};
use std::collections::HashSet;
use std::sync::Arc;

/// Wraps a repository's backend with a [`Cache`].
///
/// - Index and snapshot files are read from the cache when a copy there
///   matches its name (SHA-256), else from the repository, and then kept.
/// - Ranges of packs holding only tree blobs ([`Cache::is_tree_pack`]) are
///   served from a cached copy of the whole pack, fetched on first use;
///   the copy is checked against its name once per process.
/// - Whole-pack reads (`check --read-data`) and other packs always go to
///   the repository.
/// - Written index files, snapshots and tree packs are kept; removed files
///   are dropped from the cache, and so are cached files a listing of the
///   repository no longer shows.
///
/// Failing to write the cache never fails an operation.
pub struct CacheBackend {
    inner: Arc<dyn Backend>,
    cache: Arc<Cache>,
    key: MasterKey,
}

impl CacheBackend {
    /// Wraps `inner`. `key` (the repository's master key) is used only to
    /// read the headers of written packs, to cache those holding trees.
    pub fn new(inner: Arc<dyn Backend>, cache: Arc<Cache>, key: MasterKey) -> CacheBackend {
        CacheBackend { inner, cache, key }
    }

    /// The cache in use.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }

    /// The cached copy of a file if it matches its name; a damaged copy is
    /// removed.
    fn cached_whole(&self, file_type: FileType, id: &Id) -> Option<Vec<u8>> {
        let data = self.cache.load(file_type, id)?;
        if Id::hash(&data) == *id {
            return Some(data);
        }
        let _ = self.cache.remove(file_type, id);
        None
    }

    /// A whole index or snapshot file, from the cache or else the
    /// repository (then cached if it is intact).
    fn read_whole(&self, file_type: FileType, id: &Id, name: &str) -> Result<Vec<u8>> {
        if let Some(data) = self.cached_whole(file_type, id) {
            return Ok(data);
        }
        let _downloading = self.cache.download_lock(id);
        if let Some(data) = self.cached_whole(file_type, id) {
            return Ok(data);
        }
        let data = self.inner.read(file_type, name)?;
        if Id::hash(&data) == *id {
            let _ = self.cache.save(file_type, id, &data);
        }
        Ok(data)
    }

    /// A range of a tree pack, from the cached pack, fetching and caching
    /// the whole pack first if needed.
    fn read_tree_pack(&self, id: &Id, name: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        if self.cache.is_verified(id) {
            if let Some(data) = self.cache.load_range(FileType::Pack, id, offset, length) {
                return Ok(data);
            }
            self.cache.set_verified(*id, false);
        }
        let _downloading = self.cache.download_lock(id);
        if self.cache.is_verified(id) {
            if let Some(data) = self.cache.load_range(FileType::Pack, id, offset, length) {
                return Ok(data);
            }
        }
        let whole = match self.cached_whole(FileType::Pack, id) {
            Some(data) => {
                self.cache.set_verified(*id, true);
                data
            }
            None => {
                let data = self.inner.read(FileType::Pack, name)?;
                if Id::hash(&data) == *id && self.cache.save(FileType::Pack, id, &data).is_ok() {
                    self.cache.set_verified(*id, true);
                }
                data
            }
        };
        slice(&whole, name, offset, length)
    }

    /// True if `data` is a pack whose header lists only tree blobs.
    fn holds_only_trees(&self, data: &[u8]) -> bool {
        let Some(tail) = data.len().checked_sub(HEADER_LENGTH_SIZE) else {
            return false;
        };
        let last4: [u8; 4] = data[tail..].try_into().expect("four bytes");
        let Some(start) = tail.checked_sub(header_length(last4) as usize) else {
            return false;
        };
        let Ok(plain) = self.key.open(&data[start..tail]) else {
            return false;
        };
        match parse_header(&plain) {
            Ok(blobs) => !blobs.is_empty() && blobs.iter().all(|b| b.blob_type == BlobType::Tree),
            Err(_) => false,
        }
    }
}

/// The ID a cacheable file is named by; `None` for files never cached.
fn cache_id(file_type: FileType, name: &str) -> Option<Id> {
    type_dir(file_type)?;
    Id::from_hex(name).ok().filter(|id| id.to_hex() == name)
}

fn slice(data: &[u8], name: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let end = start.saturating_add(usize::try_from(length).unwrap_or(usize::MAX));
    match data.get(start..end) {
        Some(part) => Ok(part.to_vec()),
        None => Err(BackendError::ShortRead {
            file_type: FileType::Pack,
            name: name.to_string(),
            offset,
            wanted: length,
            got: (data.len() as u64).saturating_sub(offset),
        }),
    }
}

impl Backend for CacheBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> Result<()> {
        self.inner.create()
    }

    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>> {
        let files = self.inner.list(file_type)?;
        if type_dir(file_type).is_some() {
            let present: HashSet<Id> = files
                .iter()
                .filter_map(|f| Id::from_hex(&f.name).ok())
                .collect();
            // Tidying is best effort: the cache works without it.
            let _ = self.cache.clear(file_type, &present);
        }
        Ok(files)
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        match cache_id(file_type, name) {
            Some(id) if file_type != FileType::Pack => self.read_whole(file_type, &id, name),
            _ => self.inner.read(file_type, name),
        }
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        match cache_id(file_type, name) {
            Some(id) if file_type == FileType::Pack && self.cache.is_tree_pack(&id) => {
                self.read_tree_pack(&id, name, offset, length)
            }
            _ => self.inner.read_range(file_type, name, offset, length),
        }
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        self.inner.write(file_type, name, data)?;
        let Some(id) = cache_id(file_type, name) else {
            return Ok(());
        };
        let is_tree_pack = file_type == FileType::Pack && self.holds_only_trees(data);
        if (file_type != FileType::Pack || is_tree_pack) && Id::hash(data) == id {
            let saved = self.cache.save(file_type, &id, data).is_ok();
            if is_tree_pack {
                self.cache.add_tree_pack(id);
                self.cache.set_verified(id, saved);
            }
        }
        Ok(())
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        let result = self.inner.remove(file_type, name);
        let gone = match &result {
            Ok(()) => true,
            Err(e) => e.is_not_found(),
        };
        if let (true, Some(id)) = (gone, cache_id(file_type, name)) {
            let _ = self.cache.remove(file_type, &id);
        }
        result
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        let result = self.inner.stat(file_type, name);
        if let (Err(e), Some(id)) = (&result, cache_id(file_type, name)) {
            if e.is_not_found() {
                let _ = self.cache.remove(file_type, &id);
            }
        }
        result
    }

    fn has_atomic_replace(&self) -> bool {
        self.inner.has_atomic_replace()
    }

    fn list_temp(&self, file_type: FileType) -> Result<Vec<cairn_backend::TempFile>> {
        self.inner.list_temp(file_type)
    }

    fn remove_temp(&self, file_type: FileType, name: &str) -> Result<()> {
        self.inner.remove_temp(file_type, name)
    }
}
