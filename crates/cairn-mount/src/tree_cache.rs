//! Directory listings of snapshot trees, loaded once per tree and kept in
//! a cache bounded by the number of trees (least recently used dropped).
//!
//! As restic's mount shows them: each entry under the last part of its
//! name (a name with `/` is cut to what follows the last `/`), a directory
//! entry called `.` or `/` replaced by its own contents, entries named
//! `""`, `.` or `..` left out, and of two entries with one name the later.

use cairn::{Id, Node, NodeType, Repository};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// One directory's entries, by name.
#[derive(Debug, Default)]
pub struct Listing {
    /// The entries, sorted by name.
    pub entries: BTreeMap<Vec<u8>, Arc<Node>>,
    /// How many of them are directories.
    pub subdirs: u32,
}

/// The last part of a node's name, `None` if that part cannot be a name.
fn shown_name(name: &[u8]) -> Option<Vec<u8>> {
    let trimmed = name.strip_suffix(b"/").unwrap_or(name);
    let base = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    };
    match base {
        b"" | b"." | b".." => None,
        b => Some(b.to_vec()),
    }
}

fn build(repo: &Repository, tree: &Id) -> cairn::Result<Listing> {
    let mut listing = Listing::default();
    for node in repo.load_tree(tree)?.nodes {
        let special = node.node_type == NodeType::Dir && (node.name == b"." || node.name == b"/");
        let nodes = match (special, node.subtree) {
            (true, Some(sub)) => repo.load_tree(&sub)?.nodes,
            _ => vec![node],
        };
        for mut node in nodes {
            let Some(name) = shown_name(&node.name) else {
                continue;
            };
            node.name = name.clone();
            listing.entries.insert(name, Arc::new(node));
        }
    }
    listing.subdirs = listing
        .entries
        .values()
        .filter(|n| n.node_type == NodeType::Dir)
        .count() as u32;
    Ok(listing)
}

/// Listings by tree ID, at most `capacity` of them.
#[derive(Debug)]
pub struct TreeCache {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    listings: HashMap<Id, (Arc<Listing>, u64)>,
    order: BTreeMap<u64, Id>,
    tick: u64,
}

impl TreeCache {
    /// An empty cache of at most `capacity` listings.
    pub fn new(capacity: usize) -> TreeCache {
        TreeCache {
            capacity: capacity.max(1),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The listing of `tree` if it is cached.
    pub fn cached(&self, tree: &Id) -> Option<Arc<Listing>> {
        let mut s = self.state();
        s.tick += 1;
        let tick = s.tick;
        let (listing, used) = s.listings.get_mut(tree)?;
        let listing = listing.clone();
        let old = std::mem::replace(used, tick);
        s.order.remove(&old);
        s.order.insert(tick, *tree);
        Some(listing)
    }

    /// The listing of `tree`, loaded from `repo` if not cached.
    pub fn get(&self, repo: &Repository, tree: &Id) -> cairn::Result<Arc<Listing>> {
        if let Some(listing) = self.cached(tree) {
            return Ok(listing);
        }
        let listing = Arc::new(build(repo, tree)?);
        let mut s = self.state();
        if !s.listings.contains_key(tree) {
            while s.listings.len() >= self.capacity {
                let Some((_, oldest)) = s.order.pop_first() else {
                    break;
                };
                s.listings.remove(&oldest);
            }
            s.tick += 1;
            let tick = s.tick;
            s.order.insert(tick, *tree);
            s.listings.insert(*tree, (listing.clone(), tick));
        }
        Ok(listing)
    }

    /// How many listings are cached.
    pub fn len(&self) -> usize {
        self.state().listings.len()
    }

    /// True if none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn::testing::{dir, file, Crafter};

    #[test]
    fn listings_follow_restics_naming_and_the_cache_is_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
        let inner = c.tree(vec![file("x", &[], 0)]).unwrap();
        let t1 = c
            .tree(vec![
                file("a/b", &[], 0),
                file("..", &[], 0),
                dir(".", inner),
                dir("d", inner),
            ])
            .unwrap();
        let t2 = c.tree(vec![file("only", &[], 0)]).unwrap();
        c.flush().unwrap();
        let cache = TreeCache::new(1);
        let l = cache.get(c.repo(), &t1).unwrap();
        let names: Vec<&[u8]> = l.entries.keys().map(|k| k.as_slice()).collect();
        assert_eq!(names, [&b"b"[..], b"d", b"x"]);
        assert_eq!(l.subdirs, 1);
        cache.get(c.repo(), &t2).unwrap();
        assert_eq!(cache.len(), 1);
        assert!(cache.cached(&t1).is_none());
    }
}
