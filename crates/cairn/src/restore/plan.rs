//! The first pass: walk the snapshot's trees, decide what is restored
//! where, and collect the regular files whose content must be written.

use super::state::{self, FileState};
use super::{Overwrite, RestoreError, RestoreOptions};
use crate::filter::PatternList;
use crate::{Error, Result};
use cairn_format::{Id, Node, NodeType, Tree};
use rayon::prelude::*;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A directory to restore (or the target itself).
#[derive(Debug)]
pub(crate) struct PlanDir {
    /// The snapshot's node; `None` for the root, whose metadata restic
    /// leaves alone. Boxed, like the nodes of other items: a plan holds
    /// every item of the snapshot, and an inline node would make every
    /// item, even a one-word file reference, several hundred bytes.
    pub node: Option<Box<Node>>,
    pub path: PathBuf,
    pub location: Vec<u8>,
    pub items: Vec<PlanItem>,
    /// Every name the snapshot has here, selected or not (for `--delete`);
    /// `None` when the tree could not be read, so nothing may be deleted.
    pub names: Option<Vec<Vec<u8>>>,
}

/// One entry of a directory.
#[derive(Debug)]
pub(crate) enum PlanItem {
    Dir(PlanDir),
    /// Index into [`Plan::files`].
    File(usize),
    /// A further name for the file restored first as `files[first]`.
    Hardlink {
        node: Box<Node>,
        path: PathBuf,
        location: Vec<u8>,
        first: usize,
    },
    /// A symlink, FIFO or device node.
    Special {
        node: Box<Node>,
        path: PathBuf,
        location: Vec<u8>,
    },
}

/// A regular file of the snapshot that is selected.
#[derive(Debug)]
pub(crate) struct FileItem {
    pub node: Node,
    pub path: PathBuf,
    pub location: Vec<u8>,
    pub action: FileAction,
}

/// What happens to a regular file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FileAction {
    /// Not decided yet (the existing file is compared in parallel).
    Undecided,
    /// Write its content; blobs the existing file already has are kept.
    Write(Option<FileState>),
    /// The content is already right: restore only the metadata.
    Unchanged,
    /// Left alone because of the overwrite policy.
    Skip,
    /// Writing failed early (an error is recorded); leave it alone.
    Failed,
}

/// Result of the first pass.
#[derive(Debug)]
pub(crate) struct Plan {
    pub root: PlanDir,
    pub files: Vec<FileItem>,
    pub errors: Vec<RestoreError>,
    /// Items selected, by kind (directories without the root).
    pub dirs: u64,
    pub specials: u64,
    pub hardlinks: u64,
    /// Specials and hard links left alone because of the overwrite policy.
    pub skipped: u64,
    /// False once an invalid name was met: restic then deletes nothing.
    pub delete_allowed: bool,
}

/// restic's `SelectFilter`: (selected for restore, children may be).
pub(crate) struct Selector<'a> {
    pub includes: Vec<&'a PatternList>,
    pub excludes: Vec<&'a PatternList>,
}

impl<'a> Selector<'a> {
    pub(crate) fn new(opts: &'a RestoreOptions) -> Selector<'a> {
        Selector {
            includes: opts.includes.iter().filter(|l| !l.is_empty()).collect(),
            excludes: opts.excludes.iter().filter(|l| !l.is_empty()).collect(),
        }
    }

    pub(crate) fn select(&self, location: &[u8], is_dir: bool) -> (bool, bool) {
        if !self.excludes.is_empty() {
            let rejected = self.excludes.iter().any(|l| l.matches(location));
            (!rejected, !rejected && is_dir)
        } else if !self.includes.is_empty() {
            let (mut selected, mut child) = (false, false);
            for l in &self.includes {
                let (m, c) = l.matches_with_child(location);
                selected |= m;
                child |= c;
            }
            (selected, child && is_dir)
        } else {
            (true, true)
        }
    }
}

/// Joins a snapshot location and a name: `/` + `a` is `/a`.
pub(crate) fn child_location(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut l = Vec::with_capacity(parent.len() + 1 + name.len());
    l.extend_from_slice(parent);
    if !l.ends_with(b"/") {
        l.push(b'/');
    }
    l.extend_from_slice(name);
    l
}

/// A name that stays inside its directory (not empty, `.`, `..`, and
/// without a slash).
fn valid_name(name: &[u8]) -> bool {
    !matches!(name, b"" | b"." | b"..") && !name.contains(&b'/')
}

pub(crate) struct Planner<'a> {
    load_tree: &'a (dyn Fn(&Id) -> Result<Tree> + Sync),
    selector: &'a Selector<'a>,
    overwrite: Overwrite,
    /// (inode, device) of the first restored name of hard-linked files.
    links: HashMap<(u64, u64), usize>,
    plan: Plan,
}

impl<'a> Planner<'a> {
    /// Plans restoring the tree `root` into `target`.
    pub(crate) fn run(
        load_tree: &'a (dyn Fn(&Id) -> Result<Tree> + Sync),
        selector: &'a Selector<'a>,
        overwrite: Overwrite,
        root: &Id,
        target: &Path,
    ) -> Plan {
        let mut planner = Planner {
            load_tree,
            selector,
            overwrite,
            links: HashMap::new(),
            plan: Plan {
                root: PlanDir {
                    node: None,
                    path: target.to_path_buf(),
                    location: b"/".to_vec(),
                    items: Vec::new(),
                    names: None,
                },
                files: Vec::new(),
                errors: Vec::new(),
                dirs: 0,
                specials: 0,
                hardlinks: 0,
                skipped: 0,
                delete_allowed: true,
            },
        };
        let (items, names, _) = planner.dir(root, target, b"/");
        planner.plan.root.items = items;
        planner.plan.root.names = names;
        planner.plan
    }

    fn error(&mut self, location: &[u8], path: &Path, error: Error) {
        self.plan
            .errors
            .push(RestoreError::new(location, path, None, error));
    }

    /// Plans one directory's entries; returns them, all names in the tree,
    /// and whether anything below was selected.
    fn dir(
        &mut self,
        tree_id: &Id,
        path: &Path,
        location: &[u8],
    ) -> (Vec<PlanItem>, Option<Vec<Vec<u8>>>, bool) {
        let tree = match (self.load_tree)(tree_id) {
            Ok(t) => t,
            Err(e) => {
                self.error(location, path, e);
                return (Vec::new(), None, false);
            }
        };
        let mut items = Vec::new();
        let mut names = Vec::with_capacity(tree.nodes.len());
        let mut restored = false;
        for node in tree.nodes {
            names.push(node.name.clone());
            let node_location = child_location(location, &node.name);
            if !valid_name(&node.name) {
                let msg = format!(
                    "invalid child node name {}",
                    String::from_utf8_lossy(&node.name)
                );
                self.error(location, path, Error::InvalidArgument(msg));
                self.plan.delete_allowed = false;
                continue;
            }
            let node_path = path.join(OsStr::from_bytes(&node.name));
            // Sockets cannot be restored.
            if node.node_type == NodeType::Socket {
                continue;
            }
            let is_dir = node.node_type == NodeType::Dir;
            let (selected, children) = self.selector.select(&node_location, is_dir);
            restored |= selected;
            if is_dir {
                let Some(subtree) = node.subtree else {
                    let e =
                        Error::InvalidArgument(format!("dir without subtree in tree {tree_id}"));
                    self.error(&node_location, &node_path, e);
                    continue;
                };
                let (sub_items, sub_names, sub_restored) = if children {
                    self.dir(&subtree, &node_path, &node_location)
                } else {
                    (Vec::new(), Some(Vec::new()), false)
                };
                restored |= sub_restored;
                if selected || sub_restored {
                    self.plan.dirs += u64::from(selected);
                    items.push(PlanItem::Dir(PlanDir {
                        node: Some(Box::new(node)),
                        path: node_path,
                        location: node_location,
                        items: sub_items,
                        names: sub_names,
                    }));
                }
                continue;
            }
            if selected {
                if let Some(item) = self.leaf(node, node_path, node_location) {
                    items.push(item);
                }
            }
        }
        (items, Some(names), restored)
    }

    fn leaf(&mut self, node: Node, path: PathBuf, location: Vec<u8>) -> Option<PlanItem> {
        if node.node_type == NodeType::File {
            if node.links > 1 {
                if let Some(&first) = self.links.get(&(node.inode, node.device_id)) {
                    return self.checked(node, path, location, |node, path, location| {
                        PlanItem::Hardlink {
                            node: Box::new(node),
                            path,
                            location,
                            first,
                        }
                    });
                }
                self.links
                    .insert((node.inode, node.device_id), self.plan.files.len());
            }
            self.plan.files.push(FileItem {
                node,
                path,
                location,
                action: FileAction::Undecided,
            });
            return Some(PlanItem::File(self.plan.files.len() - 1));
        }
        self.checked(node, path, location, |node, path, location| {
            PlanItem::Special {
                node: Box::new(node),
                path,
                location,
            }
        })
    }

    /// Applies the overwrite policy to a non-file item.
    fn checked(
        &mut self,
        node: Node,
        path: PathBuf,
        location: Vec<u8>,
        make: impl FnOnce(Node, PathBuf, Vec<u8>) -> PlanItem,
    ) -> Option<PlanItem> {
        match should_overwrite(self.overwrite, &node, &path) {
            Ok(true) => {
                let item = make(node, path, location);
                match item {
                    PlanItem::Hardlink { .. } => self.plan.hardlinks += 1,
                    _ => self.plan.specials += 1,
                }
                Some(item)
            }
            Ok(false) => {
                self.plan.skipped += 1;
                None
            }
            Err(e) => {
                self.error(&location, &path, Error::io(&path, e));
                None
            }
        }
    }
}

/// restic's overwrite policy for an existing `path`: always and if-changed
/// overwrite (the content is compared later), if-newer only when the
/// snapshot's mtime is later than the file's, never only when nothing is
/// there.
pub(crate) fn should_overwrite(overwrite: Overwrite, node: &Node, path: &Path) -> io::Result<bool> {
    if matches!(overwrite, Overwrite::Always | Overwrite::IfChanged) {
        return Ok(true);
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    Ok(match overwrite {
        Overwrite::IfNewer => {
            (node.mtime.unix_secs, i64::from(node.mtime.nanos)) > (meta.mtime(), meta.mtime_nsec())
        }
        _ => false,
    })
}

/// Decides, in parallel, what happens to every undecided file: skipped by
/// policy, unchanged, or written (keeping the blobs already in place).
pub(crate) fn decide_files(
    files: &mut [FileItem],
    overwrite: Overwrite,
    blob_len: &(dyn Fn(&Id) -> Option<u64> + Sync),
) -> Vec<RestoreError> {
    files
        .par_iter_mut()
        .filter(|f| f.action == FileAction::Undecided)
        .filter_map(|f| {
            match should_overwrite(overwrite, &f.node, &f.path) {
                Ok(true) => {}
                Ok(false) => {
                    f.action = FileAction::Skip;
                    return None;
                }
                Err(e) => {
                    f.action = FileAction::Failed;
                    let err = Error::io(&f.path, e);
                    return Some(RestoreError::new(&f.location, &f.path, None, err));
                }
            }
            let trust_mtime = overwrite == Overwrite::IfChanged;
            // A file that cannot be compared is restored from scratch.
            let existing = state::compare(&f.path, &f.node, false, trust_mtime, blob_len).ok();
            f.action = match existing {
                Some(s) if !s.needs_restore() => FileAction::Unchanged,
                other => FileAction::Write(other),
            };
            None
        })
        .collect()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
