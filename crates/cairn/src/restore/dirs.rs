//! The restored directories as a flat table (parents before children),
//! and open descriptors for them.
//!
//! Every operation below the target runs relative to the descriptor of
//! the entry's directory, so no path is ever resolved from the target
//! down: a symlink in the target (planted or restored) cannot redirect
//! anything, and depth is not limited by `PATH_MAX`. Descriptors are
//! cached for a bounded number of directories; one that is not cached is
//! opened again from its nearest cached ancestor (or the target), one name
//! at a time with `O_NOFOLLOW | O_DIRECTORY`.

use super::plan::{PlanDir, PlanItem};
use super::sys;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Directories kept open at most (besides those in use right now). The
/// default soft limit on descriptors is 1024.
pub(crate) const CACHED_DIRS: usize = 128;

/// The planned directories; index 0 is the target.
#[derive(Debug)]
pub(crate) struct DirTree {
    pub dirs: Vec<PlanDir>,
    /// The target directory (absolute).
    pub target: PathBuf,
}

impl DirTree {
    /// The name of directory `d` in its parent (empty for the target).
    pub(crate) fn name(&self, d: usize) -> &[u8] {
        self.dirs[d].node.as_ref().map_or(&[], |n| &n.name)
    }

    /// Entry `i` of directory `d`'s tree (see [`PlanDir::names`]).
    pub(crate) fn entry_name(&self, d: usize, i: u32) -> &[u8] {
        self.dirs[d].names.as_ref().map_or(&[], |n| n.get(i))
    }

    /// The names from the target down to `d` (without the target's),
    /// joined by `/` after a leading `/`, then `name` if given.
    fn joined(&self, d: usize, name: Option<&[u8]>) -> Vec<u8> {
        let tail = name.map_or(0, |n| n.len() + 1);
        let mut len = tail;
        let mut at = d;
        while at != 0 {
            len += self.name(at).len() + 1;
            at = self.dirs[at].parent;
        }
        let mut out = vec![b'/'; len];
        let mut end = len - tail;
        if let Some(n) = name {
            out[end + 1..].copy_from_slice(n);
        }
        at = d;
        while at != 0 {
            let n = self.name(at);
            out[end - n.len()..end].copy_from_slice(n);
            end -= n.len() + 1;
            at = self.dirs[at].parent;
        }
        out
    }

    /// Location inside the snapshot of `d`, or of `name` in `d`.
    pub(crate) fn location(&self, d: usize, name: Option<&[u8]>) -> Vec<u8> {
        let l = self.joined(d, name);
        if l.is_empty() {
            b"/".to_vec()
        } else {
            l
        }
    }

    /// Path (for messages) of `d`, or of `name` in `d`.
    pub(crate) fn path(&self, d: usize, name: Option<&[u8]>) -> PathBuf {
        let mut p = self.target.as_os_str().as_bytes().to_vec();
        p.extend_from_slice(&self.joined(d, name));
        PathBuf::from(std::ffi::OsString::from_vec(p))
    }
}

#[derive(Default)]
struct Cache {
    open: HashMap<usize, (Arc<File>, u64)>,
    tick: u64,
    /// Device and inode of every directory opened so far, to check a way
    /// back up through `..`.
    ids: HashMap<usize, (u64, u64)>,
}

impl Cache {
    fn get(&mut self, d: usize) -> Option<Arc<File>> {
        self.tick += 1;
        let tick = self.tick;
        self.open.get_mut(&d).map(|(f, t)| {
            *t = tick;
            f.clone()
        })
    }

    fn insert(&mut self, d: usize, f: Arc<File>) {
        if self.open.len() >= CACHED_DIRS {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.open.remove(&k);
            }
        }
        self.tick += 1;
        self.open.insert(d, (f, self.tick));
    }
}

fn dev_ino(st: &sys::Stat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

/// Open descriptors for the directories of a [`DirTree`].
pub(crate) struct DirFds {
    /// The target; `None` in a dry run when it does not exist.
    root: Option<Arc<File>>,
    cache: Mutex<Cache>,
}

impl DirFds {
    pub(crate) fn new(root: Option<File>) -> DirFds {
        DirFds {
            root: root.map(Arc::new),
            cache: Mutex::default(),
        }
    }

    /// The descriptor of directory `d`, which must exist (as a real
    /// directory, not a symlink) below the target.
    ///
    /// One that is not cached is reached from a cached subdirectory
    /// through `..` if that leads to the very directory opened before
    /// (same device and inode; this is what makes a bottom-up pass over a
    /// deep tree cheap), else opened name by name from its nearest cached
    /// ancestor.
    pub(crate) fn get(&self, tree: &DirTree, d: usize) -> io::Result<Arc<File>> {
        let root = self
            .root
            .clone()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the target does not exist"))?;
        if d == 0 {
            return Ok(root);
        }
        let below = {
            let mut cache = self.lock();
            if let Some(f) = cache.get(d) {
                return Ok(f);
            }
            cache.ids.get(&d).copied().and_then(|id| {
                let child = tree.dirs[d].items.iter().find_map(|item| match item {
                    PlanItem::Dir(c) => cache.open.get(c).map(|(f, _)| f.clone()),
                    _ => None,
                });
                child.map(|c| (c, id))
            })
        };
        if let Some((child, id)) = below {
            let up = sys::open_dir_at(&child, b"..")?;
            if dev_ino(&sys::fstat(&up)?) == id {
                let up = Arc::new(up);
                self.lock().insert(d, up.clone());
                return Ok(up);
            }
        }
        let (mut base, mut todo) = {
            let mut cache = self.lock();
            let mut todo = vec![d];
            let mut at = tree.dirs[d].parent;
            loop {
                if at == 0 {
                    break (root, todo);
                }
                if let Some(f) = cache.get(at) {
                    break (f, todo);
                }
                todo.push(at);
                at = tree.dirs[at].parent;
            }
        };
        while let Some(next) = todo.pop() {
            let f = sys::open_dir_at(&base, tree.name(next))?;
            let id = dev_ino(&sys::fstat(&f)?);
            let f = Arc::new(f);
            let mut cache = self.lock();
            cache.insert(next, f.clone());
            cache.ids.insert(next, id);
            drop(cache);
            base = f;
        }
        Ok(base)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().expect("no panics while held")
    }

    /// Like [`get`](Self::get), but `None` when `d` does not exist yet as
    /// a directory: it or a directory above it is missing, or something
    /// else (a symlink, a file) is in its place and will be replaced, so
    /// nothing below it counts as existing content.
    pub(crate) fn existing(&self, tree: &DirTree, d: usize) -> io::Result<Option<Arc<File>>> {
        if self.root.is_none() {
            return Ok(None);
        }
        match self.get(tree, d) {
            Ok(f) => Ok(Some(f)),
            Err(e) if sys::is_absent(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Drops cached descriptors of directories `first` and later (their
    /// table entries are being reused).
    pub(crate) fn forget_from(&self, first: usize) {
        let mut cache = self.lock();
        cache.open.retain(|&d, _| d < first);
        cache.ids.retain(|&d, _| d < first);
    }

    /// Drops one cached descriptor (for tests).
    #[cfg(test)]
    pub(crate) fn evict(&self, d: usize) {
        self.lock().open.remove(&d);
    }

    /// How many directory descriptors are cached (for tests).
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.cache.lock().unwrap().open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_format::{Node, NodeType};
    use std::os::unix::fs::MetadataExt;

    /// A table for a chain of `depth` directories named `d`.
    fn chain(target: &std::path::Path, depth: usize) -> DirTree {
        let mut dirs = vec![PlanDir {
            node: None,
            parent: 0,
            depth: 0,
            items: Vec::new(),
            names: None,
        }];
        for level in 1..=depth {
            dirs[level - 1].items.push(PlanItem::Dir(level));
            dirs.push(PlanDir {
                node: Some(Box::new(Node::new(*b"d", NodeType::Dir))),
                parent: level - 1,
                depth: level,
                items: Vec::new(),
                names: None,
            });
        }
        DirTree {
            dirs,
            target: target.to_path_buf(),
        }
    }

    #[test]
    fn descriptors_stay_bounded_and_the_way_up_is_checked() {
        const DEPTH: usize = 600;
        let tmp = tempfile::tempdir().unwrap();
        let tree = chain(tmp.path(), DEPTH);
        let fds = DirFds::new(Some(sys::open_root(tmp.path()).unwrap()));
        for d in 1..=DEPTH {
            let parent = fds.get(&tree, tree.dirs[d].parent).unwrap();
            sys::mkdir_at(&parent, b"d", 0o700).unwrap();
        }
        // Bottom-up, as the last pass goes.
        let bottom = fds.get(&tree, DEPTH).unwrap();
        for d in (1..DEPTH).rev() {
            let f = fds.get(&tree, d).unwrap();
            assert!(sys::stat_at(&f, b"d").unwrap().is_some());
            assert!(fds.cached() <= CACHED_DIRS);
        }
        assert_eq!(
            sys::fstat(&bottom).unwrap().st_ino,
            std::fs::metadata(tree.path(DEPTH, None)).unwrap().ino()
        );
        assert_eq!(tree.location(2, Some(b"x")), b"/d/d/x");
        assert_eq!(tree.location(0, None), b"/");

        // `..` of a cached subdirectory that was moved elsewhere leads
        // elsewhere: not taken for its old parent.
        let fds = DirFds::new(Some(sys::open_root(tmp.path()).unwrap()));
        let small = chain(tmp.path(), 3);
        let third = fds.get(&small, 3).unwrap();
        fds.evict(2);
        fds.evict(1);
        std::fs::rename(tmp.path().join("d/d/d"), tmp.path().join("moved")).unwrap();
        let second = fds.get(&small, 2).unwrap();
        assert_eq!(
            sys::fstat(&second).unwrap().st_ino,
            std::fs::metadata(tmp.path().join("d/d")).unwrap().ino()
        );
        drop(third);
        let top = sys::open_root(tmp.path()).unwrap();
        sys::remove_tree_at(&top, b"moved", true, &mut |_| {}).unwrap();
    }
}
