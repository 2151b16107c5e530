//! The last pass: create symlinks, FIFOs, devices and hard links, restore
//! metadata bottom-up (a directory after everything in it), and delete
//! what the snapshot does not have (`--delete`).

use super::fetch::MISSING;
use super::meta::{create_special, restore_metadata, XattrFilter};
use super::plan::{child_location, FileAction, FileItem, PlanDir, PlanItem, Selector};
use super::sys;
use super::{ItemAction, RestoreError, RestoreProgress};
use crate::Error;
use cairn_format::Node;
use rayon::prelude::*;
use std::collections::HashSet;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Creates every planned directory (mode 0700 until its metadata is
/// restored), replacing anything else in its place. Failures are recorded
/// and the directory's contents will fail in turn.
pub(crate) fn make_dirs(dir: &PlanDir, errors: &mut Vec<RestoreError>) {
    for item in &dir.items {
        if let PlanItem::Dir(sub) = item {
            if let Err(e) = ensure_dir(&sub.path) {
                errors.push(RestoreError::new(
                    &sub.location,
                    &sub.path,
                    None,
                    Error::io(&sub.path, e),
                ));
                continue;
            }
            make_dirs(sub, errors);
        }
    }
}

fn ensure_dir(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => sys::remove(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// State of the last pass.
pub(crate) struct Finisher<'a> {
    pub files: &'a [FileItem],
    /// Per file, the status left by writing (see `fetch`).
    pub status: &'a [u8],
    pub selector: &'a Selector<'a>,
    pub xattrs: &'a XattrFilter,
    pub progress: &'a dyn RestoreProgress,
    pub dry_run: bool,
    pub delete: bool,
    pub deleted: AtomicU64,
    pub errors: Mutex<Vec<RestoreError>>,
}

impl Finisher<'_> {
    fn fail(&self, location: &[u8], path: &Path, error: Error) {
        let err = RestoreError::new(location, path, None, error);
        self.progress.error(&err);
        self.errors.lock().expect("no panics while held").push(err);
    }

    fn metadata(&self, node: &Node, path: &Path, location: &[u8]) -> bool {
        if self.dry_run {
            return true;
        }
        match restore_metadata(node, path, self.xattrs) {
            Ok(()) => true,
            Err(e) => {
                self.fail(location, path, Error::io(path, e));
                false
            }
        }
    }

    /// Finishes a directory: its entries in parallel, then deletions, then
    /// its own metadata.
    pub(crate) fn dir(&self, dir: &PlanDir) {
        dir.items.par_iter().for_each(|item| self.item(item));
        if self.delete {
            if let Some(names) = &dir.names {
                if let Err(e) = self.remove_unexpected(dir, names) {
                    self.fail(&dir.location, &dir.path, Error::io(&dir.path, e));
                }
            }
        }
        if let Some(node) = &dir.node {
            if self.metadata(node, &dir.path, &dir.location) {
                self.progress
                    .item(&dir.location, ItemAction::DirRestored, 0);
            }
        }
    }

    fn item(&self, item: &PlanItem) {
        match item {
            PlanItem::Dir(sub) => self.dir(sub),
            PlanItem::File(i) => {
                let f = &self.files[*i];
                let action = match &f.action {
                    FileAction::Write(None) => ItemAction::FileRestored,
                    FileAction::Write(Some(_)) => ItemAction::FileUpdated,
                    FileAction::Unchanged => ItemAction::FileUnchanged,
                    FileAction::Skip => {
                        self.progress
                            .item(&f.location, ItemAction::Skipped, f.node.size);
                        return;
                    }
                    FileAction::Undecided | FileAction::Failed => return,
                };
                if self.status[*i] == MISSING {
                    return;
                }
                if self.metadata(&f.node, &f.path, &f.location) {
                    self.progress.item(&f.location, action, f.node.size);
                }
            }
            PlanItem::Hardlink {
                node,
                path,
                location,
                first,
            } => {
                let result = if self.dry_run {
                    Ok(())
                } else {
                    sys::remove(path)
                        .and_then(|()| std::fs::hard_link(&self.files[*first].path, path))
                };
                match result {
                    Ok(()) if self.metadata(node, path, location) => {
                        self.progress.item(location, ItemAction::OtherRestored, 0);
                    }
                    Ok(()) => {}
                    Err(e) => self.fail(location, path, Error::io(path, e)),
                }
            }
            PlanItem::Special {
                node,
                path,
                location,
            } => {
                let result = if self.dry_run {
                    Ok(())
                } else {
                    sys::remove(path).and_then(|()| create_special(node, path))
                };
                match result {
                    Ok(()) if self.metadata(node, path, location) => {
                        self.progress.item(location, ItemAction::OtherRestored, 0);
                    }
                    Ok(()) => {}
                    Err(e) => self.fail(location, path, Error::io(path, e)),
                }
            }
        }
    }

    /// Removes entries of `dir` on disk that the snapshot does not have
    /// there, if the filters select them (restic never deletes what it
    /// would not have restored).
    fn remove_unexpected(&self, dir: &PlanDir, names: &[Vec<u8>]) -> io::Result<()> {
        let entries = match std::fs::read_dir(&dir.path) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let keep: HashSet<&[u8]> = names.iter().map(Vec::as_slice).collect();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if keep.contains(name.as_bytes()) {
                continue;
            }
            let location = child_location(&dir.location, name.as_bytes());
            if !self.selector.select(&location, false).0 {
                continue;
            }
            let path = dir.path.join(&name);
            let doomed = list_tree(&path);
            if !self.dry_run {
                sys::remove_all(&path)?;
            }
            for p in doomed.iter().rev() {
                self.progress.deleted(p);
                self.deleted.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// `path` and everything below it, parents first, without following
/// symlinks.
fn list_tree(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            if let Ok(rd) = std::fs::read_dir(&p) {
                let mut children: Vec<PathBuf> =
                    rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                children.sort();
                out.extend(children);
            }
        }
        i += 1;
    }
    out
}
