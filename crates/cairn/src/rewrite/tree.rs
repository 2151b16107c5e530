//! Rewriting a snapshot's tree bottom-up: every node passes a policy that
//! keeps, changes or drops it; directories are rewritten recursively and
//! each new tree is saved through a [`BlobWriter`].

use super::{RepairNote, RewriteEvent, RewriteProgress};
use crate::backup::exclude::Excluder;
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

/// Rewrites trees with one policy, remembering across snapshots which
/// trees were already rewritten and which were saved (so a tree shared by
/// several snapshots is rewritten and stored once).
pub(crate) struct TreeRewriter<'r> {
    repo: &'r Repository,
    policy: Policy,
    /// `rewrite` refuses trees it cannot encode back to the same bytes
    /// (restic: "cannot encode tree ... without losing information").
    check_encoding: bool,
    /// (path, old tree) to the result; the path is empty when the policy
    /// does not depend on it.
    cache: HashMap<(Vec<u8>, Id), Option<Rewritten>>,
    /// Trees stored by earlier writers (the index in memory does not know
    /// them).
    saved: HashSet<Id>,
}

impl<'r> TreeRewriter<'r> {
    pub(crate) fn new(repo: &'r Repository, policy: Policy) -> Self {
        let check_encoding = matches!(policy, Policy::Exclude(_));
        TreeRewriter {
            repo,
            policy,
            check_encoding,
            cache: HashMap::new(),
            saved: HashSet::new(),
        }
    }

    /// Rewrites the tree `id` found at `path` (`/` for a root). `None`
    /// means the tree is gone (an unreadable root while repairing).
    pub(crate) fn rewrite(
        &mut self,
        writer: &BlobWriter,
        path: &[u8],
        id: Id,
        progress: &dyn RewriteProgress,
    ) -> Result<Option<Rewritten>> {
        let key_path = match self.policy {
            Policy::Exclude(_) => path.to_vec(),
            Policy::Repair => Vec::new(),
        };
        let key = (key_path, id);
        if let Some(done) = self.cache.get(&key) {
            return Ok(*done);
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
                    return Ok(None);
                }
                progress.event(&RewriteEvent::Repair(RepairNote::DirReplaced(path)));
                let id = self.save(writer, &Tree::default(), GoJsonFormatter::new())?;
                return Ok(Some(Rewritten {
                    id,
                    files: 0,
                    bytes: 0,
                }));
            }
        };
        crate::interrupt::check()?;
        let mut out = Rewritten {
            id,
            files: 0,
            bytes: 0,
        };
        let mut changed = false;
        let mut new = Tree::default();
        for node in &tree.nodes {
            let mut child = path.to_vec();
            if child != b"/" {
                child.push(b'/');
            }
            child.extend_from_slice(&node.name);
            let Some(mut new_node) = self.rewrite_node(node.clone(), &child, progress) else {
                changed = true;
                continue;
            };
            match new_node.node_type {
                NodeType::Dir => {
                    let sub = new_node.subtree.unwrap_or_default();
                    let Some(done) = self.rewrite(writer, &child, sub, progress)? else {
                        changed = true;
                        continue;
                    };
                    new_node.subtree = Some(done.id);
                    out.files += done.files;
                    out.bytes += done.bytes;
                }
                NodeType::File => {
                    out.files += 1;
                    out.bytes += new_node.size;
                }
                _ => {}
            }
            changed |= new_node != *node;
            new.nodes.push(new_node);
        }
        // An unchanged tree keeps its ID and bytes; a changed one is
        // encoded anew, which must not lose what the old bytes said.
        if changed {
            let format = self.encoding(path, &id, &tree)?;
            out.id = self.save(writer, &new, format)?;
        }
        self.cache.insert(key, Some(out));
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
