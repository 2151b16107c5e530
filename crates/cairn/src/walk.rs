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
///
/// The walk keeps its own stack of open directories rather than
/// recursing, so any depth (a crafted snapshot may nest 100,000
/// directories) costs heap, not the thread's stack.
pub fn walk(
    repo: &Repository,
    tree: &Id,
    visit: &mut dyn FnMut(&[u8], &Node) -> Result<Visit>,
    on_error: &mut dyn FnMut(&[u8], Error) -> Result<()>,
) -> Result<()> {
    let mut path = Vec::new();
    let mut open: Vec<OpenDir> = Vec::new();
    match repo.load_tree(tree) {
        Ok(t) => open.push(OpenDir::new(t, 0)),
        Err(e) => on_error(&path, e)?,
    }
    while let Some(dir) = open.last_mut() {
        let Some(node) = dir.nodes.next() else {
            open.pop();
            continue;
        };
        path.truncate(dir.path_len);
        path.push(b'/');
        path.extend_from_slice(&node.name);
        match (visit(&path, &node)?, node.subtree) {
            (Visit::Stop, _) => return Ok(()),
            (Visit::Continue, Some(sub)) if node.node_type == NodeType::Dir => {
                match repo.load_tree(&sub) {
                    Ok(t) => open.push(OpenDir::new(t, path.len())),
                    Err(e) => on_error(&path, e)?,
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A directory being walked: the nodes not visited yet, and the length of
/// the directory's own path.
struct OpenDir {
    nodes: std::vec::IntoIter<Node>,
    path_len: usize,
}

impl OpenDir {
    fn new(tree: Tree, path_len: usize) -> Self {
        OpenDir {
            nodes: tree.nodes.into_iter(),
            path_len,
        }
    }
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
