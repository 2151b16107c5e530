//! Rewriting a snapshot's tree bottom-up: every node passes a policy that
//! keeps, changes or drops it; directories are rewritten recursively and
//! each new tree is saved through a [`BlobWriter`].

use super::{RepairNote, RewriteEvent, RewriteProgress};
use crate::backup::exclude::Excluder;
use crate::filter::PatternList;
use crate::repository::Repository;
use crate::write::BlobWriter;
use crate::{Error, Result};
use cairn_format::gojson::GoJsonFormatter;
use cairn_format::{BlobType, Id, Node, NodeType, Tree};
use std::collections::{HashMap, HashSet};

/// What happens to the nodes of a tree.
pub(crate) enum Policy {
    /// Drop nodes whose path an exclude pattern matches (`rewrite`).
    Exclude(Excluder),
    /// Keep only nodes some include list matches, with the directories
    /// leading to them (`rewrite --include`); directories left empty go
    /// unless a list matches them.
    Include(Vec<PatternList>),
    /// Drop unreadable directories' contents and missing file contents
    /// (`repair snapshots`).
    Repair,
}

/// A rewritten tree: its new ID and the files and file bytes below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rewritten {
    pub id: Id,
    pub files: u64,
    pub bytes: u64,
}

/// A tree being rewritten: where it is, its nodes, and what is new so far.
struct DirRewrite {
    path: Vec<u8>,
    /// Its cache key: (path or empty, old ID).
    key: (Vec<u8>, Id),
    tree: Tree,
    /// The next node to rewrite.
    next: usize,
    /// A directory node (and its index) waiting for its subtree's result.
    waiting: Option<(usize, Node)>,
    out: Rewritten,
    changed: bool,
    new: Tree,
}

impl DirRewrite {
    /// Takes the rewritten node `new_node` of old node `index`; a
    /// directory comes with its subtree's result (`None`: gone).
    fn adopt(&mut self, index: usize, mut new_node: Node, subtree: Option<Option<Rewritten>>) {
        match (&new_node.node_type, subtree) {
            (NodeType::Dir, Some(None)) => {
                self.changed = true;
                return;
            }
            (NodeType::Dir, Some(Some(done))) => {
                new_node.subtree = Some(done.id);
                self.out.files += done.files;
                self.out.bytes += done.bytes;
            }
            (NodeType::File, _) => {
                self.out.files += 1;
                self.out.bytes += new_node.size;
            }
            _ => {}
        }
        self.changed |= new_node != self.tree.nodes[index];
        self.new.nodes.push(new_node);
    }
}

/// What starting on a tree gives.
enum Opened {
    /// The result at once (cached, or the tree is unreadable).
    Done(Option<Rewritten>),
    /// A directory to rewrite node by node.
    Dir(Box<DirRewrite>),
}

/// Rewrites trees with one policy, remembering across snapshots which
/// trees were already rewritten and which were saved (so a tree shared by
/// several snapshots is rewritten and stored once).
pub(crate) struct TreeRewriter {
    /// A copy of the repository value (sharing store and index) as it was
    /// when rewriting started; trees saved since are in `saved`.
    repo: Repository,
    policy: Policy,
    /// `rewrite` refuses trees it cannot encode back to the same bytes
    /// (restic: "cannot encode tree ... without losing information").
    check_encoding: bool,
    /// (path, old tree) to the result; the path is empty when the policy
    /// does not depend on it.
    cache: HashMap<(Vec<u8>, Id), Option<Rewritten>>,
    /// The operation's cancellation token.
    cancel: crate::Cancel,
    /// Trees stored by earlier writers (the index in memory does not know
    /// them).
    saved: HashSet<Id>,
}

impl TreeRewriter {
    pub(crate) fn new(repo: &Repository, policy: Policy, cancel: crate::Cancel) -> Self {
        let check_encoding = matches!(policy, Policy::Exclude(_) | Policy::Include(_));
        TreeRewriter {
            cancel,
            repo: repo.clone(),
            policy,
            check_encoding,
            cache: HashMap::new(),
            saved: HashSet::new(),
        }
    }

    /// Rewrites the tree `id` found at `path` (`/` for a root). `None`
    /// means the tree is gone (an unreadable root while repairing).
    ///
    /// Directories being rewritten are kept on a heap stack, each waiting
    /// for the one above it, so any depth is handled without recursion.
    pub(crate) fn rewrite(
        &mut self,
        writer: &BlobWriter,
        path: &[u8],
        id: Id,
        progress: &dyn RewriteProgress,
    ) -> Result<Option<Rewritten>> {
        let mut stack = match self.open(writer, path.to_vec(), id, progress)? {
            Opened::Done(done) => return Ok(done),
            Opened::Dir(dir) => vec![dir],
        };
        loop {
            let dir = stack
                .last_mut()
                .expect("the stack holds the root until it is done");
            let Some(node) = dir.tree.nodes.get(dir.next) else {
                let dir = stack.pop().expect("just looked at it");
                let done = self.finish(writer, dir, progress)?;
                match stack.last_mut() {
                    None => return Ok(done),
                    Some(parent) => {
                        let (index, node) = parent.waiting.take().expect("a parent waits");
                        parent.adopt(index, node, Some(done));
                    }
                }
                continue;
            };
            let index = dir.next;
            dir.next += 1;
            let mut child = dir.path.clone();
            if child != b"/" {
                child.push(b'/');
            }
            child.extend_from_slice(&node.name);
            let Some(new_node) = self.rewrite_node(node.clone(), &child, progress) else {
                dir.changed = true;
                continue;
            };
            if new_node.node_type != NodeType::Dir {
                dir.adopt(index, new_node, None);
                continue;
            }
            let sub = new_node.subtree.unwrap_or_default();
            match self.open(writer, child, sub, progress)? {
                Opened::Done(done) => dir.adopt(index, new_node, Some(done)),
                Opened::Dir(below) => {
                    dir.waiting = Some((index, new_node));
                    stack.push(below);
                }
            }
        }
    }

    /// Starts rewriting the tree `id` at `path`: done at once when cached
    /// or unreadable, else a directory to go through.
    fn open(
        &mut self,
        writer: &BlobWriter,
        path: Vec<u8>,
        id: Id,
        progress: &dyn RewriteProgress,
    ) -> Result<Opened> {
        let key_path = match self.policy {
            Policy::Exclude(_) | Policy::Include(_) => path.clone(),
            Policy::Repair => Vec::new(),
        };
        let key = (key_path, id);
        if let Some(done) = self.cache.get(&key) {
            return Ok(Opened::Done(*done));
        }
        let tree = match self.repo.load_tree(&id) {
            Ok(tree) => tree,
            Err(e @ (Error::Interrupted | Error::Backend(_))) => return Err(e),
            Err(e) => {
                let Policy::Repair = self.policy else {
                    return Err(e);
                };
                if path == b"/" {
                    progress.event(&RewriteEvent::Repair(RepairNote::RootNotReadable));
                    return Ok(Opened::Done(None));
                }
                progress.event(&RewriteEvent::Repair(RepairNote::DirReplaced(&path)));
                let id = self.save(writer, &Tree::default(), GoJsonFormatter::new())?;
                return Ok(Opened::Done(Some(Rewritten {
                    id,
                    files: 0,
                    bytes: 0,
                })));
            }
        };
        self.cancel.check()?;
        Ok(Opened::Dir(Box::new(DirRewrite {
            path,
            key,
            tree,
            next: 0,
            waiting: None,
            out: Rewritten {
                id,
                files: 0,
                bytes: 0,
            },
            changed: false,
            new: Tree::default(),
        })))
    }

    /// Saves a directory whose nodes are all rewritten (if it changed);
    /// `None` when an include policy drops it as empty.
    fn finish(
        &mut self,
        writer: &BlobWriter,
        dir: Box<DirRewrite>,
        progress: &dyn RewriteProgress,
    ) -> Result<Option<Rewritten>> {
        if let Policy::Include(lists) = &self.policy {
            if dir.new.nodes.is_empty() {
                if !lists.iter().any(|l| l.matches(&dir.path)) {
                    self.cache.insert(dir.key, None);
                    return Ok(None);
                }
                progress.event(&RewriteEvent::IncludingDirectory(&dir.path));
            }
        }
        let mut out = dir.out;
        // An unchanged tree keeps its ID and bytes; a changed one is
        // encoded anew, which must not lose what the old bytes said.
        if dir.changed {
            let format = self.encoding(&dir.path, &dir.key.1, &dir.tree)?;
            out.id = self.save(writer, &dir.new, format)?;
        }
        self.cache.insert(dir.key, Some(out));
        Ok(Some(out))
    }

    /// The escaping dialect that encodes `tree` back to its ID `id`; fails
    /// when none does and the check is on (the tree holds something this
    /// encoder would lose).
    fn encoding(&self, path: &[u8], id: &Id, tree: &Tree) -> Result<GoJsonFormatter> {
        if !self.check_encoding {
            return Ok(GoJsonFormatter::new());
        }
        for format in [GoJsonFormatter::new(), GoJsonFormatter::go_pre_1_22()] {
            if Id::hash(&tree.to_json_with(format)) == *id {
                return Ok(format);
            }
        }
        Err(Error::InvalidArgument(format!(
            "cannot encode tree at {:?} without losing information",
            String::from_utf8_lossy(path)
        )))
    }

    /// Applies the policy to one node; `None` drops it.
    fn rewrite_node(
        &self,
        mut node: Node,
        path: &[u8],
        progress: &dyn RewriteProgress,
    ) -> Option<Node> {
        match &self.policy {
            Policy::Exclude(excluder) => {
                if excluder.excluded_by_name(path) {
                    progress.event(&RewriteEvent::Excluding(path));
                    return None;
                }
                Some(node)
            }
            Policy::Include(lists) => {
                let is_dir = node.node_type == NodeType::Dir;
                let keep = lists.iter().any(|l| {
                    let (matched, child_may_match) = l.matches_with_child(path);
                    matched || (is_dir && child_may_match)
                });
                if !keep {
                    return None;
                }
                if !is_dir {
                    progress.event(&RewriteEvent::Including(path));
                }
                Some(node)
            }
            Policy::Repair => {
                match &node.node_type {
                    NodeType::Irregular | NodeType::Other(_) => {
                        let kind = node.node_type.as_str().to_string();
                        progress.event(&RewriteEvent::Repair(RepairNote::RemovedInvalidNode(
                            path, &kind,
                        )));
                        return None;
                    }
                    NodeType::File => {}
                    _ => return Some(node),
                }
                let index = self.repo.index();
                let mut complete = true;
                let mut content = Vec::new();
                let mut size = 0;
                for id in node.content.take().unwrap_or_default() {
                    match index.lookup(BlobType::Data, &id) {
                        Some(loc) => {
                            size += loc.plain_length();
                            content.push(id);
                        }
                        None => complete = false,
                    }
                }
                if !complete {
                    progress.event(&RewriteEvent::Repair(RepairNote::RemovedMissingContent(
                        path,
                    )));
                } else if size != node.size {
                    progress.event(&RewriteEvent::Repair(RepairNote::FixedSize(path)));
                }
                node.content = Some(content);
                node.size = size;
                Some(node)
            }
        }
    }

    /// Stores a tree unless it is already stored; returns its ID.
    fn save(&mut self, writer: &BlobWriter, tree: &Tree, format: GoJsonFormatter) -> Result<Id> {
        let json = tree.to_json_with(format);
        let id = Id::hash(&json);
        if self.saved.insert(id) {
            writer.save_blob_with_id(BlobType::Tree, id, &json)?;
        }
        Ok(id)
    }
}
