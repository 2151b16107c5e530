//! Tree blobs: a directory listing as restic serializes it.
//!
//! The exact bytes are `{"nodes":[` + node objects joined by `,` + `]}`
//! followed by a newline, and the tree's ID is the SHA-256 of those bytes.

use crate::gojson::GoJsonFormatter;
use crate::node::{Node, NodeType};
use crate::{FormatError, Id};

mod bounded;

/// A directory listing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tree {
    /// The entries, which restic keeps strictly sorted by raw name bytes.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Parse a tree blob (plaintext, decompressed). Does not check node
    /// order; see [`Tree::validate`].
    pub fn from_json(b: &[u8]) -> Result<Tree, FormatError> {
        crate::limits::check_json_size(b, crate::limits::MAX_TREE_BLOB)?;
        bounded::parse(b)
    }

    /// The exact bytes restic writes for this tree (with current Go
    /// escaping), trailing newline included.
    pub fn to_json(&self) -> Vec<u8> {
        self.to_json_with(GoJsonFormatter::new())
    }

    /// Like [`Tree::to_json`] with a chosen Go escaping dialect; use
    /// [`GoJsonFormatter::go_pre_1_22`] to reproduce trees written by restic
    /// builds older than Go 1.22 whose strings contain backspace or form
    /// feed characters (names are unaffected, they are always quoted).
    pub fn to_json_with(&self, f: GoJsonFormatter) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.nodes.len() * 400);
        out.extend_from_slice(b"{\"nodes\":[");
        for (i, n) in self.nodes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            n.write_json_with(&mut out, f);
        }
        out.extend_from_slice(b"]}\n");
        out
    }

    /// The tree's ID: SHA-256 of [`Tree::to_json`].
    pub fn id(&self) -> Id {
        Id::hash(&self.to_json())
    }

    /// Sort nodes by raw name bytes (restic's order).
    pub fn sort(&mut self) {
        self.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Check the invariants restic relies on: names non-empty and strictly
    /// increasing, file nodes with `content` (not `null`), directory nodes
    /// with a `subtree`.
    pub fn validate(&self) -> Result<(), FormatError> {
        let mut prev: Option<&[u8]> = None;
        for n in &self.nodes {
            let name = String::from_utf8_lossy(&n.name);
            if n.name.is_empty() {
                return Err(FormatError::InvalidTree("node with empty name".into()));
            }
            if let Some(p) = prev {
                if p >= n.name.as_slice() {
                    return Err(FormatError::InvalidTree(format!(
                        "nodes not strictly sorted at {name:?}"
                    )));
                }
            }
            prev = Some(&n.name);
            match n.node_type {
                NodeType::File if n.content.is_none() => {
                    return Err(FormatError::InvalidTree(format!(
                        "file {name:?} has null content"
                    )))
                }
                NodeType::Dir if n.subtree.is_none() => {
                    return Err(FormatError::InvalidTree(format!(
                        "dir {name:?} has no subtree"
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty() {
        let t = Tree::default();
        assert_eq!(t.to_json(), b"{\"nodes\":[]}\n");
        assert_eq!(Tree::from_json(b"{\"nodes\":null}").unwrap(), t);
        assert!(t.validate().is_ok());
    }

    #[test]
    fn validate() {
        let mut t = Tree {
            nodes: vec![
                Node::new(b"b".to_vec(), NodeType::File),
                Node::new(b"a".to_vec(), NodeType::File),
            ],
        };
        assert!(t.validate().is_err());
        t.sort();
        assert!(t.validate().is_ok());
        t.nodes[0].content = None;
        assert!(t.validate().is_err());
        t.nodes[0] = Node::new(b"a".to_vec(), NodeType::Dir);
        assert!(t.validate().is_err());
        t.nodes[0].subtree = Some(Id::hash(b"x"));
        assert!(t.validate().is_ok());
        t.nodes[1].name = b"a".to_vec();
        assert!(t.validate().is_err());
    }
}
