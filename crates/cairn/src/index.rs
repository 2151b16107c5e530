//! The in-memory index: where every blob lives.
//!
//! Built from all index files of a repository. It is kept compact, since
//! large repositories hold many millions of blobs: each blob costs one
//! 48-byte entry (its ID, a pack number, offset, length and uncompressed
//! length) in a sorted vector per blob type, and each pack one 32-byte ID.
//! Lookups are binary searches.

use crate::repository::Repository;
use crate::{Error, Result};
use cairn_backend::FileType;
use cairn_format::{BlobType, Id, IndexFile, IndexPack};
use rayon::prelude::*;
use std::collections::HashMap;
pub(crate) use table::Entry;
use table::Table;

mod table;

/// Where a blob is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlobLocation {
    /// The blob's ID.
    pub id: Id,
    /// Data or tree.
    pub blob_type: BlobType,
    /// The pack file holding it.
    pub pack: Id,
    /// Offset of the encrypted blob in the pack.
    pub offset: u64,
    /// Length of the encrypted blob.
    pub length: u32,
    /// Length after decryption and decompression, if it is compressed.
    pub uncompressed_length: Option<u32>,
}

impl BlobLocation {
    /// The blob's plaintext size.
    pub fn plain_length(&self) -> u64 {
        match self.uncompressed_length {
            Some(n) => u64::from(n),
            None => u64::from(self.length).saturating_sub(cairn_crypto::OVERHEAD as u64),
        }
    }
}

/// All blobs of a repository and the packs they are in.
#[derive(Debug, Default)]
pub struct Index {
    packs: Vec<Id>,
    data: Table,
    trees: Table,
}

/// Blobs a writer has just stored, to add to a loaded index with
/// [`Index::with_new_blobs`]: entries whose pack numbers count in `packs`.
#[derive(Debug, Default)]
pub(crate) struct NewBlobs {
    /// The packs the entries are in.
    pub packs: Vec<Id>,
    /// Data blob entries, every one placed (see [`Entry::place`]).
    pub data: Vec<Entry>,
    /// Tree blob entries, every one placed.
    pub trees: Vec<Entry>,
}

impl NewBlobs {
    /// True if there is no blob.
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty() && self.trees.is_empty()
    }

    /// The blobs as one index file listing every pack (each pack's blobs
    /// in pack order).
    pub(crate) fn to_index_file(&self) -> IndexFile {
        let mut packs: Vec<IndexPack> = self
            .packs
            .iter()
            .map(|id| IndexPack {
                id: *id,
                blobs: Vec::new(),
            })
            .collect();
        for (entries, blob_type) in [(&self.data, BlobType::Data), (&self.trees, BlobType::Tree)] {
            for e in entries {
                let (pack, blob) = e.to_index_blob(blob_type);
                packs[pack as usize].blobs.push(blob);
            }
        }
        packs.retain(|p| !p.blobs.is_empty());
        for p in &mut packs {
            p.blobs.sort_by_key(|b| (b.offset, b.blob_type, b.id));
        }
        IndexFile { packs }
    }
}

/// Accumulates index files into an [`Index`].
#[derive(Debug, Default)]
pub struct IndexBuilder {
    packs: Vec<Id>,
    pack_numbers: HashMap<Id, u32>,
    data: Vec<Entry>,
    trees: Vec<Entry>,
}

impl IndexBuilder {
    /// Adds every blob of one index file.
    pub fn add(&mut self, file: &IndexFile) -> std::result::Result<(), String> {
        for pack in &file.packs {
            let next = self.packs.len() as u32;
            let number = *self.pack_numbers.entry(pack.id).or_insert(next);
            if number == next {
                self.packs.push(pack.id);
            }
            for blob in &pack.blobs {
                let offset = u32::try_from(blob.offset).map_err(|_| {
                    format!("pack {}: blob offset {} too large", pack.id, blob.offset)
                })?;
                let entry = Entry {
                    id: blob.id.0,
                    pack: number,
                    offset,
                    length: blob.length,
                    uncompressed_length: blob.uncompressed_length.unwrap_or(0),
                };
                match blob.blob_type {
                    BlobType::Data => self.data.push(entry),
                    BlobType::Tree => self.trees.push(entry),
                }
            }
        }
        Ok(())
    }

    /// Sorts and finishes the index. A blob listed twice for the same pack
    /// is kept once; a blob in several packs keeps every location.
    pub fn finish(self) -> Index {
        let mut data = self.data;
        let mut trees = self.trees;
        for v in [&mut data, &mut trees] {
            v.par_sort_unstable();
            v.dedup_by(|a, b| a.id == b.id && a.pack == b.pack);
            v.shrink_to_fit();
        }
        Index {
            packs: self.packs,
            data: Table::new(data),
            trees: Table::new(trees),
        }
    }
}

impl Index {
    /// Loads and merges every index file, in parallel. Files that cannot be
    /// read or parsed are returned as problems beside the index built from
    /// the others, so that everything still reachable can be used.
    ///
    /// Files are read and parsed by one thread per core and merged, one at
    /// a time, as they come; a parsed file waits only while the previous
    /// one is merged. So beside the index itself, at most about two parsed
    /// files per core are in memory, however many files there are.
    pub fn load(repo: &Repository) -> Result<(Index, Vec<Error>)> {
        crate::write::buffers::return_large_buffers();
        let ids = repo.list_ids(FileType::Index)?;
        let mut builder = IndexBuilder::default();
        let mut problems = Vec::new();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Result<IndexFile>)>(1);
        let readers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(ids.len());
        std::thread::scope(|s| {
            for _ in 0..readers {
                let (tx, next, ids) = (tx.clone(), &next, &ids);
                s.spawn(move || loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((id, _)) = ids.get(i) else { break };
                    let file = repo.load_unpacked(FileType::Index, id).and_then(|plain| {
                        IndexFile::from_json(&plain)
                            .map_err(|e| crate::repository::bad(FileType::Index, &id.to_hex(), e))
                    });
                    if tx.send((i, file)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for (i, file) in rx {
                match file {
                    Ok(file) => {
                        if let Err(msg) = builder.add(&file) {
                            let id = &ids[i].0;
                            problems.push(Error::InvalidArgument(format!("index/{id}: {msg}")));
                        }
                    }
                    Err(e) => problems.push(e),
                }
            }
        });
        Ok((builder.finish(), problems))
    }

    /// A new index holding this one's blobs and those of `files` (what a
    /// writer has just indexed). Builds new tables: O(n) once per
    /// operation, not per blob.
    pub fn with_files(&self, files: &[IndexFile]) -> std::result::Result<Index, String> {
        let mut builder = IndexBuilder {
            packs: self.packs.clone(),
            pack_numbers: (0u32..).zip(&self.packs).map(|(n, id)| (*id, n)).collect(),
            data: self.data.entries.clone(),
            trees: self.trees.entries.clone(),
        };
        for file in files {
            builder.add(file)?;
        }
        Ok(builder.finish())
    }

    /// A new index holding this one's blobs and `new`'s (what a writer
    /// has just stored). `new`'s vectors become the new tables (this
    /// index's entries are appended to them), so no second copy of the
    /// new blobs is made.
    pub(crate) fn with_new_blobs(&self, new: NewBlobs) -> Index {
        let NewBlobs {
            packs: new_packs,
            mut data,
            mut trees,
        } = new;
        let mut packs = self.packs.clone();
        let mut numbers: HashMap<Id, u32> = (0u32..).zip(&packs).map(|(n, id)| (*id, n)).collect();
        let renumber: Vec<u32> = new_packs
            .iter()
            .map(|id| {
                let next = packs.len() as u32;
                let n = *numbers.entry(*id).or_insert(next);
                if n == next {
                    packs.push(*id);
                }
                n
            })
            .collect();
        for (v, old) in [(&mut data, &self.data), (&mut trees, &self.trees)] {
            for e in v.iter_mut() {
                e.pack = renumber[e.pack as usize];
            }
            v.reserve_exact(old.entries.len());
            v.extend_from_slice(&old.entries);
        }
        IndexBuilder {
            packs,
            pack_numbers: HashMap::new(),
            data,
            trees,
        }
        .finish()
    }

    fn table(&self, blob_type: BlobType) -> &Table {
        match blob_type {
            BlobType::Data => &self.data,
            BlobType::Tree => &self.trees,
        }
    }

    fn location(&self, blob_type: BlobType, e: &Entry) -> BlobLocation {
        BlobLocation {
            id: Id(e.id),
            blob_type,
            pack: self.packs[e.pack as usize],
            offset: u64::from(e.offset),
            length: e.length,
            uncompressed_length: (e.uncompressed_length != 0).then_some(e.uncompressed_length),
        }
    }

    /// Every place a blob is stored (usually one).
    pub fn lookup_all(&self, blob_type: BlobType, id: &Id) -> Vec<BlobLocation> {
        self.table(blob_type)
            .find(&id.0)
            .iter()
            .map(|e| self.location(blob_type, e))
            .collect()
    }

    /// One place a blob is stored, if any.
    pub fn lookup(&self, blob_type: BlobType, id: &Id) -> Option<BlobLocation> {
        self.table(blob_type)
            .find(&id.0)
            .first()
            .map(|e| self.location(blob_type, e))
    }

    /// True if the blob is in the index.
    pub fn contains(&self, blob_type: BlobType, id: &Id) -> bool {
        self.lookup(blob_type, id).is_some()
    }

    /// Every stored blob location, data blobs first, each type sorted by ID.
    pub fn iter(&self) -> impl Iterator<Item = BlobLocation> + '_ {
        let data = self
            .data
            .entries
            .iter()
            .map(|e| self.location(BlobType::Data, e));
        let trees = self
            .trees
            .entries
            .iter()
            .map(|e| self.location(BlobType::Tree, e));
        data.chain(trees)
    }

    /// The positions of a blob's entries (one per copy, usually one; empty
    /// if the index does not know it). Positions number the entries in
    /// [`Index::iter`]'s order, from 0 to [`Index::len`], so that callers
    /// can keep a bit per blob instead of a set of IDs.
    pub(crate) fn positions(&self, blob_type: BlobType, id: &Id) -> std::ops::Range<usize> {
        let base = match blob_type {
            BlobType::Data => 0,
            BlobType::Tree => self.data.entries.len(),
        };
        let r = self.table(blob_type).find_range(&id.0);
        base + r.start..base + r.end
    }

    /// The location at a position (see [`Index::positions`]).
    ///
    /// # Panics
    /// If `position` is not below [`Index::len`].
    pub(crate) fn location_at(&self, position: usize) -> BlobLocation {
        match position.checked_sub(self.data.entries.len()) {
            None => self.location(BlobType::Data, &self.data.entries[position]),
            Some(p) => self.location(BlobType::Tree, &self.trees.entries[p]),
        }
    }

    /// The number (in [`Index::packs`]) of the pack of the entry at a
    /// position (see [`Index::positions`]).
    ///
    /// # Panics
    /// If `position` is not below [`Index::len`].
    pub(crate) fn pack_number_at(&self, position: usize) -> u32 {
        match position.checked_sub(self.data.entries.len()) {
            None => self.data.entries[position].pack,
            Some(p) => self.trees.entries[p].pack,
        }
    }

    /// The positions of each blob's copies, one range per blob, in
    /// [`Index::iter`]'s order (see [`Index::positions`]).
    pub(crate) fn blob_runs(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        fn runs(
            entries: &[Entry],
            base: usize,
        ) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
            let mut start = base;
            entries.chunk_by(|a, b| a.id == b.id).map(move |run| {
                let r = start..start + run.len();
                start = r.end;
                r
            })
        }
        runs(&self.data.entries, 0).chain(runs(&self.trees.entries, self.data.entries.len()))
    }

    /// Number of (blob, pack) entries.
    pub fn len(&self) -> usize {
        self.data.entries.len() + self.trees.entries.len()
    }

    /// True if the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every pack named in the index.
    pub fn packs(&self) -> &[Id] {
        &self.packs
    }

    /// Heap bytes held by the index, for measuring its compactness.
    pub fn heap_bytes(&self) -> usize {
        self.data.heap_bytes()
            + self.trees.heap_bytes()
            + self.packs.capacity() * std::mem::size_of::<Id>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_backend::Backend;
    use cairn_format::{IndexBlob, IndexPack};
    use proptest::prelude::*;

    fn file(pack: u8, blobs: &[(u8, BlobType, u64, u32, Option<u32>)]) -> IndexFile {
        IndexFile {
            packs: vec![IndexPack {
                id: Id([pack; 32]),
                blobs: blobs
                    .iter()
                    .map(
                        |&(id, blob_type, offset, length, uncompressed_length)| IndexBlob {
                            id: Id([id; 32]),
                            blob_type,
                            offset,
                            length,
                            uncompressed_length,
                        },
                    )
                    .collect(),
            }],
        }
    }

    #[test]
    fn entries_are_48_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 48);
    }

    #[test]
    fn lookups_separate_types_and_keep_every_pack() {
        let mut b = IndexBuilder::default();
        b.add(&file(
            1,
            &[
                (7, BlobType::Data, 0, 100, None),
                (8, BlobType::Tree, 100, 50, Some(70)),
            ],
        ))
        .unwrap();
        b.add(&file(2, &[(7, BlobType::Data, 10, 100, None)]))
            .unwrap();
        let idx = b.finish();
        assert_eq!(idx.len(), 3);
        assert!(idx.lookup(BlobType::Tree, &Id([7; 32])).is_none());
        let tree = idx.lookup(BlobType::Tree, &Id([8; 32])).unwrap();
        assert_eq!(
            (tree.pack, tree.offset, tree.length),
            (Id([1; 32]), 100, 50)
        );
        assert_eq!(tree.uncompressed_length, Some(70));
        assert_eq!(tree.plain_length(), 70);
        let all = idx.lookup_all(BlobType::Data, &Id([7; 32]));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].plain_length(), 68);
    }

    #[test]
    fn with_files_adds_new_packs_and_keeps_each_location_once() {
        let mut b = IndexBuilder::default();
        b.add(&file(1, &[(7, BlobType::Data, 0, 100, None)]))
            .unwrap();
        let idx = b.finish();
        let more = [
            file(2, &[(8, BlobType::Tree, 0, 50, Some(70))]),
            // A pack already known, listed again: no second entry.
            file(1, &[(7, BlobType::Data, 0, 100, None)]),
        ];
        let merged = idx.with_files(&more).unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged.packs(), [Id([1; 32]), Id([2; 32])]);
        let tree = merged.lookup(BlobType::Tree, &Id([8; 32])).unwrap();
        assert_eq!(tree.pack, Id([2; 32]));
        let data = merged.lookup_all(BlobType::Data, &Id([7; 32]));
        assert_eq!(data.len(), 1);
        assert_eq!(data[0].pack, Id([1; 32]));
        // The original is unchanged.
        assert_eq!(idx.len(), 1);
    }

    proptest! {
        #[test]
        fn every_added_blob_is_found(ids in proptest::collection::btree_set(any::<[u8; 32]>(), 0..3000)) {
            let mut b = IndexBuilder::default();
            let blobs: Vec<IndexBlob> = ids.iter().enumerate().map(|(i, id)| IndexBlob {
                id: Id(*id), blob_type: BlobType::Data, offset: i as u64 * 10, length: 10, uncompressed_length: None,
            }).collect();
            b.add(&IndexFile { packs: vec![IndexPack { id: Id([9; 32]), blobs }] }).unwrap();
            let idx = b.finish();
            for (i, id) in ids.iter().enumerate() {
                let loc = idx.lookup(BlobType::Data, &Id(*id)).unwrap();
                prop_assert_eq!(loc.offset, i as u64 * 10);
                prop_assert!(idx.lookup(BlobType::Tree, &Id(*id)).is_none());
                let mut other = *id;
                other[31] ^= 1;
                prop_assert_eq!(idx.contains(BlobType::Data, &Id(other)), ids.contains(&other));
            }
        }
    }

    proptest! {
        #[test]
        fn positions_and_runs_follow_iteration(blobs in proptest::collection::vec((0u8..20, any::<bool>(), 0u8..4), 0..200)) {
            let mut b = IndexBuilder::default();
            for (i, &(id, tree, pack)) in blobs.iter().enumerate() {
                let t = if tree { BlobType::Tree } else { BlobType::Data };
                b.add(&file(pack, &[(id, t, i as u64 * 10, 10, None)])).unwrap();
            }
            let idx = b.finish();
            let all: Vec<BlobLocation> = idx.iter().collect();
            let mut next = 0;
            for run in idx.blob_runs() {
                prop_assert_eq!(run.start, next);
                prop_assert!(!run.is_empty());
                next = run.end;
                let first = all[run.start];
                for p in run.clone() {
                    prop_assert_eq!(idx.location_at(p), all[p]);
                    prop_assert_eq!((all[p].blob_type, all[p].id), (first.blob_type, first.id));
                }
                prop_assert_eq!(idx.positions(first.blob_type, &first.id), run);
            }
            prop_assert_eq!(next, all.len());
            for id in 0u8..25 {
                for t in [BlobType::Data, BlobType::Tree] {
                    let copies = all.iter().filter(|l| l.blob_type == t && l.id == Id([id; 32])).count();
                    prop_assert_eq!(idx.positions(t, &Id([id; 32])).len(), copies);
                }
            }
        }
    }

    #[test]
    fn load_merges_files_across_batches_and_reports_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let backend = std::sync::Arc::new(cairn_backend::LocalBackend::new(dir.path()));
        let opts = crate::InitOptions {
            scrypt: Some(cairn_crypto::ScryptParams {
                n: 1024,
                r: 8,
                p: 1,
            }),
            ..crate::InitOptions::default()
        };
        let repo = Repository::init(backend.clone(), "pw", &opts).unwrap();
        // Many more files than reader threads.
        let files = 40;
        for i in 0..files {
            let f = file(i as u8, &[(i as u8, BlobType::Data, 0, 100, None)]);
            repo.save_unpacked(FileType::Index, &f.to_json()).unwrap();
        }
        backend
            .write(FileType::Index, &Id([0xee; 32]).to_hex(), b"not an index")
            .unwrap();
        let (idx, problems) = Index::load(&repo).unwrap();
        assert_eq!(idx.len(), files);
        for i in 0..files {
            let loc = idx.lookup(BlobType::Data, &Id([i as u8; 32])).unwrap();
            assert_eq!(loc.pack, Id([i as u8; 32]));
        }
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
