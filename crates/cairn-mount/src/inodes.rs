//! Stable inode numbers: each thing the kernel has seen keeps its number
//! for the life of the mount.
//!
//! Virtual paths are keyed by path, a snapshot's directory by path and
//! snapshot (a name that later shows another snapshot gets a new number),
//! nodes inside snapshots by their parent's number and name. A file or
//! other non-directory with more than one link is keyed by its device and
//! inode instead, so hard links share a number as in restic's mount.

use crate::layout::SnapshotEntry;
use cairn::{Id, Node};
use std::collections::HashMap;
use std::sync::Arc;

/// The root directory's inode number.
pub const ROOT: u64 = 1;

/// What an inode number stands for.
#[derive(Debug, Clone)]
pub enum Inode {
    /// A virtual directory (the root is `""`).
    Meta(String),
    /// A `latest` link at this virtual path.
    Link(String),
    /// A snapshot's root directory.
    Snapshot(Arc<SnapshotEntry>),
    /// A node inside a snapshot, with its parent's inode.
    Node {
        /// The node.
        node: Arc<Node>,
        /// The directory it was found in.
        parent: u64,
    },
}

#[derive(Debug, Hash, PartialEq, Eq)]
enum Key {
    Meta(String),
    Link(String),
    Snapshot(String, Id),
    Child(u64, Vec<u8>),
    HardLink(u64, u64),
}

/// The table of inode numbers.
#[derive(Debug)]
pub struct InodeTable {
    by_key: HashMap<Key, u64>,
    inodes: Vec<Inode>,
}

impl Default for InodeTable {
    fn default() -> Self {
        InodeTable {
            by_key: HashMap::from([(Key::Meta(String::new()), ROOT)]),
            inodes: vec![Inode::Meta(String::new())],
        }
    }
}

impl InodeTable {
    /// What inode `ino` is.
    pub fn get(&self, ino: u64) -> Option<&Inode> {
        let i = usize::try_from(ino.checked_sub(1)?).ok()?;
        self.inodes.get(i)
    }

    fn intern(&mut self, key: Key, inode: Inode) -> u64 {
        if let Some(&ino) = self.by_key.get(&key) {
            // Nodes are replaced: a hard link seen through another path
            // keeps its number, with the node last seen.
            if matches!(inode, Inode::Node { .. }) {
                self.inodes[ino as usize - 1] = inode;
            }
            return ino;
        }
        self.inodes.push(inode);
        let ino = self.inodes.len() as u64;
        self.by_key.insert(key, ino);
        ino
    }

    /// The number of the virtual directory at `path`.
    pub fn meta(&mut self, path: &str) -> u64 {
        self.intern(Key::Meta(path.into()), Inode::Meta(path.into()))
    }

    /// The number of the `latest` link at `path`.
    pub fn link(&mut self, path: &str) -> u64 {
        self.intern(Key::Link(path.into()), Inode::Link(path.into()))
    }

    /// The number of the directory of `snapshot` at `path`.
    pub fn snapshot(&mut self, path: &str, snapshot: &Arc<SnapshotEntry>) -> u64 {
        self.intern(
            Key::Snapshot(path.into(), snapshot.id),
            Inode::Snapshot(snapshot.clone()),
        )
    }

    /// The number of `node`, found in directory `parent`.
    pub fn node(&mut self, parent: u64, node: &Arc<Node>) -> u64 {
        let key = if node.links > 1 && node.node_type != cairn::NodeType::Dir {
            Key::HardLink(node.device_id, node.inode)
        } else {
            Key::Child(parent, node.name.clone())
        };
        self.intern(
            key,
            Inode::Node {
                node: node.clone(),
                parent,
            },
        )
    }

    /// How many numbers were handed out.
    pub fn len(&self) -> usize {
        self.inodes.len()
    }

    /// Never true: the root is always there.
    pub fn is_empty(&self) -> bool {
        self.inodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn::NodeType;

    #[test]
    fn numbers_are_stable_and_hard_links_share_one() {
        let mut t = InodeTable::default();
        assert_eq!(t.meta(""), ROOT);
        let ids = t.meta("/ids");
        assert_eq!(t.meta("/ids"), ids);
        let mut a = Node::new("a", NodeType::File);
        a.links = 2;
        a.inode = 77;
        let mut b = a.clone();
        b.name = b"b".to_vec();
        let na = t.node(5, &Arc::new(a));
        let nb = t.node(9, &Arc::new(b));
        assert_eq!(na, nb);
        let c = Node::new("c", NodeType::File);
        let nc = t.node(5, &Arc::new(c.clone()));
        assert_ne!(nc, na);
        assert_eq!(t.node(5, &Arc::new(c)), nc);
        assert!(matches!(t.get(nc), Some(Inode::Node { parent: 5, .. })));
        assert!(t.get(0).is_none());
        assert!(t.get(1000).is_none());
    }
}
