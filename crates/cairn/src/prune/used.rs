//! Finding the blobs the snapshots use.

use crate::repository::Repository;
use crate::{Error, Result};
use cairn_format::{BlobType, Id, NodeType};
use rayon::prelude::*;
use std::collections::HashSet;

/// A set of blobs, keyed like the index: by type and ID.
pub(crate) type BlobSet = HashSet<(BlobType, Id)>;

/// Every tree reachable from `roots` and every data blob their files
/// refer to.
///
/// Each tree is loaded once; the trees of one depth are loaded in
/// parallel. A tree the index does not know, or whose pack is missing, is
/// kept in the set (so that the caller refuses to prune, naming it or its
/// pack) but cannot be descended into; any other failure to load a tree
/// ends the search.
pub(crate) fn find_used_blobs(
    repo: &Repository,
    roots: &[Id],
    cancel: &crate::Cancel,
) -> Result<BlobSet> {
    let mut used = BlobSet::new();
    let mut frontier: Vec<Id> = Vec::new();
    for root in roots {
        if used.insert((BlobType::Tree, *root)) {
            frontier.push(*root);
        }
    }
    while !frontier.is_empty() {
        cancel.check()?;
        let found: Vec<Result<(Vec<Id>, Vec<Id>)>> =
            frontier.par_iter().map(|id| children(repo, id)).collect();
        let mut next = Vec::new();
        for result in found {
            let (subtrees, data) = result?;
            for id in data {
                used.insert((BlobType::Data, id));
            }
            for id in subtrees {
                if used.insert((BlobType::Tree, id)) {
                    next.push(id);
                }
            }
        }
        frontier = next;
    }
    Ok(used)
}

/// The subtrees and data blobs one tree refers to (none if the index does
/// not know the tree).
fn children(repo: &Repository, id: &Id) -> Result<(Vec<Id>, Vec<Id>)> {
    let tree = match repo.load_tree(id) {
        Ok(tree) => tree,
        // Unknown to the index, or its pack is gone: reported as a missing
        // blob or a missing needed pack once the walk is over.
        Err(Error::BlobNotFound { .. }) => return Ok((Vec::new(), Vec::new())),
        Err(Error::Backend(e)) if e.is_not_found() => return Ok((Vec::new(), Vec::new())),
        Err(e) => {
            return Err(Error::InvalidArgument(format!(
                "unable to load a tree from the repository: {e}"
            )))
        }
    };
    let mut subtrees = Vec::new();
    let mut data = Vec::new();
    for node in tree.nodes {
        match node.node_type {
            NodeType::File => data.extend(node.content.unwrap_or_default()),
            NodeType::Dir => subtrees.extend(node.subtree),
            _ => {}
        }
    }
    Ok((subtrees, data))
}
