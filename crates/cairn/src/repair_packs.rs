//! `repair packs`: salvage the intact blobs of damaged packs, as restic
//! does.
//!
//! For each named pack, every blob the index lists in it (and every blob
//! its own header lists, if the header is readable and disagrees with the
//! index) is read, decrypted and checked against its ID; the intact ones
//! are copied into new packs, the damaged ones are reported and lost. In
//! crash-safe order, the new packs are written, then a new set of index
//! files describing every other pack plus the new ones, then the old index
//! files are deleted, and last the damaged packs. Snapshots that used the
//! lost blobs are fixed afterwards with `repair snapshots`. It runs under
//! an exclusive lock, whose guard it takes.
//!
//! ```no_run
//! use std::collections::BTreeSet;
//! use std::sync::Arc;
//! use cairn::write::WriteOptions;
//! use cairn::{Id, LocalBackend, Repository};
//!
//! let mut repo = Repository::open(Arc::new(LocalBackend::new("/srv/repo")), "secret")?;
//! let damaged: BTreeSet<Id> = [Id::from_hex(&"ab".repeat(32)).unwrap()].into();
//! let lock = repo.lock(true, None)?;
//! let cancel = cairn::Cancel::new();
//! let report = repo.repair_packs(&lock, &damaged, &WriteOptions::default(), &cairn::NoProgress, &cancel)?;
//! println!("{} blobs lost", report.blobs_lost.len());
//! # Ok::<(), cairn::Error>(())
//! ```

use crate::index::BlobLocation;
use crate::prune::index_files::{delete_index_files, packs_except, write_index_files};
use crate::prune::repack::Packer;
use crate::repair_index::read_pack_header;
use crate::rewrite::load_index_strictly;
use crate::write::WriteOptions;
use crate::{Error, LockGuard, Repository, Result};
use cairn_backend::FileType;
use cairn_format::{BlobType, Id};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The steps of `repair packs`, reported as they start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepairPacksPhase {
    /// Copying the intact blobs out of this many packs.
    Salvaging(usize),
    /// Writing the new index files.
    RebuildingIndex,
    /// Deleting this many damaged packs.
    RemovingPacks(usize),
}

/// Receives progress and warnings from `repair packs`; [`NoProgress`](crate::NoProgress) ignores them.
pub trait RepairPacksProgress: Sync {
    /// A step starts.
    fn phase(&self, _phase: RepairPacksPhase) {}
    /// A blob or pack could not be read, or another problem (one line).
    fn warn(&self, _message: &str) {}
    /// One pack was salvaged.
    fn pack_done(&self) {}
}

/// What `repair packs` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairPacksReport {
    /// Blobs copied into new packs.
    pub blobs_salvaged: Vec<(BlobType, Id)>,
    /// Blobs that could not be read, with the reason; they are lost.
    pub blobs_lost: Vec<(BlobType, Id, String)>,
    /// New packs.
    pub packs_written: Vec<Id>,
    /// New index files.
    pub index_files_written: Vec<Id>,
    /// Old index files deleted.
    pub index_files_deleted: Vec<Id>,
    /// Damaged packs deleted.
    pub packs_deleted: Vec<Id>,
    /// Damaged packs that could not be deleted (prune removes them later).
    pub delete_failures: Vec<String>,
}

impl Repository {
    /// Salvages the packs `ids` under `lock` (exclusive); see the module
    /// docs. Stops (with [`Error::Interrupted`]) once `cancel` is
    /// cancelled.
    ///
    /// The index is read again afterwards, so that it matches the new
    /// index files.
    pub fn repair_packs(
        &mut self,
        lock: &LockGuard,
        ids: &BTreeSet<Id>,
        write: &WriteOptions,
        progress: &dyn RepairPacksProgress,
        cancel: &crate::Cancel,
    ) -> Result<RepairPacksReport> {
        lock.allows(self, "repair packs", true)?;
        cancel.check()?;
        self.set_strict_listings(true);
        load_index_strictly(self)?;
        let old_index_files: Vec<Id> = self
            .list_ids(FileType::Index)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let sizes: HashMap<Id, u64> = self.list_ids(FileType::Pack)?.into_iter().collect();
        let mut in_index: HashMap<Id, Vec<BlobLocation>> = HashMap::new();
        for loc in self.index().iter() {
            if ids.contains(&loc.pack) {
                in_index.entry(loc.pack).or_default().push(loc);
            }
        }
        let mut report = RepairPacksReport::default();
        progress.phase(RepairPacksPhase::Salvaging(ids.len()));
        let packer = Packer::new(self, write);
        for pack in ids {
            cancel.check()?;
            let from_index = in_index.remove(pack).unwrap_or_default();
            let from_header = sizes.get(pack).and_then(|&size| {
                read_pack_header(self, pack, size).ok().map(|blobs| {
                    blobs
                        .into_iter()
                        .map(|b| BlobLocation {
                            id: b.id,
                            blob_type: b.blob_type,
                            pack: *pack,
                            offset: b.offset,
                            length: b.length,
                            uncompressed_length: b.uncompressed_length,
                        })
                        .collect::<Vec<_>>()
                })
            });
            salvage_pack(
                self,
                &packer,
                pack,
                &from_index,
                from_header,
                progress,
                &mut report,
            )?;
            progress.pack_done();
        }
        let new_packs = packer.finish()?;
        report.packs_written = new_packs.iter().map(|p| p.id).collect();

        cancel.check()?;
        progress.phase(RepairPacksPhase::RebuildingIndex);
        let packs = packs_except(self.index(), ids, new_packs);
        report.index_files_written = write_index_files(self, packs, cancel)?;
        delete_index_files(self, &old_index_files)?;
        report.index_files_deleted = old_index_files;

        progress.phase(RepairPacksPhase::RemovingPacks(ids.len()));
        for pack in ids {
            match self.backend().remove(FileType::Pack, &pack.to_hex()) {
                Ok(()) => report.packs_deleted.push(*pack),
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    let msg = format!("failed to delete pack file {pack}: {e}");
                    progress.warn(&msg);
                    report.delete_failures.push(msg);
                }
            }
        }
        self.reload_index()?;
        Ok(report)
    }
}

/// Copies the intact blobs of one pack: those the index lists, and those
/// its header lists when that differs from the index.
fn salvage_pack(
    repo: &Repository,
    packer: &Packer,
    pack: &Id,
    from_index: &[BlobLocation],
    from_header: Option<Vec<BlobLocation>>,
    progress: &dyn RepairPacksProgress,
    report: &mut RepairPacksReport,
) -> Result<()> {
    let bytes = match repo.backend().read(FileType::Pack, &pack.to_hex()) {
        Ok(b) => b,
        Err(e) => {
            progress.warn(&format!(
                "will remove packfile {pack} due to failed download: {e}"
            ));
            return Ok(());
        }
    };
    let key = |l: &BlobLocation| (l.blob_type, l.id, l.offset, l.length);
    let index_set: HashSet<_> = from_index.iter().map(key).collect();
    let mut todo: Vec<BlobLocation> = from_index.to_vec();
    if let Some(header) = from_header {
        let header_set: HashSet<_> = header.iter().map(key).collect();
        if header_set != index_set {
            progress.warn(&format!("repairing incomplete index entry for pack {pack}"));
            todo.extend(header.into_iter().filter(|l| !index_set.contains(&key(l))));
        }
    }
    if todo.is_empty() {
        progress.warn(&format!("no blobs found for pack {pack}"));
    }
    todo.sort_by_key(|l| l.offset);
    let mut done: HashSet<(BlobType, Id)> = HashSet::new();
    for loc in todo {
        if done.contains(&(loc.blob_type, loc.id)) {
            continue;
        }
        let start = loc.offset as usize;
        let stored = bytes
            .get(start..start + loc.length as usize)
            .map(<[u8]>::to_vec);
        let plain = match stored {
            Some(stored) => repo.decode_blob(&loc, stored),
            None => Err(Error::BadBlob {
                pack: loc.pack,
                blob_type: loc.blob_type,
                id: loc.id,
                reason: "pack file is truncated".into(),
            }),
        };
        // The damage may have been in transit: the blob's range is read
        // again (bounded, see `crate::reread`) before it counts as lost.
        let plain = plain
            .or_else(|_| repo.load_blob_at(&loc))
            .map_err(|e| e.to_string());
        match plain {
            Ok(plain) => {
                packer.save(loc.blob_type, loc.id, &plain)?;
                done.insert((loc.blob_type, loc.id));
                report.blobs_salvaged.push((loc.blob_type, loc.id));
            }
            Err(reason) => {
                progress.warn(&format!("failed to load blob {}: {reason}", loc.id));
                report.blobs_lost.push((loc.blob_type, loc.id, reason));
            }
        }
    }
    Ok(())
}
