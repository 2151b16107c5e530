//! Comparing two trees the way restic's `diff` command does: which paths
//! were added, removed, modified, changed type or only changed metadata,
//! and how many files, directories, other nodes and blobs each side has
//! that the other lacks.
//!
//! The rules are restic 0.14's:
//! - names of one directory are compared in byte order; a path that is a
//!   directory on the new side ends in `/`;
//! - `M`: both sides are files and their content lists differ (this also
//!   counts as a changed file); `T`: the node type differs; `U` (only with
//!   [`DiffOptions::metadata`], and only when `M` does not apply): any
//!   other field differs;
//! - everything below an added (`+`) or removed (`-`) directory is listed
//!   in stored order with the same marker; a directory that changed type
//!   is not descended into;
//! - blob counts and sizes cover the blobs (trees and file contents)
//!   reachable only from the old or only from the new tree, sizes being
//!   plaintext lengths from the index.
//!
//! ```no_run
//! use cairn::diff::{diff, DiffOptions};
//! # fn demo(repo: &cairn::Repository, a: &cairn::Id, b: &cairn::Id) -> cairn::Result<()> {
//! let result = diff(repo, a, b, &DiffOptions { metadata: true, ..Default::default() })?;
//! for change in &result.changes {
//!     println!("{:<5}{}", change.modifier, String::from_utf8_lossy(&change.path));
//! }
//! println!("{} files changed", result.summary.changed_files);
//! # Ok(())
//! # }
//! ```

use crate::repository::Repository;
use crate::{Error, Result};
use cairn_format::gojson::go_lossy_string;
use cairn_format::{BlobType, ExtendedAttribute, Id, Node, NodeType};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// What to compare.
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Report nodes whose metadata (mode, times, owner, …) changed (`U`).
    pub metadata: bool,
    /// Stops the comparison (with [`Error::Interrupted`])
    /// once cancelled.
    pub cancel: crate::Cancel,
}

/// One changed path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The path as raw bytes (`/dir/file`; directories end in `/`).
    pub path: Vec<u8>,
    /// restic's marker: `+`, `-`, `M`, `T`, `U` or `TU`.
    pub modifier: String,
}

/// Counts for one side of a diff (what was added, or what was removed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffStat {
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Everything else (symlinks, devices, FIFOs, …).
    pub others: u64,
    /// Data blobs only this side references.
    pub data_blobs: u64,
    /// Tree blobs only this side references.
    pub tree_blobs: u64,
    /// Plaintext size of those blobs.
    pub bytes: u64,
}

impl DiffStat {
    fn count(&mut self, node: &Node) {
        match node.node_type {
            NodeType::File => self.files += 1,
            NodeType::Dir => self.dirs += 1,
            _ => self.others += 1,
        }
    }
}

/// Something that did not stop the comparison but makes it incomplete.
#[derive(Debug)]
pub enum DiffProblem {
    /// A tree below the roots could not be loaded; it was skipped.
    Tree(Error),
    /// The index does not know a blob, so its size is not counted.
    MissingBlobSize(BlobType, Id),
}

impl fmt::Display for DiffProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffProblem::Tree(e) => write!(f, "error: {e}"),
            DiffProblem::MissingBlobSize(t, id) => {
                write!(f, "unable to find blob size for <{t}/{}>", id.short())
            }
        }
    }
}

/// The totals of a diff.
#[derive(Debug, Default)]
pub struct DiffSummary {
    /// Files present on both sides whose content differs.
    pub changed_files: u64,
    /// What the new tree has that the old one lacks.
    pub added: DiffStat,
    /// What the old tree has that the new one lacks.
    pub removed: DiffStat,
    /// Trees that could not be read and blobs of unknown size.
    pub problems: Vec<DiffProblem>,
}

/// A complete diff: every change in output order, and the totals.
#[derive(Debug, Default)]
pub struct Diff {
    /// Changed paths, in the order restic prints them.
    pub changes: Vec<Change>,
    /// Counts and problems.
    pub summary: DiffSummary,
}

/// Compares the tree `before` with the tree `after` and collects every
/// change. Fails only if one of the two root trees cannot be loaded.
pub fn diff(repo: &Repository, before: &Id, after: &Id, opts: &DiffOptions) -> Result<Diff> {
    let mut changes = Vec::new();
    let summary = diff_with(repo, before, after, opts, &mut |c| changes.push(c))?;
    Ok(Diff { changes, summary })
}

/// [`diff`], handing each change to `on_change` as soon as it is found
/// instead of collecting them (for very large diffs).
pub fn diff_with(
    repo: &Repository,
    before: &Id,
    after: &Id,
    opts: &DiffOptions,
    on_change: &mut dyn FnMut(Change),
) -> Result<DiffSummary> {
    let mut c = Comparer {
        repo,
        opts,
        on_change,
        before: BlobSet::from([(BlobType::Tree, *before)]),
        after: BlobSet::from([(BlobType::Tree, *after)]),
        common: BlobSet::new(),
        summary: DiffSummary::default(),
    };
    c.diff_root(before, after)?;
    let Comparer {
        before,
        after,
        common,
        mut summary,
        ..
    } = c;
    let only = |a: &BlobSet, b: &BlobSet| -> Vec<(BlobType, Id)> {
        a.iter()
            .filter(|h| !b.contains(h) && !common.contains(h))
            .copied()
            .collect()
    };
    let (removed, added) = (only(&before, &after), only(&after, &before));
    count_blobs(repo, &removed, &mut summary.removed, &mut summary.problems);
    count_blobs(repo, &added, &mut summary.added, &mut summary.problems);
    Ok(summary)
}

type BlobSet = HashSet<(BlobType, Id)>;

#[derive(Clone, Copy)]
enum Side {
    Added,
    Removed,
}

impl Side {
    fn marker(self) -> &'static str {
        match self {
            Side::Added => "+",
            Side::Removed => "-",
        }
    }
}

struct Comparer<'a> {
    repo: &'a Repository,
    opts: &'a DiffOptions,
    on_change: &'a mut dyn FnMut(Change),
    before: BlobSet,
    after: BlobSet,
    /// Blobs below subtrees both sides share.
    common: BlobSet,
    summary: DiffSummary,
}

impl Comparer<'_> {
    fn emit(&mut self, path: Vec<u8>, modifier: &str) {
        (self.on_change)(Change {
            path,
            modifier: modifier.to_string(),
        });
    }

    fn side(&mut self, side: Side) -> (&mut DiffStat, &mut BlobSet) {
        match side {
            Side::Added => (&mut self.summary.added, &mut self.after),
            Side::Removed => (&mut self.summary.removed, &mut self.before),
        }
    }

    fn problem(&mut self, result: Result<()>) -> Result<()> {
        match result {
            Err(Error::Interrupted) => Err(Error::Interrupted),
            Err(e) => {
                self.summary.problems.push(DiffProblem::Tree(e));
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// Compares the root trees; only their failure to load is an error,
    /// any tree below is a problem that skips just that tree. Work is kept
    /// on a heap stack (pushed in reverse, so it runs in order), never on
    /// the thread's stack, whatever the depth.
    fn diff_root(&mut self, id1: &Id, id2: &Id) -> Result<()> {
        let mut todo = Vec::new();
        self.diff_tree(&mut todo, b"/", id1, id2)?;
        while let Some(task) = todo.pop() {
            let result = match task {
                Task::Pair(prefix, name, pair) => {
                    let (a, b) = *pair;
                    self.pair(&mut todo, &prefix, &name, a, b);
                    Ok(())
                }
                Task::Diff(prefix, id1, id2) => self.diff_tree(&mut todo, &prefix, &id1, &id2),
                Task::OneSide(side, prefix, node) => {
                    self.list_one_side(&mut todo, side, &prefix, *node);
                    Ok(())
                }
                Task::ListDir(side, prefix, id) => self.list_dir(&mut todo, side, &prefix, &id),
                Task::Common(id) => self.collect_common(&mut todo, &id),
            };
            self.problem(result)?;
        }
        Ok(())
    }

    fn diff_tree(&mut self, todo: &mut Vec<Task>, prefix: &[u8], id1: &Id, id2: &Id) -> Result<()> {
        self.opts.cancel.check()?;
        let tree1 = self.repo.load_tree(id1)?;
        let tree2 = self.repo.load_tree(id2)?;
        // Like a Go map, a duplicate name keeps its last node.
        let mut names: BTreeMap<Vec<u8>, (Option<Node>, Option<Node>)> = BTreeMap::new();
        for n in tree1.nodes {
            let name = n.name.clone();
            names.entry(name).or_default().0 = Some(n);
        }
        for n in tree2.nodes {
            let name = n.name.clone();
            names.entry(name).or_default().1 = Some(n);
        }
        for (name, (a, b)) in names.into_iter().rev() {
            todo.push(Task::Pair(prefix.to_vec(), name, Box::new((a, b))));
        }
        Ok(())
    }

    fn pair(
        &mut self,
        todo: &mut Vec<Task>,
        prefix: &[u8],
        name: &[u8],
        a: Option<Node>,
        b: Option<Node>,
    ) {
        if let Some(n) = &a {
            add_blobs(&mut self.before, n);
        }
        if let Some(n) = &b {
            add_blobs(&mut self.after, n);
        }
        match (a, b) {
            (Some(a), Some(b)) => self.compare_nodes(todo, prefix, name, &a, &b),
            (Some(a), None) => self.list_one_side(todo, Side::Removed, prefix, a),
            (None, Some(b)) => self.list_one_side(todo, Side::Added, prefix, b),
            (None, None) => {}
        }
    }

    fn compare_nodes(
        &mut self,
        todo: &mut Vec<Task>,
        prefix: &[u8],
        name: &[u8],
        a: &Node,
        b: &Node,
    ) {
        let path = join(prefix, name, b.node_type == NodeType::Dir);
        let mut modifier = String::new();
        if a.node_type != b.node_type {
            modifier.push('T');
        }
        if a.node_type == NodeType::File && b.node_type == NodeType::File && a.content != b.content
        {
            modifier.push('M');
            self.summary.changed_files += 1;
        } else if self.opts.metadata && !same_node(a, b) {
            modifier.push('U');
        }
        if !modifier.is_empty() {
            self.emit(path.clone(), &modifier);
        }
        if let (NodeType::Dir, NodeType::Dir, Some(s1), Some(s2)) =
            (&a.node_type, &b.node_type, a.subtree, b.subtree)
        {
            todo.push(if s1 == s2 {
                Task::Common(s1)
            } else {
                Task::Diff(path, s1, s2)
            });
        }
    }

    /// A node only one side has: the node, and everything below it.
    fn list_one_side(&mut self, todo: &mut Vec<Task>, side: Side, prefix: &[u8], node: Node) {
        let is_dir = node.node_type == NodeType::Dir;
        let path = join(prefix, &node.name, is_dir);
        self.emit(path.clone(), side.marker());
        self.side(side).0.count(&node);
        if let (true, Some(sub)) = (is_dir, node.subtree) {
            todo.push(Task::ListDir(side, path, sub));
        }
    }

    fn list_dir(&mut self, todo: &mut Vec<Task>, side: Side, prefix: &[u8], id: &Id) -> Result<()> {
        self.opts.cancel.check()?;
        let tree = self.repo.load_tree(id)?;
        for node in &tree.nodes {
            add_blobs(self.side(side).1, node);
        }
        for node in tree.nodes.into_iter().rev() {
            todo.push(Task::OneSide(side, prefix.to_vec(), Box::new(node)));
        }
        Ok(())
    }

    fn collect_common(&mut self, todo: &mut Vec<Task>, id: &Id) -> Result<()> {
        self.opts.cancel.check()?;
        let tree = self.repo.load_tree(id)?;
        for node in &tree.nodes {
            add_blobs(&mut self.common, node);
            if let (NodeType::Dir, Some(sub)) = (&node.node_type, node.subtree) {
                todo.push(Task::Common(sub));
            }
        }
        Ok(())
    }
}

/// Work left for the diff: what to do next, with the path it happens at.
enum Task {
    /// Compare the nodes of one name on both sides.
    Pair(Vec<u8>, Vec<u8>, Box<(Option<Node>, Option<Node>)>),
    /// Compare two different trees.
    Diff(Vec<u8>, Id, Id),
    /// A node only one side has.
    OneSide(Side, Vec<u8>, Box<Node>),
    /// List a directory only one side has.
    ListDir(Side, Vec<u8>, Id),
    /// Collect the blobs of a tree both sides share.
    Common(Id),
}

/// Go's `path.Join(prefix, name)`, plus a `/` for directories.
fn join(prefix: &[u8], name: &[u8], dir: bool) -> Vec<u8> {
    let mut raw = Vec::with_capacity(prefix.len() + name.len() + 2);
    raw.extend_from_slice(prefix);
    raw.push(b'/');
    raw.extend_from_slice(name);
    let mut path = crate::filter::clean(&raw);
    if dir {
        path.push(b'/');
    }
    path
}

/// The blobs a node refers to directly: a file's content, a directory's tree.
fn add_blobs(set: &mut BlobSet, node: &Node) {
    match node.node_type {
        NodeType::File => {
            for id in node.content.iter().flatten() {
                set.insert((BlobType::Data, *id));
            }
        }
        NodeType::Dir => {
            if let Some(sub) = node.subtree {
                set.insert((BlobType::Tree, sub));
            }
        }
        _ => {}
    }
}

fn count_blobs(
    repo: &Repository,
    blobs: &[(BlobType, Id)],
    stat: &mut DiffStat,
    problems: &mut Vec<DiffProblem>,
) {
    for &(blob_type, id) in blobs {
        match blob_type {
            BlobType::Data => stat.data_blobs += 1,
            BlobType::Tree => stat.tree_blobs += 1,
        }
        match repo.index().lookup(blob_type, &id) {
            Some(loc) => stat.bytes += loc.plain_length(),
            None => problems.push(DiffProblem::MissingBlobSize(blob_type, id)),
        }
    }
}

/// restic 0.14's `Node.Equals`: every field it knows, times compared as
/// instants, extended attributes as a set, the link target as the (lossy)
/// string restic 0.14 reads.
fn same_node(a: &Node, b: &Node) -> bool {
    let instant = |t: &cairn_format::GoTime| (t.unix_secs, t.nanos);
    a.name == b.name
        && a.node_type == b.node_type
        && a.mode == b.mode
        && instant(&a.mtime) == instant(&b.mtime)
        && instant(&a.atime) == instant(&b.atime)
        && instant(&a.ctime) == instant(&b.ctime)
        && a.uid == b.uid
        && a.gid == b.gid
        && a.user == b.user
        && a.group == b.group
        && a.inode == b.inode
        && a.device_id == b.device_id
        && a.size == b.size
        && a.links == b.links
        && go_lossy_string(&a.link_target) == go_lossy_string(&b.link_target)
        && a.device == b.device
        && a.content == b.content
        && same_xattrs(&a.extended_attributes, &b.extended_attributes)
        && a.subtree == b.subtree
        && a.error == b.error
}

/// Same count, and every attribute of `b` is in `a` with the same value
/// and vice versa (order does not matter).
fn same_xattrs(a: &[ExtendedAttribute], b: &[ExtendedAttribute]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut seen: HashMap<&str, (&[u8], bool)> = a
        .iter()
        .map(|x| (x.name.as_str(), (x.value.as_slice(), false)))
        .collect();
    for x in b {
        match seen.get_mut(x.name.as_str()) {
            Some((value, present)) if *value == x.value.as_slice() => *present = true,
            _ => return false,
        }
    }
    seen.values().all(|(_, present)| *present)
}

#[cfg(test)]
#[path = "diff_tests.rs"]
pub(crate) mod tests;
