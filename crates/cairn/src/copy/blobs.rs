//! Finding the blobs a snapshot needs that the destination lacks, and
//! moving them across.
//!
//! Trees are walked level by level, each level loaded in parallel. A tree
//! the destination lacks is stored as soon as it is loaded (its exact
//! bytes); the data blobs it names that the destination lacks are
//! gathered, then read from the source pack by pack, in parallel. Within a
//! pack, blobs close to each other are read with one ranged read, so a
//! pack of which only a few blobs are needed is not read whole.

use super::CopyProgress;
use crate::index::BlobLocation;
use crate::repository::Repository;
use crate::write::BlobWriter;
use crate::{Error, Result};
use cairn_backend::FileType;
use cairn_format::{BlobType, Id, NodeType, Tree};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};

/// Blobs this far apart or closer in a pack are fetched with one read.
const MAX_GAP: u64 = 256 << 10;

/// Copies the blobs of one snapshot after another, remembering across
/// snapshots which trees were walked and which blobs were added.
pub(super) struct Copier<'a> {
    src: &'a Repository,
    dst: &'a Repository,
    /// Trees walked for earlier snapshots (restic skips them too).
    visited: HashSet<Id>,
    /// Blobs added to the destination and indexed by earlier snapshots.
    added: HashSet<(BlobType, Id)>,
    /// Blobs added for the snapshot in progress (not yet indexed).
    pending: Vec<(BlobType, Id)>,
    /// The copy's cancellation token.
    cancel: crate::Cancel,
}

/// What walking one tree found.
#[derive(Default)]
struct TreeFindings {
    subtrees: Vec<Id>,
    data: Vec<Id>,
    tree_added: bool,
}

impl<'a> Copier<'a> {
    pub(super) fn new(src: &'a Repository, dst: &'a Repository, cancel: crate::Cancel) -> Self {
        Copier {
            cancel,
            src,
            dst,
            visited: HashSet::new(),
            added: HashSet::new(),
            pending: Vec::new(),
        }
    }

    fn dst_has(&self, blob_type: BlobType, id: &Id) -> bool {
        self.dst.index().contains(blob_type, id) || self.added.contains(&(blob_type, *id))
    }

    /// Stores every blob below the snapshot's tree that the destination
    /// lacks through `writer` (which the caller flushes).
    pub(super) fn copy_tree(
        &mut self,
        writer: &BlobWriter,
        root: Id,
        progress: &dyn CopyProgress,
    ) -> Result<()> {
        let mut data = HashSet::new();
        let mut tree_packs = HashSet::new();
        let mut level = vec![root];
        while !level.is_empty() {
            self.cancel.check()?;
            level.retain(|id| self.visited.insert(*id));
            let found: Vec<(Id, TreeFindings)> = level
                .par_iter()
                .map(|id| Ok((*id, self.copy_one_tree(writer, id)?)))
                .collect::<Result<_>>()?;
            level = Vec::new();
            for (id, f) in found {
                if f.tree_added {
                    self.pending.push((BlobType::Tree, id));
                    tree_packs.extend(self.src.index().lookup(BlobType::Tree, &id).map(|l| l.pack));
                }
                level.extend(f.subtrees);
                data.extend(f.data);
            }
        }
        let packs = self.locate(data)?;
        // Packs holding only trees are done already (as restic counts them).
        let tree_only = tree_packs.iter().filter(|p| !packs.contains_key(p)).count();
        progress.packs((packs.len() + tree_only) as u64);
        for _ in 0..tree_only {
            progress.pack_copied();
        }
        packs.par_iter().try_for_each(|(pack, blobs)| {
            self.cancel.check()?;
            self.copy_from_pack(writer, pack, blobs)?;
            progress.pack_copied();
            Ok::<(), Error>(())
        })?;
        for blobs in packs.values() {
            self.pending
                .extend(blobs.iter().map(|b| (BlobType::Data, b.id)));
        }
        Ok(())
    }

    /// The blobs of the snapshot in progress are indexed now.
    pub(super) fn commit(&mut self) {
        self.added.extend(self.pending.drain(..));
    }

    /// Loads a tree, stores it if the destination lacks it, and lists its
    /// subtrees and the data blobs it names that the destination lacks.
    fn copy_one_tree(&self, writer: &BlobWriter, id: &Id) -> Result<TreeFindings> {
        let plain = self.src.load_blob(BlobType::Tree, id)?;
        // A tree that does not parse: load_tree names the damage.
        let tree = match Tree::from_json(&plain) {
            Ok(t) => t,
            Err(_) => self.src.load_tree(id)?,
        };
        let mut f = TreeFindings::default();
        if !self.dst_has(BlobType::Tree, id) {
            f.tree_added = writer.save_blob_with_id(BlobType::Tree, *id, &plain)?.new;
        }
        for node in tree.nodes {
            if node.node_type == NodeType::Dir {
                f.subtrees.extend(node.subtree);
            }
            for blob in node.content.unwrap_or_default() {
                if !self.dst_has(BlobType::Data, &blob) {
                    f.data.push(blob);
                }
            }
        }
        Ok(f)
    }

    /// Groups data blobs by the source pack holding them, sorted by offset.
    fn locate(&self, data: HashSet<Id>) -> Result<BTreeMap<Id, Vec<BlobLocation>>> {
        let mut packs: BTreeMap<Id, Vec<BlobLocation>> = BTreeMap::new();
        for id in data {
            let loc = self.src.locate_blob(BlobType::Data, &id)?;
            packs.entry(loc.pack).or_default().push(loc);
        }
        for blobs in packs.values_mut() {
            blobs.sort_by_key(|b| b.offset);
        }
        Ok(packs)
    }

    /// Reads `blobs` (sorted by offset) from `pack` in runs of nearby
    /// blobs and stores each through `writer`. A blob that cannot be read
    /// or is damaged is tried from its other copies before failing.
    fn copy_from_pack(&self, writer: &BlobWriter, pack: &Id, blobs: &[BlobLocation]) -> Result<()> {
        let name = pack.to_hex();
        // Hostile claims must not size the reads below.
        for loc in blobs {
            crate::blob::check_claim(loc)?;
        }
        let mut rest = blobs;
        while let Some(first) = rest.first() {
            let mut end = first.offset + u64::from(first.length);
            let mut n = 1;
            while let Some(next) = rest.get(n) {
                if next.offset > end + MAX_GAP {
                    break;
                }
                end = end.max(next.offset + u64::from(next.length));
                n += 1;
            }
            let (run, after) = rest.split_at(n);
            rest = after;
            let bytes = match self.src.backend().read_range(
                FileType::Pack,
                &name,
                first.offset,
                end - first.offset,
            ) {
                Ok(b) => b,
                Err(read_error) => {
                    // Perhaps another pack holds a copy of each.
                    for loc in run {
                        match self.src.load_blob(BlobType::Data, &loc.id) {
                            Ok(plain) => self.save(writer, loc, &plain)?,
                            Err(_) => return Err(read_error.into()),
                        }
                    }
                    continue;
                }
            };
            for loc in run {
                let from = (loc.offset - first.offset) as usize;
                let decoded = match bytes.get(from..from + loc.length as usize) {
                    Some(stored) => self.src.decode_blob(loc, stored.to_vec()),
                    None => Err(Error::BadBlob {
                        pack: *pack,
                        blob_type: loc.blob_type,
                        id: loc.id,
                        reason: "pack file is shorter than the index says".into(),
                    }),
                };
                // Damaged in transit or at rest: the blob is read again
                // (bounded, see `crate::reread`), then its other copies;
                // lasting damage is reported as such.
                let plain = match decoded {
                    Ok(p) => p,
                    Err(e) => self
                        .src
                        .load_blob(BlobType::Data, &loc.id)
                        .map_err(|again| match again {
                            Error::BadBlob { .. } => again,
                            _ => e,
                        })?,
                };
                self.save(writer, loc, &plain)?;
            }
        }
        Ok(())
    }

    fn save(&self, writer: &BlobWriter, loc: &BlobLocation, plain: &[u8]) -> Result<()> {
        writer.save_blob_with_id(BlobType::Data, loc.id, plain)?;
        Ok(())
    }
}
