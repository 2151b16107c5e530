//! The first pass: walk the snapshot's trees, decide what is restored
//! where, and collect the regular files whose content must be written.

use super::dirs::{DirFds, DirTree};
use super::item::{FileAction, FileItem, Files, Meta, Names};
use super::owners::Owners;
use super::state;
use super::{sys, Overwrite, RestoreError, RestoreOptions, Stop};
use crate::filter::PatternList;
use crate::{Error, Result};
use cairn_format::{Id, Node, NodeType, Tree};
use rayon::prelude::*;
use std::collections::HashMap;
use std::io;
use std::path::Path;

/// A directory to restore (or the target itself), an entry of
/// [`DirTree::dirs`].
#[derive(Debug)]
pub(crate) struct PlanDir {
    /// The snapshot's node; `None` for the root, whose metadata restic
    /// leaves alone. Boxed, like the nodes of other items: a plan holds
    /// every item of the snapshot, and an inline node would make every
    /// item, even a one-word file reference, several hundred bytes.
    pub node: Option<Box<Node>>,
    /// Index of the directory this one is in (0 for the root itself).
    pub parent: usize,
    /// Levels below the target.
    pub depth: usize,
    pub items: Vec<PlanItem>,
    /// Every name the snapshot has here, selected or not, in tree order
    /// (for `--delete`, and the names of the files planned here);
    /// `None` when the tree could not be read, so nothing may be deleted.
    pub names: Option<Names>,
}

/// One entry of a directory (its name is its node's).
#[derive(Debug)]
pub(crate) enum PlanItem {
    /// Index into [`DirTree::dirs`] (directories are created and
    /// finished from the table, level by level; this says where to find
    /// a subdirectory's descriptor).
    Dir(usize),
    /// Index into [`Plan::files`].
    File(usize),
    /// A further name for the file restored first as `files[first]`.
    Hardlink { node: Box<Node>, first: usize },
    /// A symlink, FIFO or device node.
    Special { node: Box<Node> },
}

/// Result of the first pass.
#[derive(Debug)]
pub(crate) struct Plan {
    pub tree: DirTree,
    pub files: Files,
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

/// One directory whose tree is being walked.
struct Frame {
    dir: usize,
    /// The directory's tree.
    tree: Id,
    nodes: std::vec::IntoIter<Node>,
    /// Names that occur more than once in this tree (none is restored).
    duplicates: Vec<Vec<u8>>,
    /// The directory itself is selected.
    selected: bool,
    /// Something below it is selected.
    restored: bool,
    /// Length of the parent's location, to go back to.
    parent_location: usize,
    /// Position in the tree of the next node.
    position: u32,
}

pub(crate) struct Planner<'a> {
    load_tree: &'a (dyn Fn(&Id) -> Result<Tree> + Sync),
    selector: &'a Selector<'a>,
    overwrite: Overwrite,
    fds: &'a DirFds,
    stop: Stop<'a>,
    /// Name lookups for `--ownership-by-name`, `None` to use the IDs.
    owners: Option<&'a Owners>,
    /// (inode, device) of the first restored name of hard-linked files.
    links: HashMap<(u64, u64), usize>,
    plan: Plan,
    /// Frames of the directories from the root to the current one: the
    /// walk keeps an explicit stack, so depth costs heap, not call stack.
    stack: Vec<Frame>,
    /// Location of the current directory.
    location: Vec<u8>,
}

impl<'a> Planner<'a> {
    /// Plans restoring the tree `root` into `target`. Existing entries of
    /// the target are looked at through `fds` (for `--overwrite`); the
    /// files' owners come from `owners` if given (`--ownership-by-name`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
        load_tree: &'a (dyn Fn(&Id) -> Result<Tree> + Sync),
        selector: &'a Selector<'a>,
        overwrite: Overwrite,
        root: &Id,
        target: &Path,
        fds: &'a DirFds,
        stop: Stop<'a>,
        owners: Option<&'a Owners>,
    ) -> Result<Plan> {
        let root_dir = PlanDir {
            node: None,
            parent: 0,
            depth: 0,
            items: Vec::new(),
            names: None,
        };
        let mut planner = Planner {
            load_tree,
            selector,
            overwrite,
            fds,
            stop,
            owners,
            links: HashMap::new(),
            plan: Plan {
                tree: DirTree {
                    dirs: vec![root_dir],
                    target: target.to_path_buf(),
                },
                files: Files::default(),
                errors: Vec::new(),
                dirs: 0,
                specials: 0,
                hardlinks: 0,
                skipped: 0,
                delete_allowed: true,
            },
            stack: Vec::new(),
            location: b"/".to_vec(),
        };
        planner.enter(0, root, true, 0)?;
        planner.walk()?;
        Ok(planner.plan)
    }

    fn error(&mut self, dir: usize, name: Option<&[u8]>, error: Error) {
        let location = self.plan.tree.location(dir, name);
        let path = self.plan.tree.path(dir, name);
        self.plan
            .errors
            .push(RestoreError::new(&location, &path, None, error));
    }

    /// Starts walking directory `dir` (whose location is current), with
    /// the tree `tree_id`. A tree that cannot be loaded is an error for
    /// the directory, which then has no entries.
    fn enter(
        &mut self,
        dir: usize,
        tree_id: &Id,
        selected: bool,
        parent_location: usize,
    ) -> Result<()> {
        if (self.stop)() {
            return Err(Error::Interrupted);
        }
        let tree = match (self.load_tree)(tree_id) {
            Ok(t) => t,
            Err(e) => {
                self.error(dir, None, e);
                self.plan.tree.dirs[dir].names = None;
                self.leave(Frame {
                    dir,
                    tree: *tree_id,
                    nodes: Vec::new().into_iter(),
                    duplicates: Vec::new(),
                    selected,
                    restored: false,
                    parent_location,
                    position: 0,
                });
                return Ok(());
            }
        };
        let names = Names::of(&tree.nodes);
        let duplicates = duplicate_names(&names);
        for name in &duplicates {
            let msg = format!(
                "tree {tree_id} has more than one entry named {:?}; none of them is restored",
                String::from_utf8_lossy(name)
            );
            self.error(dir, Some(name), Error::InvalidArgument(msg));
        }
        self.plan.tree.dirs[dir].names = Some(names);
        self.stack.push(Frame {
            dir,
            tree: *tree_id,
            nodes: tree.nodes.into_iter(),
            duplicates,
            selected,
            restored: false,
            parent_location,
            position: 0,
        });
        Ok(())
    }

    /// Ends a directory: kept (and listed in its parent) if it or
    /// anything below it is selected, dropped otherwise.
    fn leave(&mut self, frame: Frame) {
        self.location.truncate(frame.parent_location);
        if frame.dir == 0 {
            return;
        }
        let parent = self.stack.last_mut().expect("the root's frame is below");
        parent.restored |= frame.restored;
        let parent_dir = parent.dir;
        if frame.selected || frame.restored {
            self.plan.dirs += u64::from(frame.selected);
            self.plan.tree.dirs[parent_dir]
                .items
                .push(PlanItem::Dir(frame.dir));
        } else {
            // Everything after it in the table is below it, and nothing
            // below it was selected either.
            self.plan.tree.dirs.truncate(frame.dir);
            self.fds.forget_from(frame.dir);
        }
    }

    fn walk(&mut self) -> Result<()> {
        while let Some(top) = self.stack.last_mut() {
            let Some(node) = top.nodes.next() else {
                let frame = self.stack.pop().expect("checked above");
                self.leave(frame);
                continue;
            };
            let (dir, tree_id) = (top.dir, top.tree);
            let position = top.position;
            top.position += 1;
            if !valid_name(&node.name) {
                let msg = format!(
                    "invalid child node name {}",
                    String::from_utf8_lossy(&node.name)
                );
                self.error(dir, None, Error::InvalidArgument(msg));
                self.plan.delete_allowed = false;
                continue;
            }
            // Sockets cannot be restored; duplicates are refused.
            if node.node_type == NodeType::Socket || top.duplicates.contains(&node.name) {
                continue;
            }
            let parent_location = self.location.len();
            if !self.location.ends_with(b"/") {
                self.location.push(b'/');
            }
            self.location.extend_from_slice(&node.name);
            let is_dir = node.node_type == NodeType::Dir;
            let (selected, children) = self.selector.select(&self.location, is_dir);
            top.restored |= selected;
            if !is_dir {
                self.location.truncate(parent_location);
                if selected {
                    if let Some(item) = self.leaf(node, dir, position) {
                        self.plan.tree.dirs[dir].items.push(item);
                    }
                }
                continue;
            }
            let Some(subtree) = node.subtree else {
                self.location.truncate(parent_location);
                let e = Error::InvalidArgument(format!("dir without subtree in tree {tree_id}"));
                self.error(dir, Some(&node.name), e);
                continue;
            };
            let depth = self.plan.tree.dirs[dir].depth + 1;
            let index = self.plan.tree.dirs.len();
            self.plan.tree.dirs.push(PlanDir {
                node: Some(Box::new(node)),
                parent: dir,
                depth,
                items: Vec::new(),
                names: Some(Names::default()),
            });
            if children {
                self.enter(index, &subtree, selected, parent_location)?;
            } else {
                self.leave(Frame {
                    dir: index,
                    tree: subtree,
                    nodes: Vec::new().into_iter(),
                    duplicates: Vec::new(),
                    selected,
                    restored: false,
                    parent_location,
                    position: 0,
                });
            }
        }
        Ok(())
    }

    /// Plans the non-directory `node`, entry `position` of directory
    /// `dir`'s tree.
    fn leaf(&mut self, node: Node, dir: usize, position: u32) -> Option<PlanItem> {
        if node.node_type == NodeType::File {
            if node.links > 1 {
                if let Some(&first) = self.links.get(&(node.inode, node.device_id)) {
                    return self.checked(node, dir, |node| PlanItem::Hardlink {
                        node: Box::new(node),
                        first,
                    });
                }
                self.links
                    .insert((node.inode, node.device_id), self.plan.files.list.len());
            }
            let meta = Meta::of(&node, self.owners);
            let i = self.plan.files.push(&node, dir, position, meta);
            return Some(PlanItem::File(i));
        }
        self.checked(node, dir, |node| PlanItem::Special {
            node: Box::new(node),
        })
    }

    /// Applies the overwrite policy to a non-file item.
    fn checked(
        &mut self,
        node: Node,
        dir: usize,
        make: impl FnOnce(Node) -> PlanItem,
    ) -> Option<PlanItem> {
        let existing = if matches!(self.overwrite, Overwrite::Always | Overwrite::IfChanged) {
            Ok(None)
        } else {
            existing_entry(self.fds, &self.plan.tree, dir, &node.name)
        };
        let mtime = (node.mtime.unix_secs, node.mtime.nanos);
        match existing.map(|e| should_overwrite(self.overwrite, mtime, e.as_ref())) {
            Ok(true) => {
                let item = make(node);
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
                let path = self.plan.tree.path(dir, Some(&node.name));
                self.error(dir, Some(&node.name), Error::io(&path, e));
                None
            }
        }
    }
}

/// Names that occur more than once.
fn duplicate_names(names: &Names) -> Vec<Vec<u8>> {
    let mut sorted: Vec<&[u8]> = names.iter().collect();
    sorted.sort_unstable();
    let mut dups: Vec<Vec<u8>> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].to_vec())
        .collect();
    dups.dedup();
    dups
}

/// `lstat` of `name` in directory `dir` of the target, if it is there.
/// Nothing below a directory that does not exist as a real directory
/// (missing, or a symlink or file that will be replaced) counts.
fn existing_entry(
    fds: &DirFds,
    tree: &DirTree,
    dir: usize,
    name: &[u8],
) -> io::Result<Option<sys::Stat>> {
    match fds.existing(tree, dir)? {
        None => Ok(None),
        Some(d) => sys::stat_at(&d, name),
    }
}

/// restic's overwrite policy for an existing entry: always and if-changed
/// overwrite (the content is compared later), if-newer only when the
/// snapshot's mtime (seconds, nanoseconds) is later than the entry's,
/// never only when nothing is there.
pub(crate) fn should_overwrite(
    overwrite: Overwrite,
    mtime: (i64, u32),
    existing: Option<&sys::Stat>,
) -> bool {
    let Some(st) = existing else {
        return true;
    };
    match overwrite {
        Overwrite::Always | Overwrite::IfChanged => true,
        Overwrite::IfNewer => {
            (mtime.0, i64::from(mtime.1)) > (st.st_mtime, st.st_mtime_nsec as i64)
        }
        Overwrite::Never => false,
    }
}

/// Decides, in parallel, what happens to every undecided file: skipped by
/// policy, unchanged, or written (keeping the blobs already in place).
/// The file compared is the one that will be kept: nothing is looked at
/// through a symlink, and a file under a directory that will be replaced
/// is new.
pub(crate) fn decide_files(
    files: &mut Files,
    tree: &DirTree,
    fds: &DirFds,
    overwrite: Overwrite,
    blob_len: &(dyn Fn(&Id) -> Option<u64> + Sync),
    stop: Stop<'_>,
) -> Result<Vec<RestoreError>> {
    // Directories found missing (or not real directories): each is
    // looked up once, not once per file in it.
    let absent: Vec<std::sync::OnceLock<()>> =
        (0..tree.dirs.len()).map(|_| Default::default()).collect();
    let Files { list, blobs } = files;
    let blobs = &*blobs;
    let errors = list
        .par_iter_mut()
        .filter(|f| f.action == FileAction::Undecided)
        .filter_map(|f| {
            if stop() {
                return None;
            }
            let name = tree.entry_name(f.dir, f.name);
            let fail = |f: &mut FileItem, e: io::Error| {
                f.action = FileAction::Failed;
                let path = tree.path(f.dir, Some(name));
                let location = tree.location(f.dir, Some(name));
                Some(RestoreError::new(
                    &location,
                    &path,
                    None,
                    Error::io(&path, e),
                ))
            };
            if absent[f.dir].get().is_some() {
                f.action = FileAction::Write(None);
                return None;
            }
            let dir = match fds.existing(tree, f.dir) {
                Ok(Some(d)) => d,
                Ok(None) => {
                    let _ = absent[f.dir].set(());
                    f.action = FileAction::Write(None);
                    return None;
                }
                Err(e) => return fail(f, e),
            };
            let existing = match sys::stat_at(&dir, name) {
                Ok(e) => e,
                Err(e) => return fail(f, e),
            };
            if !should_overwrite(overwrite, f.meta.mtime(), existing.as_ref()) {
                f.action = FileAction::Skip;
                return None;
            }
            let trust_mtime = overwrite == Overwrite::IfChanged;
            // A file that cannot be compared is restored from scratch.
            let existing = existing.and_then(|_| {
                let want = blobs.expected(f);
                state::compare(&dir, name, &want, false, trust_mtime, blob_len).ok()
            });
            f.action = match existing {
                Some(s) if !s.needs_restore() => FileAction::Unchanged,
                other => FileAction::Write(other.map(Box::new)),
            };
            None
        })
        .collect();
    if stop() {
        return Err(Error::Interrupted);
    }
    Ok(errors)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
