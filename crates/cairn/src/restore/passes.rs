//! The passes of one restore, in order (see the module documentation of
//! `restore`).

use super::dirs::DirFds;
use super::fetch::{self, BlobSource, Writer};
use super::item::FileAction;
use super::plan::{self, Planner, Selector};
use super::{finish, state, RestoreError, RestoreOptions, RestoreProgress, RestoreSummary, Stop};
use crate::{Error, Result};
use cairn_format::{Id, Tree};
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::Ordering;

/// What the passes of one restore share.
pub(crate) struct Passes<'a> {
    pub(crate) source: &'a dyn BlobSource,
    pub(crate) load_tree: &'a (dyn Fn(&Id) -> Result<Tree> + Sync),
    pub(crate) blob_len: &'a (dyn Fn(&Id) -> Option<u64> + Sync),
    pub(crate) opts: &'a RestoreOptions,
    pub(crate) progress: &'a dyn RestoreProgress,
    pub(crate) stop: Stop<'a>,
    pub(crate) fds: &'a DirFds,
}

impl Passes<'_> {
    pub(crate) fn run(&self, root: &Id, target: &Path) -> Result<RestoreSummary> {
        let (opts, progress, stop, blob_len) = (self.opts, self.progress, self.stop, self.blob_len);
        let selector = Selector::new(opts);
        let owners = super::owners::Owners::default();
        let owners = opts.ownership_by_name.then_some(&owners);
        let mut plan = Planner::run(
            self.load_tree,
            &selector,
            opts.overwrite,
            root,
            target,
            self.fds,
            stop,
            owners,
        )?;
        let mut errors = std::mem::take(&mut plan.errors);
        errors.extend(plan::decide_files(
            &mut plan.files,
            &plan.tree,
            self.fds,
            opts.overwrite,
            blob_len,
            stop,
        )?);
        let content = fetch::plan_content(
            &mut plan.files,
            &plan.tree,
            self.source,
            opts.sparse,
            &mut errors,
        );
        for e in &errors {
            progress.error(e);
        }

        let mut summary = RestoreSummary {
            dirs: plan.dirs,
            others: plan.specials + plan.hardlinks,
            skipped: plan.skipped,
            ..RestoreSummary::default()
        };
        for f in &plan.files.list {
            match f.action {
                FileAction::Write(_) => {
                    summary.files += 1;
                    summary.bytes += f.size;
                }
                FileAction::Unchanged | FileAction::Skip => {
                    summary.unchanged += u64::from(f.action == FileAction::Unchanged);
                    summary.skipped += 1;
                    summary.skipped_bytes += f.size;
                }
                FileAction::Undecided | FileAction::Failed => {}
            }
        }
        progress.start(summary.items(), summary.bytes);

        let files = &plan.files.list;
        let mut status = vec![fetch::OK; files.len()];
        let mut file_meta = vec![fetch::META_LATER; files.len()];
        if opts.dry_run {
            for f in files
                .iter()
                .filter(|f| matches!(f.action, FileAction::Write(_)))
            {
                progress.bytes_done(f.size);
                progress.file_done(f.size);
            }
        } else {
            let mut dir_errors = Vec::new();
            finish::make_dirs(&plan.tree, self.fds, stop, &mut dir_errors)?;
            dir_errors.iter().for_each(|e| progress.error(e));
            errors.extend(dir_errors);
            let mut writer = Writer::new(
                files,
                &plan.tree,
                self.fds,
                stop,
                &content,
                self.source,
                progress,
            );
            writer.remove_dirs = opts.delete;
            // --verify reads the files after writing: their metadata (the
            // access time) is restored after that, in the last pass.
            writer.early_meta = (!opts.verify).then_some(fetch::EarlyMeta {
                xattrs: &opts.xattrs,
            });
            writer.run();
            if stop() {
                return Err(Error::Interrupted);
            }
            summary.bytes_written = writer.bytes_written.load(Ordering::Relaxed);
            status = writer
                .status
                .iter()
                .map(|s| s.load(Ordering::Relaxed))
                .collect();
            file_meta = writer
                .meta
                .iter()
                .map(|s| s.load(Ordering::Relaxed))
                .collect();
            errors.extend(writer.errors.into_inner().expect("no panics while held"));
        }

        // Verify before the metadata pass, so that reading the files does
        // not disturb the access times restored there.
        if opts.verify {
            let failures = self.verify(&plan, &status);
            if stop() {
                return Err(Error::Interrupted);
            }
            summary.verified = files
                .iter()
                .zip(&status)
                .filter(|(f, s)| matches!(f.action, FileAction::Write(_)) && **s == fetch::OK)
                .count() as u64
                - failures.len() as u64;
            for e in &failures {
                progress.error(e);
            }
            errors.extend(failures);
        }
        let finisher = finish::Finisher {
            tree: &plan.tree,
            fds: self.fds,
            files,
            status: &status,
            file_meta: &file_meta,
            selector: &selector,
            xattrs: &opts.xattrs,
            owners,
            progress,
            stop,
            dry_run: opts.dry_run,
            delete: opts.delete && plan.delete_allowed,
            deleted: Default::default(),
            errors: Default::default(),
        };
        finisher.run()?;
        summary.deleted = finisher.deleted.load(Ordering::Relaxed);
        errors.extend(finisher.errors.into_inner().expect("no panics while held"));

        summary.errors = errors;
        Ok(summary)
    }

    /// Re-reads every written file and checks it against its blobs.
    fn verify(&self, plan: &plan::Plan, status: &[u8]) -> Vec<RestoreError> {
        let tree = &plan.tree;
        let files = &plan.files;
        files
            .list
            .par_iter()
            .zip(status)
            .filter(|(f, s)| matches!(f.action, FileAction::Write(_)) && **s == fetch::OK)
            .filter_map(|(f, _)| {
                if (self.stop)() {
                    return None;
                }
                let name = tree.entry_name(f.dir, f.name);
                let want = files.blobs.expected(f);
                let r = self
                    .fds
                    .get(tree, f.dir)
                    .map_err(state::Mismatch::Io)
                    .and_then(|dir| state::compare(&dir, name, &want, true, false, self.blob_len));
                let name = Some(name);
                r.err().map(|m| {
                    let blob = match m {
                        state::Mismatch::Content { blob, .. }
                        | state::Mismatch::UnknownBlob(blob) => Some(blob),
                        _ => None,
                    };
                    let e = Error::InvalidArgument(format!("verification failed: {m}"));
                    RestoreError::new(
                        &tree.location(f.dir, name),
                        &tree.path(f.dir, name),
                        blob,
                        e,
                    )
                })
            })
            .collect()
    }
}
