//! Stage 3: snapshots and the trees reachable from them; stage 4: unused
//! blobs.

use super::{CheckIssue, CheckPhase, Sink, Stage};
use crate::index::Index;
use crate::repository::Repository;
use crate::Result;
use cairn_backend::FileType;
use cairn_format::{BlobType, Id, NodeType, Snapshot, Tree};
use rayon::prelude::*;
use std::collections::HashSet;

/// What the walk saw.
pub(crate) struct Walked {
    /// Snapshot files found (damaged ones included).
    pub snapshots: usize,
    /// Every tree reached.
    pub trees: HashSet<Id>,
    /// Every data blob referenced (only when tracking unused blobs).
    pub data: HashSet<Id>,
}

/// Who referenced a tree: a snapshot file or a parent tree.
#[derive(Clone, Copy)]
enum Referrer {
    Snapshot(Id),
    Tree(Id),
}

/// The outcome of checking one tree.
struct TreeResult {
    issues: Vec<CheckIssue>,
    subtrees: Vec<Id>,
    data: Vec<Id>,
}

/// Loads every snapshot (or only those of `only`) and walks every tree
/// reachable from them, each tree once, the trees of one level in
/// parallel.
pub(crate) fn check_structure(
    repo: &Repository,
    index: &Index,
    only: Option<&[Id]>,
    track_unused: bool,
    sink: &Sink,
) -> Result<Walked> {
    let mut ids: Vec<Id> = match only {
        Some(only) => only.to_vec(),
        None => repo
            .list_ids(FileType::Snapshot)?
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
    };
    ids.sort();
    ids.dedup();
    let loaded: Vec<(Id, Result<Snapshot>)> = ids
        .par_iter()
        .map(|id| (*id, repo.load_snapshot(id)))
        .collect();
    sink.progress.phase(CheckPhase::Structure {
        snapshots: ids.len() as u64,
    });
    let mut walked = Walked {
        snapshots: ids.len(),
        trees: HashSet::new(),
        data: HashSet::new(),
    };
    for (id, snapshot) in loaded {
        sink.cancel.check()?;
        let snapshot = match snapshot {
            Ok(s) => s,
            Err(e) => {
                sink.error(
                    CheckIssue::new(Stage::Snapshots, format!("snapshot {id}: {e}"))
                        .file(FileType::Snapshot, id),
                );
                sink.progress.advance();
                continue;
            }
        };
        let root = snapshot.tree;
        if root.is_zero() {
            sink.error(
                CheckIssue::new(Stage::Snapshots, format!("snapshot {id} has nil tree"))
                    .file(FileType::Snapshot, id),
            );
        } else if walked.trees.insert(root) {
            walk_from(
                repo,
                index,
                root,
                Referrer::Snapshot(id),
                track_unused,
                &mut walked,
                sink,
            )?;
        }
        sink.progress.advance();
    }
    sink.progress.phase_done();
    Ok(walked)
}

/// Breadth-first walk below `root` (already marked as seen).
fn walk_from(
    repo: &Repository,
    index: &Index,
    root: Id,
    from: Referrer,
    track_unused: bool,
    walked: &mut Walked,
    sink: &Sink,
) -> Result<()> {
    let mut frontier = vec![(root, from)];
    while !frontier.is_empty() {
        sink.cancel.check()?;
        let results: Vec<(Id, TreeResult)> = frontier
            .par_iter()
            .map(|(tree, from)| (*tree, check_tree(repo, index, tree, *from)))
            .collect();
        let mut next = Vec::new();
        for (tree, result) in results {
            for issue in result.issues {
                sink.error(issue);
            }
            for sub in result.subtrees {
                if walked.trees.insert(sub) {
                    next.push((sub, Referrer::Tree(tree)));
                }
            }
            if track_unused {
                walked.data.extend(result.data);
            }
        }
        frontier = next;
    }
    Ok(())
}

/// Loads one tree (trying every copy the index knows) and checks its
/// nodes as restic does.
fn check_tree(repo: &Repository, index: &Index, id: &Id, from: Referrer) -> TreeResult {
    let mut result = TreeResult {
        issues: Vec::new(),
        subtrees: Vec::new(),
        data: Vec::new(),
    };
    let issue = |msg: String| {
        CheckIssue::new(Stage::Trees, format!("tree {id}: {msg}"))
            .tree(*id)
            .blob(BlobType::Tree, *id)
    };
    let locations = index.lookup_all(BlobType::Tree, id);
    if locations.is_empty() {
        let (msg, file) = match from {
            Referrer::Snapshot(sn) => (
                format!("not found in index (root tree of snapshot {})", sn.short()),
                Some((FileType::Snapshot, sn)),
            ),
            Referrer::Tree(parent) => (format!("not found in index (subtree of {parent})"), None),
        };
        let mut i = issue(msg);
        i.file = file;
        result.issues.push(i);
        return result;
    }
    let mut failures = Vec::new();
    let mut plain = None;
    for loc in &locations {
        match repo.load_blob_at(loc) {
            Ok(p) => {
                plain = Some((p, loc.pack));
                break;
            }
            Err(e) => failures.push(issue(e.to_string()).file(FileType::Pack, loc.pack)),
        }
    }
    let Some((plain, pack)) = plain else {
        result.issues = failures;
        return result;
    };
    let tree = match Tree::from_json(&plain) {
        Ok(t) => t,
        Err(e) => {
            result
                .issues
                .push(issue(e.to_string()).file(FileType::Pack, pack));
            return result;
        }
    };
    check_nodes(index, &tree, &issue, &mut result);
    result
}

/// restic's node rules, plus strictly sorted names.
fn check_nodes(
    index: &Index,
    tree: &Tree,
    issue: &dyn Fn(String) -> CheckIssue,
    result: &mut TreeResult,
) {
    let mut previous: Option<&[u8]> = None;
    for node in &tree.nodes {
        let name = String::from_utf8_lossy(&node.name);
        match node.node_type {
            NodeType::File => match &node.content {
                None => result
                    .issues
                    .push(issue(format!("file {name:?} has nil blob list"))),
                Some(content) => {
                    for (i, blob) in content.iter().enumerate() {
                        if blob.is_zero() {
                            result
                                .issues
                                .push(issue(format!("file {name:?} blob {i} has null ID")));
                            continue;
                        }
                        if !index.contains(BlobType::Data, blob) {
                            let mut e =
                                issue(format!("file {name:?} blob {blob} not found in index"));
                            e.blob = Some((BlobType::Data, *blob));
                            result.issues.push(e);
                        }
                        result.data.push(*blob);
                    }
                }
            },
            NodeType::Dir => match node.subtree {
                None => result
                    .issues
                    .push(issue(format!("dir node {name:?} has no subtree"))),
                Some(sub) if sub.is_zero() => result
                    .issues
                    .push(issue(format!("dir node {name:?} subtree id is null"))),
                Some(sub) => result.subtrees.push(sub),
            },
            NodeType::Symlink
            | NodeType::Socket
            | NodeType::Chardev
            | NodeType::Dev
            | NodeType::Fifo => {}
            NodeType::Irregular | NodeType::Other(_) => result.issues.push(issue(format!(
                "node {name:?} with invalid type {:?}",
                node.node_type.as_str()
            ))),
        }
        if node.name.is_empty() {
            result.issues.push(issue("node with empty name".into()));
        }
        if let Some(p) = previous {
            if p >= node.name.as_slice() {
                result.issues.push(issue(format!(
                    "node {name:?} is not sorted after the previous one or has a duplicate name"
                )));
            }
        }
        previous = Some(&node.name);
    }
}

/// The packs holding a blob the walk reached (every copy), with their
/// sizes taken from `all`: what `--read-data` reads when the check is
/// limited to some snapshots, as restic 0.19 does.
pub(crate) fn packs_of_walked(index: &Index, walked: &Walked, all: &[(Id, u64)]) -> Vec<(Id, u64)> {
    let mut wanted: HashSet<Id> = HashSet::new();
    let blobs = walked
        .trees
        .iter()
        .map(|id| (BlobType::Tree, id))
        .chain(walked.data.iter().map(|id| (BlobType::Data, id)));
    for (t, id) in blobs {
        wanted.extend(index.lookup_all(t, id).into_iter().map(|loc| loc.pack));
    }
    all.iter()
        .filter(|(id, _)| wanted.contains(id))
        .copied()
        .collect()
}

/// Every blob in the index that the walk did not reach, reported as an
/// error (restic: "unused blob").
pub(crate) fn unused_blobs(index: &Index, walked: &Walked, sink: &Sink) -> Vec<(BlobType, Id)> {
    let mut unused: Vec<(BlobType, Id, Id)> = index
        .iter()
        .filter(|loc| match loc.blob_type {
            BlobType::Data => !walked.data.contains(&loc.id),
            BlobType::Tree => !walked.trees.contains(&loc.id),
        })
        .map(|loc| (loc.blob_type, loc.id, loc.pack))
        .collect();
    unused.sort_by_key(|(t, id, _)| (*id, t.as_str()));
    unused.dedup_by_key(|(t, id, _)| (*t, *id));
    for (t, id, pack) in &unused {
        sink.error(
            CheckIssue::new(Stage::Unused, format!("unused blob {t} {id}"))
                .blob(*t, *id)
                .file(FileType::Pack, *pack),
        );
    }
    unused.into_iter().map(|(t, id, _)| (t, id)).collect()
}
