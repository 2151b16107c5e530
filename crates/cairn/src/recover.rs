//! `recover`: make a snapshot of the directory trees no snapshot refers
//! to, as restic 0.14 does, so that data of a snapshot forgotten by
//! accident (and not yet pruned) can be restored.
//!
//! Every tree blob of the index is loaded; a tree that is neither the
//! subtree of another tree nor the root of a snapshot is a lost root. A
//! new tree holds one directory per lost root, named by the root's short
//! ID (mode 0755, times now), and a new snapshot of path `/recover`,
//! tagged `recovered`, points to it. The new tree is packed and indexed
//! before the snapshot is saved. It runs under a lock guard it is given (restic 0.14
//! takes a shared one).
//!
//! ```no_run
//! use std::sync::Arc;
//! use cairn::recover::RecoverOptions;
//! use cairn::{LocalBackend, Repository};
//!
//! let mut repo = Repository::open(Arc::new(LocalBackend::new("/srv/repo")), "secret")?;
//! let lock = repo.lock(false, None)?;
//! let report = repo.recover(&lock, &RecoverOptions::default(), &cairn::NoProgress)?;
//! println!("found {} unreferenced roots", report.roots.len());
//! # Ok::<(), cairn::Error>(())
//! ```

use crate::rewrite::load_index_strictly;
use crate::write::{BlobWriter, WriteOptions};
use crate::{host, LockGuard, Repository, Result};
use cairn_backend::FileType;
use cairn_format::{BlobType, GoTime, Id, Node, NodeType, Snapshot, Tree};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashSet};

/// How `recover` works.
#[derive(Clone, Debug, Default)]
pub struct RecoverOptions {
    /// Host name of the new snapshot (default: this machine's).
    pub hostname: Option<String>,
    /// Pack size and compression of the new tree.
    pub write: WriteOptions,
    /// Stops this recover (with [`Error::Interrupted`](crate::Error::Interrupted))
    /// once cancelled.
    pub cancel: crate::Cancel,
}

/// The steps of `recover`, reported as they start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoverPhase {
    /// Loading this many trees.
    LoadingTrees(usize),
    /// Loading the snapshots.
    LoadingSnapshots,
    /// The lost roots are known.
    Done,
}

/// Receives progress from `recover`; [`NoProgress`](crate::NoProgress) ignores it.
pub trait RecoverProgress: Sync {
    /// A step starts.
    fn phase(&self, _phase: RecoverPhase) {}
    /// A tree or snapshot could not be loaded (one line).
    fn warn(&self, _message: &str) {}
    /// A lost root was found.
    fn root(&self, _id: &Id) {}
}

/// What `recover` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoverReport {
    /// Tree blobs in the index.
    pub trees: usize,
    /// Trees no tree or snapshot refers to, sorted.
    pub roots: Vec<Id>,
    /// The new tree holding them (`None` when there are none).
    pub tree: Option<Id>,
    /// The new snapshot (`None` when there are no lost roots).
    pub snapshot: Option<Id>,
}

impl Repository {
    /// Finds the lost trees and saves a snapshot of them; see the module
    /// docs.
    ///
    /// Runs under `lock`, shared or exclusive; afterwards this value's
    /// index holds the new tree.
    pub fn recover(
        &mut self,
        lock: &LockGuard,
        opts: &RecoverOptions,
        progress: &dyn RecoverProgress,
    ) -> Result<RecoverReport> {
        lock.allows(self, "recover", false)?;
        opts.cancel.check()?;
        load_index_strictly(self)?;
        let trees: BTreeSet<Id> = self
            .index()
            .iter()
            .filter(|l| l.blob_type == BlobType::Tree)
            .map(|l| l.id)
            .collect();
        progress.phase(RecoverPhase::LoadingTrees(trees.len()));
        let list: Vec<Id> = trees.iter().copied().collect();
        let referenced: Vec<Vec<Id>> = list
            .par_iter()
            .map(|id| -> Result<Vec<Id>> {
                opts.cancel.check()?;
                match self.load_tree(id) {
                    Ok(tree) => Ok(subtrees(&tree)),
                    Err(e) => {
                        progress.warn(&format!("unable to load tree {}: {e}", id.short()));
                        Ok(Vec::new())
                    }
                }
            })
            .collect::<Result<_>>()?;
        let mut seen: HashSet<Id> = referenced.into_iter().flatten().collect();
        progress.phase(RecoverPhase::LoadingSnapshots);
        let (snapshots, problems) = self.snapshots()?;
        for p in problems {
            progress.warn(&format!("unable to load snapshot: {p}"));
        }
        seen.extend(snapshots.iter().map(|s| s.snapshot.tree));
        progress.phase(RecoverPhase::Done);
        let roots: Vec<Id> = trees.into_iter().filter(|t| !seen.contains(t)).collect();
        for id in &roots {
            progress.root(id);
        }
        let mut report = RecoverReport {
            trees: list.len(),
            roots,
            ..RecoverReport::default()
        };
        if report.roots.is_empty() {
            return Ok(report);
        }
        opts.cancel.check()?;
        let tree = recovery_tree(&report.roots, GoTime::now_local());
        let json = tree.to_json();
        let writer = BlobWriter::new(self, opts.write.clone())?;
        let tree_id = match writer.save_blob(BlobType::Tree, &json) {
            Ok(saved) => saved.id,
            Err(e) => {
                writer.abort();
                return Err(e);
            }
        };
        writer.flush_into(self)?;
        report.tree = Some(tree_id);

        let mut sn = Snapshot::new(GoTime::now_local(), tree_id);
        sn.paths = vec!["/recover".to_string()];
        sn.tags = vec!["recovered".to_string()];
        sn.hostname = opts.hostname.clone().unwrap_or_else(host::hostname);
        sn.username = host::username();
        sn.uid = host::uid();
        sn.gid = host::gid();
        report.snapshot = Some(self.save_unpacked(FileType::Snapshot, &sn.to_json())?);
        Ok(report)
    }
}

/// The subtrees of a tree's directories.
fn subtrees(tree: &Tree) -> Vec<Id> {
    tree.nodes
        .iter()
        .filter(|n| n.node_type == NodeType::Dir)
        .filter_map(|n| n.subtree)
        .collect()
}

/// restic's recovery tree: a directory per root, named by its short ID.
fn recovery_tree(roots: &[Id], now: GoTime) -> Tree {
    let mut tree = Tree {
        nodes: roots
            .iter()
            .map(|id| {
                let mut node = Node::new(id.short(), NodeType::Dir);
                node.mode = 0o755;
                node.subtree = Some(*id);
                node.mtime = now;
                node.atime = now;
                node.ctime = now;
                node
            })
            .collect(),
    };
    tree.sort();
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_tree_names_roots_by_short_id() {
        let roots = [Id([0xbb; 32]), Id([0x0a; 32])];
        let tree = recovery_tree(&roots, GoTime::ZERO);
        let names: Vec<&[u8]> = tree.nodes.iter().map(|n| n.name.as_slice()).collect();
        assert_eq!(names, [b"0a0a0a0a".as_slice(), b"bbbbbbbb".as_slice()]);
        assert!(tree.validate().is_ok());
        assert_eq!(tree.nodes[1].subtree, Some(Id([0xbb; 32])));
        assert_eq!(tree.nodes[0].mode, 0o755);
        let json = String::from_utf8(tree.to_json()).unwrap();
        assert!(json.contains("\"type\":\"dir\""), "{json}");
        assert!(json.contains("\"mode\":493"), "{json}");
    }
}
