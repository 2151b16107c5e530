//! Classifying packs by how much of them is used (restic's
//! `packInfoFromIndex`).

use super::used::{BlobSet, UsedBlobs};
use super::{PruneProgress, PruneStats};
use crate::index::Index;
use crate::{Error, Result};
use cairn_format::pack::{CRYPTO_OVERHEAD, HEADER_LENGTH_SIZE};
use cairn_format::{entry_size, BlobType, Id, PackedBlob};
use std::collections::{BTreeSet, HashMap};

/// Which blob types a pack holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PackKind {
    /// No blob seen yet.
    Empty,
    /// Data blobs only.
    Data,
    /// Tree blobs only.
    Tree,
    /// Both (allowed in version 1 repositories only; always repacked).
    Mixed,
}

/// What one pack holds, as far as the index tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackInfo {
    pub used_blobs: u64,
    pub unused_blobs: u64,
    pub duplicate_blobs: u64,
    /// Stored bytes of used blobs, plus the header (so that used + unused
    /// is the pack's file size).
    pub used_size: u64,
    pub unused_size: u64,
    pub kind: PackKind,
    /// True if some blob in it is stored uncompressed.
    pub uncompressed: bool,
}

impl PackInfo {
    /// The pack's file size according to the index.
    pub fn size(&self) -> u64 {
        self.used_size + self.unused_size
    }
}

/// The result of [`classify`].
pub(crate) struct Classified {
    pub packs: HashMap<Id, PackInfo>,
    pub stats: PruneStats,
}

/// The size of a blob's header entry.
fn header_entry(uncompressed_length: Option<u32>) -> u64 {
    entry_size(&PackedBlob {
        blob_type: BlobType::Data,
        id: Id::default(),
        offset: 0,
        length: 0,
        uncompressed_length,
    }) as u64
}

/// Counts used, duplicate and unused blobs per pack. Every used blob must
/// be in the index; otherwise prune is refused with "index is not
/// complete".
///
/// A blob stored several times is counted as used once: preferably in a
/// pack that holds other used blobs, or in a pack made only of duplicates
/// (as an interrupted prune leaves behind); otherwise in the last pack
/// seen. Its other copies count as duplicates, i.e. unused.
///
/// The index's copies of a blob are next to each other (see
/// [`Index::blob_runs`]), so a blob's copy count needs no table.
pub(crate) fn classify(
    index: &Index,
    used: &UsedBlobs,
    progress: &dyn PruneProgress,
) -> Result<Classified> {
    let missing = used.unknown();
    if !missing.is_empty() {
        let shown: Vec<String> = missing
            .iter()
            .take(20)
            .map(|(t, id)| format!("{t} blob {id}"))
            .collect();
        let more = if missing.len() > shown.len() {
            format!("\n  ... and {} more", missing.len() - shown.len())
        } else {
            String::new()
        };
        progress.warn(&format!(
            "{} used blobs not found in the index:\n  {}{more}\n\n\
             Integrity check failed: Data seems to be missing.\n\
             Will not start prune to prevent (additional) data loss!\n\
             If the packs holding them still exist, run `repair index`; \
             then run `check`.",
            missing.len(),
            shown.join("\n  ")
        ));
        return Err(Error::Inconsistent(format!(
            "index is not complete: {} used blobs not found in the index",
            missing.len()
        )));
    }

    let mut stats = PruneStats::default();
    let mut packs: HashMap<Id, PackInfo> = HashMap::new();
    let mut has_duplicates = false;
    for run in index.blob_runs() {
        // How many copies the index holds of a used blob (saturating).
        let copies = used
            .is_used_at(run.start)
            .then(|| u8::try_from(run.len()).unwrap_or(u8::MAX));
        for position in run {
            let loc = index.location_at(position);
            let info = packs.entry(loc.pack).or_insert(PackInfo {
                used_blobs: 0,
                unused_blobs: 0,
                duplicate_blobs: 0,
                used_size: (HEADER_LENGTH_SIZE + CRYPTO_OVERHEAD) as u64,
                unused_size: 0,
                kind: PackKind::Empty,
                uncompressed: false,
            });
            info.used_size += header_entry(loc.uncompressed_length);
            info.kind = match (info.kind, loc.blob_type) {
                (PackKind::Empty, BlobType::Data) | (PackKind::Data, BlobType::Data) => {
                    PackKind::Data
                }
                (PackKind::Empty, BlobType::Tree) | (PackKind::Tree, BlobType::Tree) => {
                    PackKind::Tree
                }
                _ => PackKind::Mixed,
            };
            let size = u64::from(loc.length);
            match copies {
                Some(c) if c >= 2 => {
                    has_duplicates = true;
                    info.unused_size += size;
                    info.unused_blobs += 1;
                    info.duplicate_blobs += 1;
                    stats.duplicate.add(size);
                }
                Some(_) => {
                    info.used_size += size;
                    info.used_blobs += 1;
                    stats.used.add(size);
                }
                None => {
                    info.unused_size += size;
                    info.unused_blobs += 1;
                    stats.unused.add(size);
                }
            }
            if loc.uncompressed_length.is_none() {
                info.uncompressed = true;
            }
        }
    }

    if has_duplicates {
        // Pick one copy of each duplicated blob as the used one. A count
        // of 0 marks "one candidate left": the next copy seen is taken.
        for run in index.blob_runs() {
            if run.len() < 2 || !used.is_used_at(run.start) {
                continue;
            }
            let mut count = u8::try_from(run.len()).unwrap_or(u8::MAX);
            for position in run {
                if count == 1 {
                    break;
                }
                let loc = index.location_at(position);
                let info = packs.get_mut(&loc.pack).expect("pack counted above");
                let size = u64::from(loc.length);
                if info.used_blobs > 0 || info.duplicate_blobs == info.unused_blobs || count == 0 {
                    info.used_size += size;
                    info.used_blobs += 1;
                    info.unused_size -= size;
                    info.unused_blobs -= 1;
                    stats.used.add(size);
                    stats.duplicate.sub(size);
                    count = 1;
                } else {
                    count -= 1;
                    if count == 1 {
                        count = 0;
                    }
                }
            }
            debug_assert_eq!(count, 1);
        }
    }
    Ok(Classified { packs, stats })
}

/// The used blobs to copy when `repack` is repacked: those with no copy
/// in a pack that stays (neither repacked nor removed).
pub(crate) fn blobs_to_copy(
    index: &Index,
    used: &UsedBlobs,
    repack: &BTreeSet<Id>,
    remove: &BTreeSet<Id>,
) -> BlobSet {
    let mut keep = BlobSet::new();
    for run in index.blob_runs() {
        if !used.is_used_at(run.start) {
            continue;
        }
        let stays = run.clone().any(|p| {
            let pack = index.location_at(p).pack;
            !repack.contains(&pack) && !remove.contains(&pack)
        });
        if !stays {
            let loc = index.location_at(run.start);
            keep.insert((loc.blob_type, loc.id));
        }
    }
    keep
}
