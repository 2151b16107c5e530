//! Reading a byte range of a file node without loading the whole file.
//!
//! A [`FileReader`] maps a file node's content (its list of data blob IDs)
//! to byte offsets through the plaintext lengths the index records, so a
//! read at any offset loads only the blobs that overlap the range. Every
//! blob goes through [`Repository::load_blob`]: decrypted, decompressed
//! and checked against its ID, so damaged data is an error, never returned.
//!
//! Decoded blobs are kept in a [`BlobCache`], bounded in bytes and shared
//! by any number of readers (threads included): the least recently used
//! blobs are dropped first. When reads of one reader follow each other
//! (the next read starts where the last one ended), the next few blobs are
//! loaded ahead on the rayon pool, so a sequential reader rarely waits for
//! the store.
//!
//! ```no_run
//! # fn f(repo: std::sync::Arc<cairn::Repository>, node: &cairn::Node) -> cairn::Result<()> {
//! use cairn::file_reader::{BlobCache, FileReader};
//! let cache = std::sync::Arc::new(BlobCache::new(64 << 20));
//! let reader = FileReader::new(repo, node, cache)?;
//! let mut buf = vec![0; 4096];
//! let n = reader.read_at(1 << 20, &mut buf)?;
//! # let _ = n; Ok(()) }
//! ```

use crate::repository::Repository;
use crate::{Error, Result};
use cairn_format::{BlobType, Id, Node};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// How many blobs a sequential reader loads ahead by default.
pub const DEFAULT_READ_AHEAD: usize = 4;

/// A bounded, thread-safe cache of decoded data blobs, by ID.
///
/// Holds at most `capacity` bytes of blob plaintext (a single blob larger
/// than that is returned but not kept). Eviction drops the least recently
/// used blob first. While one thread loads a blob, others asking for the
/// same blob wait for it instead of loading it again.
#[derive(Debug)]
pub struct BlobCache {
    capacity: usize,
    state: Mutex<CacheState>,
    loaded: Condvar,
}

#[derive(Debug, Default)]
struct CacheState {
    blobs: HashMap<Id, (Arc<Vec<u8>>, u64)>,
    /// Last use tick → blob, oldest first.
    order: BTreeMap<u64, Id>,
    bytes: usize,
    tick: u64,
    /// Blobs some thread is loading now.
    loading: HashSet<Id>,
}

impl CacheState {
    fn touch(&mut self, id: &Id) -> Option<Arc<Vec<u8>>> {
        self.tick += 1;
        let tick = self.tick;
        let (blob, used) = self.blobs.get_mut(id)?;
        self.order.remove(used);
        *used = tick;
        self.order.insert(tick, *id);
        Some(blob.clone())
    }
}

impl BlobCache {
    /// An empty cache holding at most `capacity` bytes of blobs.
    pub fn new(capacity: usize) -> BlobCache {
        BlobCache {
            capacity,
            state: Mutex::new(CacheState::default()),
            loaded: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached plaintext of blob `id`, if present (marks it used).
    pub fn get(&self, id: &Id) -> Option<Arc<Vec<u8>>> {
        self.lock().touch(id)
    }

    /// Whether blob `id` is cached (does not mark it used).
    pub fn contains(&self, id: &Id) -> bool {
        self.lock().blobs.contains_key(id)
    }

    /// Keeps `blob` as the plaintext of `id`, dropping the least recently
    /// used blobs to stay within the capacity.
    pub fn insert(&self, id: Id, blob: Arc<Vec<u8>>) {
        let mut state = self.lock();
        Self::insert_locked(&mut state, self.capacity, id, blob);
    }

    fn insert_locked(state: &mut CacheState, capacity: usize, id: Id, blob: Arc<Vec<u8>>) {
        if blob.len() > capacity || state.blobs.contains_key(&id) {
            return;
        }
        while state.bytes + blob.len() > capacity {
            let Some((_, oldest)) = state.order.pop_first() else {
                break;
            };
            if let Some((old, _)) = state.blobs.remove(&oldest) {
                state.bytes -= old.len();
            }
        }
        state.tick += 1;
        let tick = state.tick;
        state.bytes += blob.len();
        state.order.insert(tick, id);
        state.blobs.insert(id, (blob, tick));
    }

    /// The bytes of plaintext held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// The most bytes the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The cached blob `id`, or `load()`'s result, kept. If another thread
    /// is loading the same blob, waits for it rather than loading it twice.
    pub fn get_or_load(
        &self,
        id: &Id,
        load: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Arc<Vec<u8>>> {
        let mut state = self.lock();
        loop {
            if let Some(blob) = state.touch(id) {
                return Ok(blob);
            }
            if !state.loading.contains(id) {
                break;
            }
            state = self.loaded.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.loading.insert(*id);
        drop(state);
        let result = load().map(Arc::new);
        let mut state = self.lock();
        state.loading.remove(id);
        if let Ok(blob) = &result {
            Self::insert_locked(&mut state, self.capacity, *id, blob.clone());
        }
        drop(state);
        self.loaded.notify_all();
        result
    }
}

/// One blob of a file: its ID and where its bytes start in the file.
#[derive(Clone, Copy, Debug)]
struct Extent {
    id: Id,
    start: u64,
    len: u64,
}

/// Reads byte ranges of one file node (see the [module](self) docs).
///
/// Cheap to share between threads (`&self` everywhere); each reader keeps
/// only where its last read ended, for read-ahead.
#[derive(Debug)]
pub struct FileReader {
    repo: Arc<Repository>,
    extents: Vec<Extent>,
    size: u64,
    cache: Arc<BlobCache>,
    read_ahead: usize,
    /// Where the last read ended (`u64::MAX`: no read yet).
    last_end: AtomicU64,
}

impl FileReader {
    /// A reader for the content of `node` (a file node; other nodes have
    /// no content and read as empty). Each content blob is looked up in the
    /// index for its plaintext length: one the index does not know fails
    /// with [`Error::BlobNotFound`]. The size is the sum of those lengths
    /// (as restic's mount uses it), whatever the node's `size` claims.
    pub fn new(repo: Arc<Repository>, node: &Node, cache: Arc<BlobCache>) -> Result<FileReader> {
        let content = node.content.as_deref().unwrap_or(&[]);
        let mut extents = Vec::with_capacity(content.len());
        let mut start = 0u64;
        for id in content {
            let len = repo.locate_blob(BlobType::Data, id)?.plain_length();
            extents.push(Extent {
                id: *id,
                start,
                len,
            });
            start = start.saturating_add(len);
        }
        Ok(FileReader {
            repo,
            extents,
            size: start,
            cache,
            read_ahead: DEFAULT_READ_AHEAD,
            last_end: AtomicU64::new(u64::MAX),
        })
    }

    /// How many blobs a sequential reader loads ahead (0: none).
    pub fn set_read_ahead(&mut self, blobs: usize) {
        self.read_ahead = blobs;
    }

    /// The file's size: the sum of its blobs' plaintext lengths.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The number of content blobs.
    pub fn blob_count(&self) -> usize {
        self.extents.len()
    }

    /// Fills `buf` with the file's bytes from `offset` on; returns how many
    /// were read: `buf.len()`, or fewer at the end of the file (0 at or
    /// past it). Only the blobs overlapping the range are loaded (from the
    /// cache if there). A blob that fails verification, or whose plaintext
    /// is not as long as the index says, fails the read.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let first = self.extents.partition_point(|e| e.start + e.len <= offset);
        let mut done = 0usize;
        let mut pos = offset;
        let mut last = first;
        for (i, extent) in self.extents.iter().enumerate().skip(first) {
            if done == buf.len() {
                break;
            }
            last = i;
            if extent.len == 0 {
                continue;
            }
            let blob = self.blob(extent)?;
            let within = (pos - extent.start) as usize;
            let n = (blob.len() - within).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&blob[within..within + n]);
            done += n;
            pos += n as u64;
        }
        let previous_end = self.last_end.swap(pos, Ordering::Relaxed);
        if previous_end == offset && self.read_ahead > 0 {
            self.prefetch(last + 1);
        }
        Ok(done)
    }

    fn blob(&self, extent: &Extent) -> Result<Arc<Vec<u8>>> {
        let blob = self.cache.get_or_load(&extent.id, || {
            self.repo.load_blob(BlobType::Data, &extent.id)
        })?;
        if blob.len() as u64 != extent.len {
            let pack = self
                .repo
                .index()
                .lookup(BlobType::Data, &extent.id)
                .map(|l| l.pack)
                .unwrap_or_default();
            return Err(Error::BadBlob {
                pack,
                blob_type: BlobType::Data,
                id: extent.id,
                reason: format!(
                    "plaintext is {} bytes, the index says {}",
                    blob.len(),
                    extent.len
                ),
            });
        }
        Ok(blob)
    }

    /// Loads the blobs from `from` on (up to the read-ahead count) into
    /// the cache in the background; errors are left for the read that
    /// needs the blob.
    fn prefetch(&self, from: usize) {
        let wanted: Vec<Id> = self
            .extents
            .iter()
            .skip(from)
            .take(self.read_ahead)
            .map(|e| e.id)
            .filter(|id| !self.cache.contains(id))
            .collect();
        for id in wanted {
            let (repo, cache) = (self.repo.clone(), self.cache.clone());
            rayon::spawn(move || {
                let _ = cache.get_or_load(&id, || repo.load_blob(BlobType::Data, &id));
            });
        }
    }
}

#[cfg(test)]
#[path = "file_reader_tests.rs"]
mod tests;
