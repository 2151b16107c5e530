//! Stage 1: loading every index file on its own, so damage is named.

use super::{CheckIssue, Sink, Stage};
use crate::index::{Index, IndexBuilder};
use crate::repository::{bad, Repository};
use crate::Result;
use cairn_backend::FileType;
use cairn_format::pack::{CRYPTO_OVERHEAD, ENTRY_SIZE_COMPRESSED, ENTRY_SIZE_UNCOMPRESSED};
use cairn_format::{BlobType, Id, IndexFile, HEADER_LENGTH_SIZE};
use rayon::prelude::*;
use std::collections::HashMap;

/// A pack as the index describes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PackSummary {
    /// The file size the index entries imply: every blob, the header
    /// entries, the header's encryption overhead and its length field.
    pub expected_size: u64,
    /// Number of blobs.
    pub blobs: u64,
    /// Holds data blobs.
    pub data: bool,
    /// Holds tree blobs.
    pub tree: bool,
}

/// The merged index and what the check needs to know about its packs.
pub(crate) struct Loaded {
    /// Every blob of every readable index file.
    pub index: Index,
    /// Number of index files, damaged ones included.
    pub index_files: usize,
    /// Every pack the index lists.
    pub packs: HashMap<Id, PackSummary>,
}

impl Loaded {
    /// Every pack with its expected size, sorted by ID.
    pub fn pack_sizes(&self) -> Vec<(Id, u64)> {
        let mut v: Vec<(Id, u64)> = self
            .packs
            .iter()
            .map(|(id, p)| (*id, p.expected_size))
            .collect();
        v.sort();
        v
    }
}

/// Loads one index file and checks what can be checked without the
/// others: compressed blobs are only allowed in v2 repositories.
fn load_one(repo: &Repository, id: &Id) -> Result<IndexFile> {
    let plain = repo.load_unpacked(FileType::Index, id)?;
    let file = IndexFile::from_json(&plain).map_err(|e| bad(FileType::Index, &id.to_hex(), e))?;
    Ok(file)
}

/// Loads every index file, reporting damaged ones, packs listed by several
/// index files and packs mixing data and tree blobs.
pub(crate) fn load_indexes(repo: &Repository, sink: &Sink) -> Result<Loaded> {
    let mut ids = repo.list_ids(FileType::Index)?;
    ids.sort();
    let files: Vec<Result<IndexFile>> = ids.par_iter().map(|(id, _)| load_one(repo, id)).collect();
    let version = repo.config().version;
    let mut builder = IndexBuilder::default();
    let mut pack_to_index: HashMap<Id, Vec<Id>> = HashMap::new();
    for ((id, _), file) in ids.iter().zip(files) {
        let issue = |msg: String| CheckIssue::new(Stage::Index, msg).file(FileType::Index, *id);
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                sink.error(issue(format!("error loading index {id}: {e}")));
                continue;
            }
        };
        if version < 2 {
            let compressed = file
                .packs
                .iter()
                .flat_map(|p| p.blobs.iter().map(move |b| (p.id, b)))
                .find(|(_, b)| b.uncompressed_length.is_some());
            if let Some((pack, b)) = compressed {
                sink.error(issue(format!(
                    "error loading index {id}: pack {pack}: blob {} is compressed, but the repository is version {version}",
                    b.id
                )));
                continue;
            }
        }
        if let Err(msg) = builder.add(&file) {
            sink.error(issue(format!("error loading index {id}: {msg}")));
            continue;
        }
        for pack in &file.packs {
            let files = pack_to_index.entry(pack.id).or_default();
            if files.last() != Some(id) {
                files.push(*id);
            }
        }
    }
    let index = builder.finish();
    let packs = summarize(&index);
    let mut sorted: Vec<_> = packs.iter().collect();
    sorted.sort_by_key(|(id, _)| **id);
    for (pack, summary) in sorted {
        if let Some(files) = pack_to_index.get(pack).filter(|f| f.len() > 1) {
            let names: Vec<String> = files.iter().map(Id::short).collect();
            sink.hint(
                CheckIssue::new(
                    Stage::Index,
                    format!(
                        "pack {pack} contained in several indexes: {{{}}}",
                        names.join(" ")
                    ),
                )
                .file(FileType::Pack, *pack),
            );
        }
        if summary.data && summary.tree {
            sink.hint(
                CheckIssue::new(
                    Stage::Packs,
                    format!(
                        "pack {} contains a mix of tree and data blobs",
                        pack.short()
                    ),
                )
                .file(FileType::Pack, *pack),
            );
        }
    }
    Ok(Loaded {
        index,
        index_files: ids.len(),
        packs,
    })
}

/// Sums up each pack's blobs as restic computes a pack's size from the
/// index.
fn summarize(index: &Index) -> HashMap<Id, PackSummary> {
    let empty = (CRYPTO_OVERHEAD + HEADER_LENGTH_SIZE) as u64;
    let mut packs: HashMap<Id, PackSummary> = HashMap::with_capacity(index.packs().len());
    for loc in index.iter() {
        let p = packs.entry(loc.pack).or_insert(PackSummary {
            expected_size: empty,
            ..PackSummary::default()
        });
        let entry = if loc.uncompressed_length.is_some() {
            ENTRY_SIZE_COMPRESSED
        } else {
            ENTRY_SIZE_UNCOMPRESSED
        };
        p.expected_size += u64::from(loc.length) + entry as u64;
        p.blobs += 1;
        match loc.blob_type {
            BlobType::Data => p.data = true,
            BlobType::Tree => p.tree = true,
        }
    }
    packs
}
