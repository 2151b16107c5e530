//! Walking the trees of a snapshot.

use crate::repository::Repository;
use crate::{Error, Result};
use cairn_format::{Id, Node, NodeType, Tree};

/// What the walker does after visiting a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visit {
    /// Go on, descending into the node if it is a directory.
    Continue,
    /// Go on, but not into this directory.
    SkipSubtree,
    /// End the walk.
    Stop,
}

/// Calls `visit` for every node below `tree`, depth first in stored order
/// (a directory before its contents), with the node's path as raw bytes
/// (`/dir/file`). Trees that cannot be loaded are passed to `on_error`;
/// returning an error from it ends the walk.
pub fn walk(
    repo: &Repository,
    tree: &Id,
    visit: &mut dyn FnMut(&[u8], &Node) -> Result<Visit>,
    on_error: &mut dyn FnMut(&[u8], Error) -> Result<()>,
) -> Result<()> {
    let mut path = Vec::new();
    walk_into(repo, tree, &mut path, visit, on_error).map(|_| ())
}

fn walk_into(
    repo: &Repository,
    tree_id: &Id,
    path: &mut Vec<u8>,
    visit: &mut dyn FnMut(&[u8], &Node) -> Result<Visit>,
    on_error: &mut dyn FnMut(&[u8], Error) -> Result<()>,
) -> Result<bool> {
    let tree = match repo.load_tree(tree_id) {
        Ok(t) => t,
        Err(e) => {
            on_error(path, e)?;
            return Ok(true);
        }
    };
    for node in &tree.nodes {
        let len = path.len();
        path.push(b'/');
        path.extend_from_slice(&node.name);
        let action = visit(path, node)?;
        let keep_going = match (action, &node.subtree) {
            (Visit::Stop, _) => false,
            (Visit::Continue, Some(sub)) if node.node_type == NodeType::Dir => {
                walk_into(repo, sub, path, visit, on_error)?
            }
            _ => true,
        };
        path.truncate(len);
        if !keep_going {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Finds the node at `path` (`/a/b`, raw bytes) below `root`. The root
/// itself (`/` or empty) has no node; it returns `None` with the root tree.
pub fn find_node(repo: &Repository, root: &Id, path: &[u8]) -> Result<(Option<Node>, Tree)> {
    let mut tree = repo.load_tree(root)?;
    let mut current: Option<Node> = None;
    let parts = path
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty() && *p != b".");
    for part in parts {
        if let Some(node) = &current {
            let sub = node
                .subtree
                .filter(|_| node.node_type == NodeType::Dir)
                .ok_or_else(|| not_found(path))?;
            tree = repo.load_tree(&sub)?;
        }
        let node = tree
            .nodes
            .iter()
            .find(|n| n.name == part)
            .cloned()
            .ok_or_else(|| not_found(path))?;
        current = Some(node);
    }
    if let Some(node) = &current {
        if let (NodeType::Dir, Some(sub)) = (&node.node_type, node.subtree) {
            tree = repo.load_tree(&sub)?;
        }
    }
    Ok((current, tree))
}

fn not_found(path: &[u8]) -> Error {
    Error::PathNotFound(String::from_utf8_lossy(path).into_owned())
}
