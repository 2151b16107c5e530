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

/// Every pack of `index` except those in `drop`, with its blobs in pack
/// order, followed by `extra`; sorted by pack ID.
pub(crate) fn packs_except(
    index: &Index,
    drop: &BTreeSet<Id>,
    extra: Vec<IndexPack>,
) -> Vec<IndexPack> {
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

/// Writes `packs` as new index files of at most [`INDEX_FILE_BLOBS`]
/// blobs each; returns their IDs.
pub(crate) fn write_index_files(
    repo: &Repository,
    packs: Vec<IndexPack>,
    cancel: &crate::Cancel,
) -> Result<Vec<Id>> {
    let mut files: Vec<IndexFile> = Vec::new();
    let mut current = IndexFile::default();
    let mut blobs = 0;
    for pack in packs {
        if blobs > 0 && blobs + pack.blobs.len() > INDEX_FILE_BLOBS {
            files.push(std::mem::take(&mut current));
            blobs = 0;
        }
        blobs += pack.blobs.len();
        current.packs.push(pack);
    }
    if !current.packs.is_empty() {
        files.push(current);
    }
    let version = repo.config().version;
    files
        .par_iter()
        .map(|file| {
            cancel.check()?;
            let sealed = repo.key().seal(&encode_unpacked(version, &file.to_json()));
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
