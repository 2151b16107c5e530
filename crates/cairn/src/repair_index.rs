//! `repair index` (formerly `rebuild-index`): make the index describe
//! exactly the packs that exist.
//!
//! Index entries are reused for every pack whose file size matches what
//! the index says; the header of every other pack (or of every pack, when
//! asked to read all) is read from the pack itself. Packs the index names
//! but which do not exist are forgotten. New index files covering exactly
//! the existing, readable packs are written first; only then are the old
//! index files deleted, so an interruption leaves at worst both sets.
//! It runs under an exclusive lock, whose guard it takes.

use crate::index::Index;
use crate::prune::index_files::{delete_index_files, packs_except, write_index_files};
use crate::repository::Repository;
use crate::{Error, LockGuard, Result};
use cairn_backend::FileType;
use cairn_format::pack::{CRYPTO_OVERHEAD, HEADER_LENGTH_SIZE, MAX_HEADER_SIZE};
use cairn_format::{
    check_pack_layout, entry_size, header_length, parse_header, Id, IndexBlob, IndexPack,
    PackedBlob,
};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};

/// The steps of `repair index`, reported as they start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepairIndexPhase {
    /// Reading the existing index files.
    LoadingIndexes,
    /// Listing the pack files.
    ListingPacks,
    /// Reading the headers of this many packs.
    ReadingPacks(usize),
    /// Writing the new index files.
    RebuildingIndex,
    /// Deleting this many old index files.
    DeletingIndexFiles(usize),
}

/// Receives progress from `repair index`; [`NoProgress`](crate::NoProgress) ignores it.
pub trait RepairIndexProgress: Sync {
    /// A step starts.
    fn phase(&self, _phase: RepairIndexPhase) {}
    /// Something was found and is being repaired (one line).
    fn warn(&self, _message: &str) {}
}

/// What `repair index` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairIndexReport {
    /// Packs no index named, now indexed.
    pub packs_added: Vec<Id>,
    /// Packs whose size differed from the index: (pack, real size, size
    /// by the index). Their headers were read again.
    pub packs_reindexed: Vec<(Id, u64, u64)>,
    /// Packs the index named but which do not exist.
    pub packs_forgotten: Vec<Id>,
    /// Packs whose header could not be read; left out of the index.
    pub packs_skipped: Vec<(Id, String)>,
    /// Index files that could not be read (they are replaced too).
    pub index_problems: Vec<String>,
    /// New index files.
    pub index_files_written: Vec<Id>,
    /// Old index files deleted.
    pub index_files_deleted: Vec<Id>,
}

impl Repository {
    /// Rebuilds the index from the packs under `lock` (exclusive); see
    /// the module docs.
    pub fn repair_index(
        &mut self,
        lock: &LockGuard,
        read_all_packs: bool,
    ) -> Result<RepairIndexReport> {
        self.repair_index_with(
            lock,
            read_all_packs,
            &crate::NoProgress,
            &crate::Cancel::new(),
        )
    }

    /// [`Repository::repair_index`] with progress reports, stopped (with
    /// [`Error::Interrupted`]) once `cancel` is cancelled.
    ///
    /// If an index was loaded, it is read again afterwards, so that it
    /// matches the new index files.
    pub fn repair_index_with(
        &mut self,
        lock: &LockGuard,
        read_all_packs: bool,
        progress: &dyn RepairIndexProgress,
        cancel: &crate::Cancel,
    ) -> Result<RepairIndexReport> {
        lock.allows(self, "repair index", true)?;
        cancel.check()?;
        self.set_strict_listings(true);
        let mut report = RepairIndexReport::default();
        let old_files: Vec<Id> = self
            .list_ids(FileType::Index)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let empty = Index::default();
        let index: &Index = if read_all_packs {
            &empty
        } else {
            progress.phase(RepairIndexPhase::LoadingIndexes);
            for problem in self.load_index()? {
                let msg = format!("removing invalid index: {problem}");
                progress.warn(&msg);
                report.index_problems.push(problem.to_string());
            }
            self.index()
        };
        let mut expected: HashMap<Id, u64> = HashMap::new();
        for loc in index.iter() {
            let size = expected
                .entry(loc.pack)
                .or_insert((HEADER_LENGTH_SIZE + CRYPTO_OVERHEAD) as u64);
            *size += u64::from(loc.length) + header_entry_size(loc.uncompressed_length);
        }

        progress.phase(RepairIndexPhase::ListingPacks);
        let mut listed = self.list_ids(FileType::Pack)?;
        listed.sort();
        let mut drop: BTreeSet<Id> = BTreeSet::new();
        let mut to_read: Vec<(Id, u64)> = Vec::new();
        for (id, size) in listed {
            match expected.remove(&id) {
                Some(want) if want == size => continue,
                Some(want) => {
                    progress.warn(&format!(
                        "reindexing pack file {id} with unexpected size {size} instead of {want}"
                    ));
                    report.packs_reindexed.push((id, size, want));
                }
                None => {
                    if !read_all_packs {
                        progress.warn(&format!("adding pack file to index {id}"));
                    }
                    report.packs_added.push(id);
                }
            }
            drop.insert(id);
            to_read.push((id, size));
        }
        let mut missing: Vec<Id> = expected.into_keys().collect();
        missing.sort();
        for id in missing {
            progress.warn(&format!("removing not found pack file {id}"));
            drop.insert(id);
            report.packs_forgotten.push(id);
        }

        let mut read = Vec::new();
        if !to_read.is_empty() {
            progress.phase(RepairIndexPhase::ReadingPacks(to_read.len()));
            let results: Vec<(Id, Result<Vec<PackedBlob>>)> = to_read
                .par_iter()
                .map(|&(id, size)| (id, read_pack_header(self, &id, size)))
                .collect();
            for (id, result) in results {
                match result {
                    Ok(blobs) => read.push(IndexPack {
                        id,
                        blobs: blobs
                            .into_iter()
                            .map(|b| IndexBlob {
                                id: b.id,
                                blob_type: b.blob_type,
                                offset: b.offset,
                                length: b.length,
                                uncompressed_length: b.uncompressed_length,
                            })
                            .collect(),
                    }),
                    Err(e) => {
                        progress.warn(&format!("skipped incomplete pack file: {id}: {e}"));
                        report.packs_added.retain(|p| *p != id);
                        report.packs_reindexed.retain(|p| p.0 != id);
                        report.packs_skipped.push((id, e.to_string()));
                    }
                }
            }
        }
        cancel.check()?;

        progress.phase(RepairIndexPhase::RebuildingIndex);
        let packs = packs_except(index, &drop, read);
        report.index_files_written = write_index_files(self, packs, cancel)?;
        progress.phase(RepairIndexPhase::DeletingIndexFiles(old_files.len()));
        delete_index_files(self, &old_files)?;
        report.index_files_deleted = old_files;
        self.reload_index()?;
        Ok(report)
    }
}

fn header_entry_size(uncompressed_length: Option<u32>) -> u64 {
    entry_size(&PackedBlob {
        blob_type: cairn_format::BlobType::Data,
        id: Id::default(),
        offset: 0,
        length: 0,
        uncompressed_length,
    }) as u64
}

/// Reads, decrypts and checks the header of a pack of `size` bytes.
pub(crate) fn read_pack_header(repo: &Repository, id: &Id, size: u64) -> Result<Vec<PackedBlob>> {
    let bad = |why: String| Error::InvalidArgument(format!("pack {id}: {why}"));
    let min = (HEADER_LENGTH_SIZE + CRYPTO_OVERHEAD) as u64;
    if size < min {
        return Err(bad(format!("file of {size} bytes is too short")));
    }
    let name = id.to_hex();
    let backend = repo.backend();
    let tail = backend.read_range(FileType::Pack, &name, size - 4, 4)?;
    let tail: [u8; 4] = tail
        .as_slice()
        .try_into()
        .map_err(|_| bad("short read of the header length".into()))?;
    let header_len = header_length(tail);
    if u64::from(header_len) + 4 > size || header_len as usize + 4 > MAX_HEADER_SIZE {
        return Err(bad(format!("header length {header_len} is invalid")));
    }
    let sealed = backend.read_range(
        FileType::Pack,
        &name,
        size - 4 - u64::from(header_len),
        u64::from(header_len),
    )?;
    let plain = repo
        .key()
        .open(&sealed)
        .map_err(|e| bad(format!("header: {e}")))?;
    let blobs = parse_header(&plain).map_err(|e| bad(e.to_string()))?;
    if repo.config().version < 2 && blobs.iter().any(|b| b.uncompressed_length.is_some()) {
        return Err(bad("compressed blobs in a version 1 repository".into()));
    }
    check_pack_layout(&blobs, header_len, size).map_err(|e| bad(e.to_string()))?;
    Ok(blobs)
}
