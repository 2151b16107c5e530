//! Rewriting the index and deleting files, shared by prune and
//! `repair index`.

use super::PruneReport;
use crate::index::Index;
use crate::repository::Repository;
use crate::{Error, Result};
use cairn_backend::FileType;
use cairn_format::{encode_unpacked, Id, IndexBlob, IndexFile, IndexPack};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// An index file is finished once it lists this many blobs (restic's
/// threshold); a pack is never split across files.
pub(crate) const INDEX_FILE_BLOBS: usize = 50_000;

/// Where one pack's blobs come from when the index is rewritten.
enum PackBlobs {
    /// These entries of [`PackList::positions`].
    Indexed(std::ops::Range<usize>),
    /// Blobs given by the caller (a pack written or read since).
    Given(Vec<IndexBlob>),
}

/// The packs a new set of index files lists, in pack-ID order, each with
/// its blobs in pack order. Blobs already in the loaded index are kept as
/// positions in it (see [`Index::positions`]) and turned into index
/// records one file at a time, so that rewriting the index of millions of
/// blobs holds a few bytes per blob beside the index, not a second copy
/// of it.
pub(crate) struct PackList<'a> {
    index: &'a Index,
    /// Index positions of the blobs listed, pack by pack.
    positions: Vec<usize>,
    packs: Vec<(Id, PackBlobs)>,
}

impl PackList<'_> {
    fn blob_count(&self, pack: &PackBlobs) -> usize {
        match pack {
            PackBlobs::Indexed(r) => r.len(),
            PackBlobs::Given(blobs) => blobs.len(),
        }
    }

    /// The index file listing `packs[range]`.
    fn file(&self, range: std::ops::Range<usize>) -> IndexFile {
        let packs = self.packs[range]
            .iter()
            .map(|(id, blobs)| IndexPack {
                id: *id,
                blobs: match blobs {
                    PackBlobs::Indexed(r) => self.positions[r.clone()]
                        .iter()
                        .map(|&p| {
                            let loc = self.index.location_at(p);
                            IndexBlob {
                                id: loc.id,
                                blob_type: loc.blob_type,
                                offset: loc.offset,
                                length: loc.length,
                                uncompressed_length: loc.uncompressed_length,
                            }
                        })
                        .collect(),
                    PackBlobs::Given(blobs) => blobs.clone(),
                },
            })
            .collect();
        IndexFile { packs }
    }
}

/// Every pack of `index` except those in `drop`, with its blobs in pack
/// order, and the packs of `extra` (which replace an indexed pack of the
/// same ID); sorted by pack ID.
pub(crate) fn packs_except<'a>(
    index: &'a Index,
    drop: &BTreeSet<Id>,
    extra: Vec<IndexPack>,
) -> PackList<'a> {
    let extra: BTreeMap<Id, Vec<IndexBlob>> = extra.into_iter().map(|p| (p.id, p.blobs)).collect();
    let pack_ids = index.packs();
    let listed = |n: usize| !drop.contains(&pack_ids[n]) && !extra.contains_key(&pack_ids[n]);
    // Count the blobs of each listed pack, then place each blob's position
    // in its pack's slot, packs in ID order.
    let mut counts = vec![0usize; pack_ids.len()];
    for p in 0..index.len() {
        counts[index.pack_number_at(p) as usize] += 1;
    }
    let mut by_id: Vec<usize> = (0..pack_ids.len())
        .filter(|&n| listed(n) && counts[n] > 0)
        .collect();
    by_id.sort_unstable_by_key(|&n| pack_ids[n]);
    let mut next = vec![0usize; pack_ids.len()];
    let mut ranges = Vec::with_capacity(by_id.len());
    let mut total = 0;
    for &n in &by_id {
        next[n] = total;
        ranges.push(total..total + counts[n]);
        total += counts[n];
    }
    let mut positions = vec![0usize; total];
    for p in 0..index.len() {
        let n = index.pack_number_at(p) as usize;
        if listed(n) {
            positions[next[n]] = p;
            next[n] += 1;
        }
    }
    let mut packs: Vec<(Id, PackBlobs)> = Vec::with_capacity(by_id.len() + extra.len());
    for (&n, range) in by_id.iter().zip(ranges) {
        positions[range.clone()].sort_unstable_by_key(|&p| {
            let loc = index.location_at(p);
            (loc.offset, loc.blob_type, loc.id)
        });
        packs.push((pack_ids[n], PackBlobs::Indexed(range)));
    }
    for (id, mut blobs) in extra {
        blobs.sort_by_key(|b| (b.offset, b.blob_type, b.id));
        packs.push((id, PackBlobs::Given(blobs)));
    }
    packs.sort_by_key(|(id, _)| *id);
    PackList {
        index,
        positions,
        packs,
    }
}

/// Writes `packs` as new index files of at most [`INDEX_FILE_BLOBS`]
/// blobs each; returns their IDs. Each file's records and JSON exist
/// only while it is written (one file per core at a time).
pub(crate) fn write_index_files(
    repo: &Repository,
    packs: PackList<'_>,
    cancel: &crate::Cancel,
) -> Result<Vec<Id>> {
    let mut files: Vec<std::ops::Range<usize>> = Vec::new();
    let (mut start, mut blobs) = (0, 0);
    for (i, (_, pack)) in packs.packs.iter().enumerate() {
        let n = packs.blob_count(pack);
        if blobs > 0 && blobs + n > INDEX_FILE_BLOBS {
            files.push(start..i);
            (start, blobs) = (i, 0);
        }
        blobs += n;
    }
    if start < packs.packs.len() {
        files.push(start..packs.packs.len());
    }
    let version = repo.config().version;
    files
        .into_par_iter()
        .map(|range| {
            cancel.check()?;
            let json = packs.file(range).to_json();
            let sealed = repo.key().seal(&encode_unpacked(version, &json));
            drop(json);
            let id = Id::hash(&sealed);
            repo.backend()
                .write(FileType::Index, &id.to_hex(), &sealed)?;
            Ok(id)
        })
        .collect()
}

/// Deletes index files; any failure is an error (a stale index file
/// would name packs about to be deleted).
pub(crate) fn delete_index_files(repo: &Repository, ids: &[Id]) -> Result<()> {
    ids.par_iter().try_for_each(|id| {
        repo.backend()
            .remove(FileType::Index, &id.to_hex())
            .map_err(|e| {
                Error::InvalidArgument(format!(
                    "unable to remove index/{id} from the repository: {e}"
                ))
            })
    })
}

/// Deletes files whose loss is harmless if it fails (packs no index
/// names): failures are recorded in the report, not returned.
pub(crate) fn delete_files(
    repo: &Repository,
    file_type: FileType,
    ids: &[Id],
    report: &mut PruneReport,
) {
    let results: Vec<(Id, std::result::Result<(), String>)> = ids
        .par_iter()
        .map(|id| {
            let r = repo.backend().remove(file_type, &id.to_hex());
            (*id, r.map_err(|e| e.to_string()))
        })
        .collect();
    for (id, r) in results {
        match r {
            Ok(()) => report.packs_deleted.push(id),
            Err(e) => report.delete_failures.push(format!(
                "unable to remove {file_type}/{id} from the repository: {e}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexBuilder;
    use cairn_format::BlobType;
    use proptest::prelude::*;

    /// What `packs_except` listed when it built every record at once.
    fn model(index: &Index, drop: &BTreeSet<Id>, extra: Vec<IndexPack>) -> Vec<IndexPack> {
        let mut by_pack: BTreeMap<Id, Vec<IndexBlob>> = BTreeMap::new();
        for loc in index.iter() {
            if drop.contains(&loc.pack) {
                continue;
            }
            by_pack.entry(loc.pack).or_default().push(IndexBlob {
                id: loc.id,
                blob_type: loc.blob_type,
                offset: loc.offset,
                length: loc.length,
                uncompressed_length: loc.uncompressed_length,
            });
        }
        for pack in extra {
            by_pack.insert(pack.id, pack.blobs);
        }
        by_pack
            .into_iter()
            .map(|(id, mut blobs)| {
                blobs.sort_by_key(|b| (b.offset, b.blob_type, b.id));
                IndexPack { id, blobs }
            })
            .collect()
    }

    fn blob(id: u8, tree: bool, offset: u64) -> IndexBlob {
        IndexBlob {
            id: Id([id; 32]),
            blob_type: if tree { BlobType::Tree } else { BlobType::Data },
            offset,
            length: 10 + u32::from(id),
            uncompressed_length: id.is_multiple_of(2).then_some(99),
        }
    }

    proptest! {
        /// The packs listed, their order and each pack's blobs in pack
        /// order are as the model's; batches split between packs only.
        #[test]
        fn lists_what_the_model_lists(
            blobs in proptest::collection::vec((0u8..50, any::<bool>(), 0u8..8, 0u64..20), 0..150),
            dropped in proptest::collection::btree_set(0u8..8, 0..4),
            extra in proptest::collection::vec((4u8..12, proptest::collection::vec((0u8..50, any::<bool>(), 0u64..20), 1..5)), 0..3),
        ) {
            let mut b = IndexBuilder::default();
            for &(id, tree, pack, offset) in &blobs {
                b.add(&IndexFile { packs: vec![IndexPack { id: Id([pack; 32]), blobs: vec![blob(id, tree, offset * 100)] }] }).unwrap();
            }
            let index = b.finish();
            let drop: BTreeSet<Id> = dropped.iter().map(|&p| Id([p; 32])).collect();
            // Extra packs have distinct IDs, as packs written or read do.
            let mut seen = BTreeSet::new();
            let extra: Vec<IndexPack> = extra
                .into_iter()
                .filter(|(p, _)| seen.insert(*p))
                .map(|(p, bs)| IndexPack { id: Id([p; 32]), blobs: bs.iter().map(|&(id, t, o)| blob(id, t, o * 100)).collect() })
                .collect();
            let list = packs_except(&index, &drop, extra.clone());
            let all = list.file(0..list.packs.len());
            prop_assert_eq!(all.packs, model(&index, &drop, extra));
        }
    }
}
