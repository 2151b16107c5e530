//! The blobs one writer has stored, and where they went.
//!
//! Every blob a [`super::BlobWriter`] stores is recorded here when a
//! thread claims it (so that another thread saving the same blob skips
//! it), and given its place once its pack is uploaded. The record is the
//! index entry itself (48 bytes, see [`Entry`]), kept once: the set that
//! deduplicates and the list that later extends the loaded index are the
//! same memory. A hash table of 4-byte slots points into those lists.
//! (Before, a hash set of IDs and a list of index records beside it took
//! about 130 bytes per blob; this takes about 60.)

use crate::index::{Entry, NewBlobs};
use cairn_format::{BlobType, Id, PackedBlob};
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

/// Shards, each with its own lock, to keep contention low.
const SHARDS: usize = 16;

/// A slot's mark for a tree blob (the other bits: 1 + its list position).
const TREE_BIT: u32 = 1 << 31;

/// Blobs known to one writer, sharded by the first byte of their ID.
pub(super) struct KnownBlobs {
    shards: Vec<Mutex<Shard>>,
    /// Seeded per process, so that slot positions cannot be predicted
    /// from blob IDs (which file contents choose).
    hasher: std::collections::hash_map::RandomState,
}

/// One shard: an open-addressing table (linear probing, at most 3/4
/// full) over two lists of entries.
#[derive(Default)]
struct Shard {
    /// 0: empty; otherwise [`TREE_BIT`] for a tree, or-ed with 1 + the
    /// entry's position in `trees` or `data`.
    slots: Vec<u32>,
    data: Vec<Entry>,
    trees: Vec<Entry>,
}

impl Shard {
    fn len(&self) -> usize {
        self.data.len() + self.trees.len()
    }

    fn list(&mut self, blob_type: BlobType) -> &mut Vec<Entry> {
        match blob_type {
            BlobType::Data => &mut self.data,
            BlobType::Tree => &mut self.trees,
        }
    }

    /// The entry a slot points to, if it is of `blob_type`.
    fn entry(&self, slot: u32, blob_type: BlobType) -> Option<&Entry> {
        let n = (slot & !TREE_BIT) as usize - 1;
        match (blob_type, slot & TREE_BIT != 0) {
            (BlobType::Data, false) => Some(&self.data[n]),
            (BlobType::Tree, true) => Some(&self.trees[n]),
            _ => None,
        }
    }

    /// The slot holding this blob (`Ok`), or the empty slot where it
    /// belongs (`Err`). The table must have an empty slot.
    fn find(&self, hash: u64, blob_type: BlobType, id: &Id) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return Err(i);
            }
            if self.entry(slot, blob_type).is_some_and(|e| e.id() == &id.0) {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the table (at least 64 slots) and puts every entry back.
    fn grow(&mut self, hasher: &impl BuildHasher) {
        let size = (self.slots.len() * 2).max(64);
        let mask = size - 1;
        let mut slots = vec![0u32; size];
        for (list, bit) in [(&self.data, 0), (&self.trees, TREE_BIT)] {
            for (n, e) in list.iter().enumerate() {
                let mut i = hash(hasher, e.id()) as usize & mask;
                while slots[i] != 0 {
                    i = (i + 1) & mask;
                }
                slots[i] = bit | (n as u32 + 1);
            }
        }
        self.slots = slots;
    }
}

/// The slot hash of an ID.
fn hash(hasher: &impl BuildHasher, id: &[u8; 32]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&id[8..16]);
    hasher.hash_one(u64::from_le_bytes(word))
}

impl KnownBlobs {
    pub(super) fn new() -> Self {
        KnownBlobs {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn shard(&self, id: &Id) -> MutexGuard<'_, Shard> {
        self.shards[usize::from(id.0[0]) % SHARDS]
            .lock()
            .expect("known-blobs lock poisoned")
    }

    /// Records a blob (not placed yet); true if it was not known yet.
    pub(super) fn insert(&self, blob_type: BlobType, id: Id) -> bool {
        let h = hash(&self.hasher, &id.0);
        let mut shard = self.shard(&id);
        if (shard.len() + 1) * 4 > shard.slots.len() * 3 {
            shard.grow(&self.hasher);
        }
        let Err(free) = shard.find(h, blob_type, &id) else {
            return false;
        };
        let list = shard.list(blob_type);
        if list.len() == list.capacity() {
            // Grow by a quarter rather than doubling: less unused room.
            list.reserve_exact((list.capacity() / 4).max(64));
        }
        list.push(Entry::unplaced(&id));
        let n = u32::try_from(list.len())
            .ok()
            .filter(|n| n & TREE_BIT == 0)
            .expect("fewer than 2^31 blobs per shard");
        shard.slots[free] = n | match blob_type {
            BlobType::Data => 0,
            BlobType::Tree => TREE_BIT,
        };
        true
    }

    /// True if the blob was recorded.
    pub(super) fn contains(&self, blob_type: BlobType, id: &Id) -> bool {
        let h = hash(&self.hasher, &id.0);
        let shard = self.shard(id);
        !shard.slots.is_empty() && shard.find(h, blob_type, id).is_ok()
    }

    /// Records that `blobs` were stored in the pack numbered `pack`.
    /// Blobs not recorded are ignored.
    pub(super) fn place(&self, pack: u32, blobs: &[PackedBlob]) -> Result<(), String> {
        for blob in blobs {
            let h = hash(&self.hasher, &blob.id.0);
            let mut shard = self.shard(&blob.id);
            if shard.slots.is_empty() {
                continue;
            }
            if let Ok(i) = shard.find(h, blob.blob_type, &blob.id) {
                let n = (shard.slots[i] & !TREE_BIT) as usize - 1;
                shard.list(blob.blob_type)[n].place(pack, blob)?;
            }
        }
        Ok(())
    }

    /// The placed blobs, as entries in the packs `packs` numbers. Each
    /// shard is freed as soon as its entries are moved.
    pub(super) fn into_new_blobs(self, packs: Vec<Id>) -> NewBlobs {
        let mut shards: Vec<Shard> = self
            .shards
            .into_iter()
            .map(|s| s.into_inner().expect("known-blobs lock poisoned"))
            .collect();
        for s in &mut shards {
            s.slots = Vec::new();
        }
        let placed = |list: &Vec<Entry>| list.iter().filter(|e| e.is_placed()).count();
        let mut new = NewBlobs {
            packs,
            data: Vec::with_capacity(shards.iter().map(|s| placed(&s.data)).sum()),
            trees: Vec::with_capacity(shards.iter().map(|s| placed(&s.trees)).sum()),
        };
        for s in shards {
            new.data.extend(s.data.into_iter().filter(Entry::is_placed));
            new.trees
                .extend(s.trees.into_iter().filter(Entry::is_placed));
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn ty(tree: bool) -> BlobType {
        if tree {
            BlobType::Tree
        } else {
            BlobType::Data
        }
    }

    proptest! {
        /// Inserting and looking up answer as a set does; placed blobs
        /// come out with their places, unplaced ones not at all.
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<u16>(), any::<bool>(), 0u8..4), 0..3000)) {
            let known = KnownBlobs::new();
            let mut model: HashMap<(BlobType, Id), Option<(u32, u64)>> = HashMap::new();
            for (i, &(n, tree, action)) in ops.iter().enumerate() {
                // Few distinct IDs, so that most are seen several times;
                // the first byte picks the shard, the rest spread.
                let mut id = [0u8; 32];
                id[..2].copy_from_slice(&(n % 700).to_be_bytes());
                id[9] = (n % 7) as u8;
                let key = (ty(tree), Id(id));
                match action {
                    0 | 1 => {
                        let new = !model.contains_key(&key);
                        model.entry(key).or_insert(None);
                        prop_assert_eq!(known.insert(key.0, key.1), new);
                    }
                    2 => prop_assert_eq!(known.contains(key.0, &key.1), model.contains_key(&key)),
                    _ => {
                        let blob = PackedBlob { blob_type: key.0, id: key.1, offset: i as u64, length: 7, uncompressed_length: None };
                        known.place(i as u32, &[blob]).unwrap();
                        if let Some(place) = model.get_mut(&key) {
                            *place = Some((i as u32, i as u64));
                        }
                    }
                }
            }
            let new = known.into_new_blobs(Vec::new());
            let mut out: HashMap<(BlobType, Id), (u32, u64)> = HashMap::new();
            for (list, t) in [(&new.data, BlobType::Data), (&new.trees, BlobType::Tree)] {
                for e in list {
                    let (pack, blob) = e.to_index_blob(t);
                    prop_assert!(out.insert((t, blob.id), (pack, blob.offset)).is_none());
                }
            }
            let expected: HashMap<(BlobType, Id), (u32, u64)> =
                model.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
            prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn data_and_tree_blobs_with_one_id_are_distinct() {
        let known = KnownBlobs::new();
        let id = Id([3; 32]);
        assert!(known.insert(BlobType::Data, id));
        assert!(!known.contains(BlobType::Tree, &id));
        assert!(known.insert(BlobType::Tree, id));
        assert!(!known.insert(BlobType::Tree, id));
        assert!(known.contains(BlobType::Data, &id));
    }
}
