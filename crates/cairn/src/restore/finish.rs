//! Creating directories before the contents are written, and the last
//! pass: create symlinks, FIFOs, devices and hard links, restore metadata
//! bottom-up (a directory after everything in it), and delete what the
//! snapshot does not have (`--delete`).
//!
//! Both walk the directory table level by level rather than recursively,
//! so a tree may be as deep as the file system allows.

use super::dirs::{DirFds, DirTree};
use super::fetch::{META_DONE, META_FAILED, MISSING};
use super::item::{FileAction, FileItem, Meta, Names};
use super::meta::{create_special, restore_metadata, restore_open_metadata, XattrFilter};
use super::plan::{PlanItem, Selector};
use super::sys;
use super::{ItemAction, RestoreError, RestoreProgress, Stop};
use crate::{Error, Result};
use rayon::prelude::*;
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Creates every planned directory (mode 0700 until its metadata is
/// restored), parents first, replacing anything else in its place (a
/// symlink there is removed, not followed). Failures are recorded, and
/// nothing below a directory that could not be made is tried.
pub(crate) fn make_dirs(
    tree: &DirTree,
    fds: &DirFds,
    stop: Stop<'_>,
    errors: &mut Vec<RestoreError>,
) -> Result<()> {
    let mut failed = vec![false; tree.dirs.len()];
    for d in 1..tree.dirs.len() {
        if d % 64 == 0 && stop() {
            return Err(Error::Interrupted);
        }
        let parent = tree.dirs[d].parent;
        if failed[parent] {
            failed[d] = true;
            continue;
        }
        let made = fds
            .get(tree, parent)
            .and_then(|p| ensure_dir(&p, tree.name(d)));
        if let Err(e) = made {
            failed[d] = true;
            let path = tree.path(d, None);
            errors.push(RestoreError::new(
                &tree.location(d, None),
                &path,
                None,
                Error::io(&path, e),
            ));
        }
    }
    Ok(())
}

fn ensure_dir(parent: &File, name: &[u8]) -> io::Result<()> {
    match sys::stat_at(parent, name)? {
        Some(st) if sys::is_dir(&st) => return Ok(()),
        Some(_) => sys::remove_at(parent, name)?,
        None => {}
    }
    sys::mkdir_at(parent, name, 0o700)
}

/// State of the last pass.
pub(crate) struct Finisher<'a> {
    pub tree: &'a DirTree,
    pub fds: &'a DirFds,
    pub files: &'a [FileItem],
    /// Per file, the status left by writing (see `fetch`).
    pub status: &'a [u8],
    /// Per file, whether its metadata was restored while writing (see
    /// `fetch`).
    pub file_meta: &'a [u8],
    pub selector: &'a Selector<'a>,
    pub xattrs: &'a XattrFilter,
    /// Name lookups for `--ownership-by-name`, `None` to use the IDs.
    pub owners: Option<&'a super::owners::Owners>,
    pub progress: &'a dyn RestoreProgress,
    pub stop: Stop<'a>,
    pub dry_run: bool,
    pub delete: bool,
    pub deleted: AtomicU64,
    pub errors: Mutex<Vec<RestoreError>>,
}

impl Finisher<'_> {
    /// Reports a finished item, if the progress wants to know.
    fn report(&self, d: usize, name: Option<&[u8]>, action: ItemAction, size: u64) {
        if self.progress.wants_items() {
            let location = self.tree.location(d, name);
            self.progress.item(&location, action, size);
        }
    }

    fn fail(&self, dir: usize, name: Option<&[u8]>, error: io::Error) {
        let path = self.tree.path(dir, name);
        let err = RestoreError::new(
            &self.tree.location(dir, name),
            &path,
            None,
            Error::io(&path, error),
        );
        self.progress.error(&err);
        self.errors.lock().expect("no panics while held").push(err);
    }

    /// Finishes every directory, the deepest first; the directories of
    /// one level in parallel.
    pub(crate) fn run(&self) -> Result<()> {
        let mut levels: Vec<Vec<usize>> = Vec::new();
        for (d, dir) in self.tree.dirs.iter().enumerate() {
            if levels.len() <= dir.depth {
                levels.resize_with(dir.depth + 1, Vec::new);
            }
            levels[dir.depth].push(d);
        }
        for level in levels.iter().rev() {
            if (self.stop)() {
                return Err(Error::Interrupted);
            }
            level.par_iter().for_each(|&d| self.dir(d));
        }
        if (self.stop)() {
            return Err(Error::Interrupted);
        }
        Ok(())
    }

    /// Finishes a directory whose subdirectories are finished: its other
    /// entries in parallel, then deletions, then its own metadata.
    fn dir(&self, d: usize) {
        let dir = &self.tree.dirs[d];
        let fd = if self.dry_run {
            self.fds.existing(self.tree, d).ok().flatten()
        } else {
            match self.fds.get(self.tree, d) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    self.fail(d, None, e);
                    return;
                }
            }
        };
        dir.items.par_iter().for_each(|item| {
            if !(self.stop)() {
                self.item(d, fd.as_deref(), item)
            }
        });
        if self.delete {
            if let (Some(names), Some(fd)) = (&dir.names, &fd) {
                if let Err(e) = self.remove_unexpected(d, fd, names) {
                    self.fail(d, None, e);
                }
            }
        }
        if let Some(node) = &dir.node {
            let restored = match &fd {
                Some(fd) if !self.dry_run => {
                    restore_open_metadata(&Meta::of(node, self.owners), fd, self.xattrs)
                }
                _ => Ok(()),
            };
            match restored {
                Ok(()) => self.report(d, None, ItemAction::DirRestored, 0),
                Err(e) => self.fail(d, None, e),
            }
        }
    }

    /// Restores `meta` on the entry `name` of directory `d` (open as
    /// `fd`, unless in a dry run); false (and the error recorded) if that
    /// failed.
    fn metadata(&self, d: usize, fd: Option<&File>, name: &[u8], meta: &Meta) -> bool {
        let Some(fd) = fd.filter(|_| !self.dry_run) else {
            return true;
        };
        match restore_metadata(meta, name, fd, self.xattrs) {
            Ok(()) => true,
            Err(e) => {
                self.fail(d, Some(name), e);
                false
            }
        }
    }

    /// Finishes one entry of directory `d` (open as `fd`, unless in a dry
    /// run). Subdirectories were finished before.
    fn item(&self, d: usize, fd: Option<&File>, item: &PlanItem) {
        let (node, created) = match item {
            PlanItem::Dir(_) => return,
            PlanItem::File(i) => {
                let f = &self.files[*i];
                let name = self.tree.entry_name(f.dir, f.name);
                let action = match &f.action {
                    FileAction::Write(None) => ItemAction::FileRestored,
                    FileAction::Write(Some(_)) => ItemAction::FileUpdated,
                    FileAction::Unchanged => ItemAction::FileUnchanged,
                    FileAction::Skip => {
                        self.report(d, Some(name), ItemAction::Skipped, f.size);
                        return;
                    }
                    FileAction::Undecided | FileAction::Failed => return,
                };
                if self.status[*i] == MISSING {
                    return;
                }
                let done = match self.file_meta[*i] {
                    META_DONE => true,
                    META_FAILED => false,
                    _ => self.metadata(d, fd, name, &f.meta),
                };
                if done {
                    self.report(d, Some(name), action, f.size);
                }
                return;
            }
            PlanItem::Hardlink { node, first } => {
                let created = fd.filter(|_| !self.dry_run).map(|fd| {
                    let f = &self.files[*first];
                    sys::remove_at(fd, &node.name).and_then(|()| {
                        let from = self.fds.get(self.tree, f.dir)?;
                        let first_name = self.tree.entry_name(f.dir, f.name);
                        sys::link_at(&from, first_name, fd, &node.name)
                    })
                });
                (node, created)
            }
            PlanItem::Special { node } => {
                let created = fd.filter(|_| !self.dry_run).map(|fd| {
                    sys::remove_at(fd, &node.name).and_then(|()| create_special(node, fd))
                });
                (node, created)
            }
        };
        match created {
            Some(Err(e)) => self.fail(d, Some(&node.name), e),
            Some(Ok(())) | None => {
                if self.metadata(d, fd, &node.name, &Meta::of(node, self.owners)) {
                    self.report(d, Some(&node.name), ItemAction::OtherRestored, 0);
                }
            }
        }
    }

    /// Removes entries of directory `d` on disk that the snapshot does not
    /// have there, if the filters select them (restic never deletes what
    /// it would not have restored). Symlinks are removed, not followed.
    fn remove_unexpected(&self, d: usize, fd: &File, names: &Names) -> io::Result<()> {
        let keep: HashSet<&[u8]> = names.iter().collect();
        let mut on_disk = sys::read_names(fd)?;
        on_disk.sort_unstable();
        // Worked out only when something is not in the snapshot.
        let mut place: Option<(Vec<u8>, std::path::PathBuf)> = None;
        for name in on_disk {
            if keep.contains(name.as_slice()) {
                continue;
            }
            let (location, path) =
                place.get_or_insert_with(|| (self.tree.location(d, None), self.tree.path(d, None)));
            let child = super::plan::child_location(location, &name);
            if !self.selector.select(&child, false).0 {
                continue;
            }
            sys::remove_tree_at(fd, &name, !self.dry_run, &mut |rel| {
                self.progress
                    .deleted(&path.join(Path::new(std::ffi::OsStr::from_bytes(rel))));
                self.deleted.fetch_add(1, Ordering::Relaxed);
            })?;
        }
        Ok(())
    }
}
