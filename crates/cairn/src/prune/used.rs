//! Finding the blobs the snapshots use.
//!
//! The used blobs are kept as one bit per index entry rather than as a
//! set of IDs: a repository of millions of blobs needs a few hundred
//! kilobytes for them instead of tens of bytes per blob (the index
//! already holds every ID once). Only used blobs the index does not know
//! (which make prune refuse) are kept by ID.

use crate::index::Index;
use crate::repository::Repository;
use crate::{Error, Result};
use cairn_format::{BlobType, Id, NodeType};
use rayon::prelude::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A set of blobs, keyed like the index: by type and ID.
pub(crate) type BlobSet = HashSet<(BlobType, Id)>;

/// The blobs found used, for one [`Index`]: a blob is marked at the
/// position of its first copy (see [`Index::positions`]). Marking is
/// lock-free, so that the trees of one depth can be walked in parallel.
pub(crate) struct UsedBlobs {
    /// Bit `p % 64` of word `p / 64`: the blob at position `p` is used.
    bits: Vec<AtomicU64>,
    /// Used blobs the index does not know.
    unknown: Mutex<BlobSet>,
}

impl UsedBlobs {
    /// No blob used yet, for blobs of `index`.
    pub(crate) fn new(index: &Index) -> UsedBlobs {
        UsedBlobs {
            bits: (0..index.len().div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            unknown: Mutex::new(BlobSet::new()),
        }
    }

    /// Marks a blob of `index` (the index this set was made for) as used;
    /// true if it was not marked yet.
    pub(crate) fn insert(&self, index: &Index, blob_type: BlobType, id: &Id) -> bool {
        let positions = index.positions(blob_type, id);
        if positions.is_empty() {
            return self
                .unknown
                .lock()
                .expect("used-blob lock poisoned")
                .insert((blob_type, *id));
        }
        let (word, mask) = Self::bit(positions.start);
        self.bits[word].fetch_or(mask, Ordering::Relaxed) & mask == 0
    }

    /// True if the blob whose first copy is at `position` is used.
    pub(crate) fn is_used_at(&self, position: usize) -> bool {
        let (word, mask) = Self::bit(position);
        self.bits[word].load(Ordering::Relaxed) & mask != 0
    }

    /// The used blobs the index does not know, sorted.
    pub(crate) fn unknown(&self) -> Vec<(BlobType, Id)> {
        let mut unknown: Vec<(BlobType, Id)> = self
            .unknown
            .lock()
            .expect("used-blob lock poisoned")
            .iter()
            .copied()
            .collect();
        unknown.sort();
        unknown
    }

    fn bit(position: usize) -> (usize, u64) {
        (position / 64, 1u64 << (position % 64))
    }
}

/// Every tree reachable from `roots` and every data blob their files
/// refer to, marked against the repository's loaded index.
///
/// Each tree is loaded once; the trees of one depth are loaded in
/// parallel, and each is dropped once its blobs are marked (only the IDs
/// of the next depth's trees are kept). A tree the index does not know,
/// or whose pack is missing, is kept in the set (so that the caller
/// refuses to prune, naming it or its pack) but cannot be descended into;
/// any other failure to load a tree ends the search.
pub(crate) fn find_used_blobs(
    repo: &Repository,
    roots: &[Id],
    cancel: &crate::Cancel,
) -> Result<UsedBlobs> {
    let index = repo.index();
    let used = UsedBlobs::new(index);
    let mut frontier: Vec<Id> = roots
        .iter()
        .filter(|root| used.insert(index, BlobType::Tree, root))
        .copied()
        .collect();
    while !frontier.is_empty() {
        cancel.check()?;
        frontier = frontier
            .par_iter()
            .map(|id| visit(repo, index, &used, id))
            .try_reduce(Vec::new, |mut a, mut b| {
                if a.len() < b.len() {
                    std::mem::swap(&mut a, &mut b);
                }
                a.append(&mut b);
                Ok(a)
            })?;
    }
    Ok(used)
}

/// Marks the subtrees and data blobs one tree refers to (none if the
/// index does not know the tree); returns the subtrees not marked before.
fn visit(repo: &Repository, index: &Index, used: &UsedBlobs, id: &Id) -> Result<Vec<Id>> {
    let tree = match repo.load_tree(id) {
        Ok(tree) => tree,
        // Unknown to the index, or its pack is gone: reported as a missing
        // blob or a missing needed pack once the walk is over.
        Err(Error::BlobNotFound { .. }) => return Ok(Vec::new()),
        Err(Error::Backend(e)) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::InvalidArgument(format!(
                "unable to load a tree from the repository: {e}"
            )))
        }
    };
    let mut subtrees = Vec::new();
    for node in &tree.nodes {
        match node.node_type {
            NodeType::File => {
                for blob in node.content.iter().flatten() {
                    used.insert(index, BlobType::Data, blob);
                }
            }
            NodeType::Dir => {
                if let Some(subtree) = &node.subtree {
                    if used.insert(index, BlobType::Tree, subtree) {
                        subtrees.push(*subtree);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(subtrees)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexBuilder;
    use cairn_format::{IndexBlob, IndexFile, IndexPack};
    use proptest::prelude::*;

    proptest! {
        /// Marking answers as a set of (type, ID) would, for blobs the
        /// index knows (with any number of copies) and blobs it does not.
        #[test]
        fn marks_like_a_set(
            indexed in proptest::collection::vec((0u8..30, any::<bool>(), 0u8..3), 0..100),
            inserts in proptest::collection::vec((0u8..40, any::<bool>()), 0..200),
        ) {
            let ty = |tree: bool| if tree { BlobType::Tree } else { BlobType::Data };
            let mut b = IndexBuilder::default();
            for (i, &(id, tree, pack)) in indexed.iter().enumerate() {
                b.add(&IndexFile { packs: vec![IndexPack { id: Id([pack; 32]), blobs: vec![IndexBlob {
                    id: Id([id; 32]), blob_type: ty(tree), offset: i as u64, length: 1, uncompressed_length: None,
                }] }] }).unwrap();
            }
            let index = b.finish();
            let used = UsedBlobs::new(&index);
            let mut model = BlobSet::new();
            for &(id, tree) in &inserts {
                let key = (ty(tree), Id([id; 32]));
                prop_assert_eq!(used.insert(&index, key.0, &key.1), model.insert(key));
            }
            let mut known = BlobSet::new();
            for run in index.blob_runs() {
                let loc = index.location_at(run.start);
                known.insert((loc.blob_type, loc.id));
                prop_assert_eq!(used.is_used_at(run.start), model.contains(&(loc.blob_type, loc.id)));
            }
            let mut unknown: Vec<(BlobType, Id)> = model.difference(&known).copied().collect();
            unknown.sort();
            prop_assert_eq!(used.unknown(), unknown);
        }
    }
}
