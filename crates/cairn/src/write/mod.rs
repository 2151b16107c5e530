//! Writing blobs into packs, and packs into the repository with their index.
//!
//! A [`BlobWriter`] is shared by every thread of a backup. Callers hand it
//! plaintext blobs; it skips blobs the repository (or this writer) already
//! has, compresses and encrypts new ones in the calling thread (so that
//! this work spreads over all cores), and appends them to an open pack per
//! blob type. Full packs are finished and handed to upload threads.
//!
//! Crash safety comes from the order of writes: a pack is written before
//! any index file names it, and [`BlobWriter::flush`] writes the last
//! index only after every pack upload has finished. Snapshots are saved by
//! the caller after `flush`. A crash at any moment therefore leaves at most
//! packs that no index names, which restic's `check` accepts and `prune`
//! removes.
//!
//! Memory is bounded: at most two open packs (data and tree) plus
//! [`UPLOAD_QUEUE`] finished packs waiting, plus one per upload thread, each
//! about the target pack size, plus the blobs being compressed and
//! encrypted (each at most twice its size: compressed and sealed). Large
//! buffers are given back to the system when freed (at a megabyte
//! and more), so the resident size follows these bytes
//! in flight rather than the allocator's high-water marks.

pub(crate) mod buffers;
mod known;
mod pack;
mod upload;
pub(crate) mod verify;

pub(crate) use buffers::with_compressed;
pub use pack::PackBuilder;

use crate::repository::Repository;
use crate::{Error, Result};
use cairn_backend::Backend;
use cairn_crypto::MasterKey;
use cairn_format::{BlobType, Id};
use known::KnownBlobs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use upload::Uploader;

/// Finished packs that may wait for an upload thread.
pub const UPLOAD_QUEUE: usize = 1;

/// The default target pack size (restic's 16 MiB).
pub const DEFAULT_PACK_SIZE: u64 = 16 << 20;

/// How data blobs are compressed in a version 2 repository.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// The default: zstd level 2 with level 3's match table (hash log
    /// 18 instead of 17). restic's "auto" uses its Go zstd encoder's
    /// default speed. Measured on the benchmark corpus (two Rust
    /// toolchains, 2.4 GiB of unique chunks), plain level 2 stored 0.6 %
    /// more than restic; the larger table makes the data 1.1 % smaller
    /// (below restic's) for about 9 % more compression time, where level
    /// 3 would cost about 25 % more (see [`Compression::zstd_hash_log`]).
    #[default]
    Auto,
    /// Store data blobs uncompressed (trees are still compressed).
    Off,
    /// The fastest zstd level.
    Fastest,
    /// Better compression, slower.
    Better,
    /// The best compression, slowest.
    Max,
}

impl Compression {
    /// The zstd level for data blobs, or `None` for no compression.
    pub fn zstd_level(self) -> Option<i32> {
        match self {
            Compression::Auto => Some(2),
            Compression::Off => None,
            Compression::Fastest => Some(1),
            Compression::Better => Some(7),
            Compression::Max => Some(19),
        }
    }

    /// The zstd hash log (the size of the match-finder table, as a power
    /// of two) this mode sets instead of its level's, or `None` to keep
    /// the level's own. Only [`Compression::Auto`] sets one: 18, which
    /// found more matches in 1 MiB chunks than level 2's 16 at a fraction
    /// of the cost of a higher level (figures in the README's benchmark
    /// section).
    pub fn zstd_hash_log(self) -> Option<u32> {
        match self {
            Compression::Auto => Some(18),
            _ => None,
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = Error;
    fn from_str(s: &str) -> Result<Compression> {
        Ok(match s {
            "auto" => Compression::Auto,
            "off" => Compression::Off,
            "fastest" => Compression::Fastest,
            "better" => Compression::Better,
            "max" => Compression::Max,
            other => return Err(invalid_compression(other)),
        })
    }
}

fn invalid_compression(mode: &str) -> Error {
    Error::InvalidArgument(format!(
        "invalid compression mode {mode:?}, must be one of (auto|off|max|fastest|better)"
    ))
}

/// How a [`BlobWriter`] writes.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Target pack size in bytes (restic: 4 to 128 MiB, default 16 MiB).
    pub pack_size: u64,
    /// Compression of data blobs (ignored in version 1 repositories).
    pub compression: Compression,
    /// Threads uploading finished packs.
    pub upload_threads: usize,
    /// An index file is written once it lists this many blobs.
    pub index_blobs: usize,
    /// ... or once its oldest pack has waited this long (restic: 10
    /// minutes), so a crash late in a long backup loses little.
    pub index_max_age: std::time::Duration,
    /// Do everything but write to the repository (`--dry-run`).
    pub dry_run: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            pack_size: DEFAULT_PACK_SIZE,
            compression: Compression::Auto,
            upload_threads: 2,
            index_blobs: 50_000,
            index_max_age: std::time::Duration::from_secs(600),
            dry_run: false,
        }
    }
}

impl WriteOptions {
    /// Checks the pack size against restic's limits (4 to 128 MiB).
    pub fn validate(&self) -> Result<()> {
        let mib = self.pack_size >> 20;
        if !self.pack_size.is_multiple_of(1 << 20) || !(4..=128).contains(&mib) {
            return Err(Error::InvalidArgument(format!(
                "pack size {} is not a whole number of MiB between 4 and 128",
                self.pack_size
            )));
        }
        Ok(())
    }
}

/// What became of a saved blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedBlob {
    /// The blob's ID (SHA-256 of its plaintext).
    pub id: Id,
    /// True if this call stored it; false if it was already there.
    pub new: bool,
    /// Bytes it takes in its pack (0 when not new).
    pub stored: u64,
}

/// Counts of what a writer added, for a snapshot's summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// New data blobs.
    pub data_blobs: u64,
    /// New tree blobs.
    pub tree_blobs: u64,
    /// Plaintext bytes of new blobs.
    pub data_added: u64,
    /// Stored bytes of new blobs (compressed and encrypted).
    pub data_added_packed: u64,
    /// Packs written.
    pub packs: u64,
}

#[derive(Default)]
struct Counters {
    data_blobs: AtomicU64,
    tree_blobs: AtomicU64,
    data_added: AtomicU64,
    data_added_packed: AtomicU64,
}

/// Saves blobs into packs; shared by all threads of a backup.
pub struct BlobWriter {
    key: MasterKey,
    version: u32,
    index: Arc<crate::Index>,
    opts: WriteOptions,
    known: Arc<KnownBlobs>,
    open: [Mutex<PackBuilder>; 2],
    uploader: Uploader,
    counters: Counters,
    /// See [`Repository::set_extra_verify`].
    extra_verify: bool,
}

impl BlobWriter {
    /// A writer for `repo`, deduplicating against its loaded index.
    ///
    /// This is a building block: the caller holds a lock on `repo` (the
    /// operations built on it take its [`crate::LockGuard`]), and hands
    /// `repo` to [`BlobWriter::flush_into`] so that it learns the new
    /// blobs.
    pub fn new(repo: &Repository, opts: WriteOptions) -> Result<BlobWriter> {
        opts.validate()?;
        buffers::return_large_buffers();
        let backend: Arc<dyn Backend> = repo.backend().clone();
        let version = repo.config().version;
        let known = Arc::new(KnownBlobs::new());
        let uploader = Uploader::start(backend, repo.key().clone(), version, &opts, known.clone());
        Ok(BlobWriter {
            key: repo.key().clone(),
            version,
            index: repo.index_arc(),
            opts,
            known,
            open: [
                Mutex::new(PackBuilder::new()),
                Mutex::new(PackBuilder::new()),
            ],
            uploader,
            counters: Counters::default(),
            extra_verify: repo.extra_verify(),
        })
    }

    /// True if the repository or this writer already has the blob.
    pub fn has_blob(&self, blob_type: BlobType, id: &Id) -> bool {
        self.index.contains(blob_type, id) || self.known.contains(blob_type, id)
    }

    /// Saves a blob unless it is already stored; returns its ID.
    pub fn save_blob(&self, blob_type: BlobType, plain: &[u8]) -> Result<SavedBlob> {
        self.save_blob_with_id(blob_type, Id::hash(plain), plain)
    }

    /// Like [`BlobWriter::save_blob`] with the ID already computed (it
    /// must be the SHA-256 of `plain`).
    pub fn save_blob_with_id(
        &self,
        blob_type: BlobType,
        id: Id,
        plain: &[u8],
    ) -> Result<SavedBlob> {
        self.uploader.check()?;
        if self.index.contains(blob_type, &id) || !self.known.insert(blob_type, id) {
            return Ok(SavedBlob {
                id,
                new: false,
                stored: 0,
            });
        }
        let mode = match (self.version, blob_type) {
            (1, _) => Compression::Off,
            (_, BlobType::Tree) => Compression::Auto,
            (_, BlobType::Data) => self.opts.compression,
        };
        // Seals `bytes` in this thread's buffer and adds them to a pack;
        // the stored size.
        let store = |bytes: &[u8], uncompressed_length: Option<u32>| {
            buffers::with_sealed(&self.key, bytes, |sealed| {
                let sealed = &*verify::damage_for_test(sealed);
                if self.extra_verify {
                    verify::verify_sealed(&self.key, blob_type, &id, sealed, uncompressed_length)?;
                }
                self.append(blob_type, id, sealed, uncompressed_length)
                    .map(|()| sealed.len() as u64)
            })
        };
        // An empty blob cannot be marked compressed (length 0 means raw).
        let stored = match mode {
            Compression::Off => store(plain, None)?,
            _ if !plain.is_empty() => {
                let uncompressed_length = Some(blob_len(plain.len())?);
                buffers::with_compressed(plain, mode, |c| store(c, uncompressed_length))?
            }
            _ => store(plain, None)?,
        };
        let c = &self.counters;
        match blob_type {
            BlobType::Data => c.data_blobs.fetch_add(1, Ordering::Relaxed),
            BlobType::Tree => c.tree_blobs.fetch_add(1, Ordering::Relaxed),
        };
        c.data_added
            .fetch_add(plain.len() as u64, Ordering::Relaxed);
        c.data_added_packed.fetch_add(stored, Ordering::Relaxed);
        Ok(SavedBlob {
            id,
            new: true,
            stored,
        })
    }

    fn append(
        &self,
        blob_type: BlobType,
        id: Id,
        sealed: &[u8],
        uncompressed: Option<u32>,
    ) -> Result<()> {
        let full = PackBuilder::add_to_open(
            &self.open,
            self.opts.pack_size,
            blob_type,
            id,
            sealed,
            uncompressed,
        )?;
        match full {
            Some(pack) => self.uploader.submit(pack),
            None => Ok(()),
        }
    }

    /// Finishes the open packs, waits for every upload and writes the
    /// remaining index. Returns the index files written by this writer.
    /// After `flush`, every blob saved so far is in the repository and
    /// indexed, so a snapshot referring to them can be saved.
    ///
    /// The [`Repository`] value the writer was made for does not learn
    /// about the new blobs; [`BlobWriter::flush_into`] also adds them to
    /// its loaded index.
    pub fn flush(self) -> Result<(WriteStats, Vec<Id>)> {
        self.flush_new()
            .map(|(stats, index_ids, _)| (stats, index_ids))
    }

    /// [`BlobWriter::flush`], then adds what was indexed to `repo`'s
    /// loaded index (see [`Repository::add_to_index`]), so that `repo`
    /// reads the new blobs and a later writer does not store them again.
    pub fn flush_into(self, repo: &mut Repository) -> Result<(WriteStats, Vec<Id>)> {
        let (stats, index_ids, new) = self.flush_new()?;
        repo.add_new_blobs(new);
        Ok((stats, index_ids))
    }

    /// [`BlobWriter::flush`], also returning every pack it indexed.
    pub(crate) fn flush_indexed(self) -> Result<(WriteStats, Vec<Id>, cairn_format::IndexFile)> {
        let (stats, index_ids, new) = self.flush_new()?;
        Ok((stats, index_ids, new.to_index_file()))
    }

    /// [`BlobWriter::flush`], also returning the blobs it indexed (none
    /// in a dry run, which indexes nothing).
    fn flush_new(self) -> Result<(WriteStats, Vec<Id>, crate::index::NewBlobs)> {
        let BlobWriter {
            open,
            uploader,
            counters: c,
            known,
            index,
            opts,
            ..
        } = self;
        drop(index);
        for slot in &open {
            let pack = std::mem::replace(
                &mut *slot.lock().expect("pack lock poisoned"),
                PackBuilder::new(),
            );
            if !pack.is_empty() {
                uploader.submit(pack)?;
            }
        }
        let (packs, index_ids, pack_ids) = uploader.finish()?;
        let stats = WriteStats {
            data_blobs: c.data_blobs.load(Ordering::Relaxed),
            tree_blobs: c.tree_blobs.load(Ordering::Relaxed),
            data_added: c.data_added.load(Ordering::Relaxed),
            data_added_packed: c.data_added_packed.load(Ordering::Relaxed),
            packs,
        };
        // The upload threads, which shared `known`, have ended.
        let new = match Arc::try_unwrap(known) {
            Ok(known) if !opts.dry_run => known.into_new_blobs(pack_ids),
            _ => crate::index::NewBlobs::default(),
        };
        Ok((stats, index_ids, new))
    }

    /// Abandons the writer: stops the upload threads without writing an
    /// index. Packs already uploaded stay unreferenced (and harmless).
    pub fn abort(self) {
        self.uploader.abort();
    }
}

fn blob_len(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::InvalidArgument(format!("blob of {n} bytes is too large")))
}
