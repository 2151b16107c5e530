//! A tree walk that tells its visitor what restic's walker tells its own:
//! the ID of the tree holding each node, every tree entered (the root
//! included) and every directory left. `find --tree/--blob` reports the
//! trees that hold what it finds, and `ls --ncdu` closes each directory's
//! list when the walk leaves it.
//!
//! Like [`crate::walk::walk`], the walk keeps its own stack instead of
//! recursing, so a crafted snapshot of any depth costs heap, not the
//! thread's stack.

use crate::repository::Repository;
use crate::walk::Visit;
use crate::{Error, Result};
use cairn_format::{Id, Node, NodeType};

/// Receives a walk's events, depth first in stored order.
pub trait TreeVisitor {
    /// A node at `path` (`/dir/file`, raw bytes) in the tree `parent`.
    /// For a directory, [`Visit::Continue`] enters it, [`Visit::SkipSubtree`]
    /// does not; for any other node [`Visit::SkipSubtree`] skips the rest
    /// of the tree holding it (restic's `ErrSkipNode`). [`Visit::Stop`] ends
    /// the walk.
    fn node(&mut self, parent: &Id, path: &[u8], node: &Node) -> Result<Visit>;

    /// The tree `tree` at `path` (`/` for the root) was loaded and is about
    /// to be walked. [`Visit::SkipSubtree`] leaves it unwalked (no
    /// [`TreeVisitor::leave_dir`] follows), [`Visit::Stop`] ends the walk.
    fn enter_dir(&mut self, _tree: &Id, _path: &[u8]) -> Result<Visit> {
        Ok(Visit::Continue)
    }

    /// Every node of the directory at `path` (`/` for the root) was
    /// visited.
    fn leave_dir(&mut self, _path: &[u8]) -> Result<()> {
        Ok(())
    }

    /// The tree of the directory at `path` (`/` for the root) could not be
    /// loaded; `parent` is the tree naming it (the root's own ID for the
    /// root). The walk goes on unless this returns an error.
    fn unreadable(&mut self, parent: &Id, path: &[u8], error: Error) -> Result<()>;
}

/// A directory being walked.
struct OpenDir {
    id: Id,
    nodes: std::vec::IntoIter<Node>,
    path_len: usize,
}

/// Walks the tree `root` (see the module docs).
pub fn walk_tree(repo: &Repository, root: &Id, visitor: &mut dyn TreeVisitor) -> Result<()> {
    let mut path: Vec<u8> = b"/".to_vec();
    let mut open: Vec<OpenDir> = Vec::new();
    if !enter(repo, root, root, &path, 0, &mut open, visitor)? {
        return Ok(());
    }
    while let Some(dir) = open.last_mut() {
        let Some(node) = dir.nodes.next() else {
            let dir = open.pop().expect("just looked at it");
            path.truncate(dir.path_len.max(1));
            visitor.leave_dir(&path)?;
            continue;
        };
        let parent = dir.id;
        path.truncate(dir.path_len);
        path.push(b'/');
        path.extend_from_slice(&node.name);
        let visit = visitor.node(&parent, &path, &node)?;
        let is_dir = node.node_type == NodeType::Dir;
        match visit {
            Visit::Stop => return Ok(()),
            Visit::SkipSubtree if !is_dir => {
                // restic: the remaining entries of this tree are skipped.
                let dir = open.last_mut().expect("still open");
                dir.nodes = Vec::new().into_iter();
            }
            Visit::Continue if is_dir => {
                let sub = node.subtree.unwrap_or_default();
                let len = path.len();
                if !enter(repo, &parent, &sub, &path, len, &mut open, visitor)? {
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Loads the tree `id` at `path` and opens it; false when the walk is to
/// stop.
fn enter(
    repo: &Repository,
    parent: &Id,
    id: &Id,
    path: &[u8],
    path_len: usize,
    open: &mut Vec<OpenDir>,
    visitor: &mut dyn TreeVisitor,
) -> Result<bool> {
    let tree = match repo.load_tree(id) {
        Ok(tree) => tree,
        Err(e @ Error::Interrupted) => return Err(e),
        Err(e) => {
            visitor.unreadable(parent, path, e)?;
            return Ok(true);
        }
    };
    match visitor.enter_dir(id, path)? {
        Visit::Stop => Ok(false),
        Visit::SkipSubtree => Ok(true),
        Visit::Continue => {
            open.push(OpenDir {
                id: *id,
                nodes: tree.nodes.into_iter(),
                // The root's children are `/name`: its own length is 0.
                path_len: if path == b"/" { 0 } else { path_len },
            });
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{dir, file, Crafter};

    /// Records every event as a line.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl TreeVisitor for Log {
        fn node(&mut self, parent: &Id, path: &[u8], _node: &Node) -> Result<Visit> {
            let p = String::from_utf8_lossy(path);
            self.0.push(format!("node {p} in {}", parent.short()));
            Ok(if p == "/skip" {
                Visit::SkipSubtree
            } else {
                Visit::Continue
            })
        }
        fn enter_dir(&mut self, tree: &Id, path: &[u8]) -> Result<Visit> {
            let p = String::from_utf8_lossy(path);
            self.0.push(format!("enter {p} {}", tree.short()));
            Ok(Visit::Continue)
        }
        fn leave_dir(&mut self, path: &[u8]) -> Result<()> {
            self.0
                .push(format!("leave {}", String::from_utf8_lossy(path)));
            Ok(())
        }
        fn unreadable(&mut self, parent: &Id, path: &[u8], _e: Error) -> Result<()> {
            let p = String::from_utf8_lossy(path);
            self.0.push(format!("unreadable {p} in {}", parent.short()));
            Ok(())
        }
    }

    #[test]
    fn events_name_parents_and_close_every_entered_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
        let blob = c.data(b"x").unwrap();
        let inner = c.tree(vec![file("f", &[blob], 1)]).unwrap();
        let missing = Id::hash(b"no such tree");
        let root = c
            .tree(vec![
                dir("a", inner),
                dir("gone", missing),
                dir("skip", inner),
            ])
            .unwrap();
        c.flush().unwrap();
        let mut log = Log::default();
        walk_tree(c.repo(), &root, &mut log).unwrap();
        let (r, i) = (root.short(), inner.short());
        assert_eq!(
            log.0,
            vec![
                format!("enter / {r}"),
                format!("node /a in {r}"),
                format!("enter /a {i}"),
                format!("node /a/f in {i}"),
                "leave /a".to_string(),
                format!("node /gone in {r}"),
                format!("unreadable /gone in {r}"),
                format!("node /skip in {r}"),
                "leave /".to_string(),
            ]
        );
    }
}
