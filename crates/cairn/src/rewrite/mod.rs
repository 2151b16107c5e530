//! `rewrite` and `repair snapshots`: make new snapshots from existing ones
//! with some of their contents left out, as restic does.
//!
//! A [`SnapshotRewriter`] rewrites the tree of each snapshot it is given,
//! bottom-up: with [`RewriteOptions::excludes`], nodes whose path (inside
//! the snapshot, `/home/user/file`) matches a pattern are dropped; when
//! repairing, directories that cannot be read become empty, files lose the
//! data blobs the index does not know (their size is recomputed), and
//! nodes of an invalid type are dropped. A tree in which nothing changed
//! keeps its ID (its bytes are not encoded again); a changed tree is
//! encoded anew, and `rewrite` refuses (as restic does) when the old tree's
//! bytes cannot be reproduced by this encoder, as something would be lost.
//! A snapshot whose tree and metadata come out unchanged is left alone.
//! Otherwise, in crash-safe order:
//!
//! 1. the new trees are written into packs and indexed (the snapshot's
//!    blob writer is flushed),
//! 2. the new snapshot is saved, remembering the old one's ID in
//!    `original` and, unless the old one is forgotten, carrying the tag
//!    `rewrite` (`repaired` when repairing),
//! 3. only then, with `forget`, is the old snapshot file removed.
//!
//! A crash at any moment leaves at most unreferenced packs or both the old
//! and the new snapshot. Data the new snapshots no longer use stays until
//! `prune`. Every entry point takes a [`LockGuard`]: shared, exclusive with
//! `forget`, and always exclusive for repairs.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cairn::filter::PatternList;
//! use cairn::rewrite::RewriteOptions;
//! use cairn::{LocalBackend, Repository};
//!
//! let mut repo = Repository::open(Arc::new(LocalBackend::new("/srv/repo")), "secret")?;
//! let (snapshots, _) = repo.snapshots()?;
//! let opts = RewriteOptions {
//!     excludes: vec![PatternList::new(["*.tmp"], false)?],
//!     forget: true,
//!     ..RewriteOptions::default()
//! };
//! let lock = repo.lock(true, None)?; // exclusive, as `forget` removes snapshots
//! let report = repo.rewrite_snapshots(&lock, &snapshots, &opts, &cairn::NoProgress)?;
//! println!("modified {} snapshots", report.changed());
//! # Ok::<(), cairn::Error>(())
//! ```

mod tree;

use crate::backup::exclude::{ExcludeOptions, Excluder};
use crate::filter::PatternList;
use crate::repository::Repository;
use crate::snapshots::StoredSnapshot;
use crate::write::{BlobWriter, WriteOptions};
use crate::{Error, LockGuard, Result};
use cairn_backend::FileType;
use cairn_format::{GoTime, Id};
pub(crate) use tree::{Policy, TreeRewriter};

/// What `rewrite` changes (restic's flags).
#[derive(Clone, Debug, Default)]
pub struct RewriteOptions {
    /// Pattern lists from `--exclude`, `--iexclude`, `--exclude-file` and
    /// `--iexclude-file`; a node whose path matches any list is dropped.
    pub excludes: Vec<PatternList>,
    /// Pattern lists from `--include`, `--iinclude`, `--include-file` and
    /// `--iinclude-file`: only what some list matches is kept (with the
    /// directories leading to it); a directory left empty goes unless a
    /// list matches it. A snapshot of which nothing would be left is not
    /// changed. Excludes and includes cannot be combined.
    pub includes: Vec<PatternList>,
    /// `--snapshot-summary`: give the new snapshots a summary (restic 0.19
    /// counts files and file bytes), also when nothing else changes.
    pub snapshot_summary: bool,
    /// `--new-host`: the new snapshots' host name.
    pub new_host: Option<String>,
    /// `--new-time`: the new snapshots' time.
    pub new_time: Option<GoTime>,
    /// `--forget`: remove each original snapshot once its replacement is
    /// saved (the new snapshot then gets no `rewrite` tag).
    pub forget: bool,
    /// `--dry-run`: write nothing, only report.
    pub dry_run: bool,
    /// Pack size and compression of the new trees.
    pub write: WriteOptions,
    /// Stops the rewrite (with [`Error::Interrupted`]) once cancelled;
    /// snapshots already rewritten stay.
    pub cancel: crate::Cancel,
}

impl RewriteOptions {
    /// Refuses a rewrite that could not change anything (restic's check).
    pub fn validate(&self) -> Result<()> {
        let excludes = self.has_excludes();
        let includes = self.has_includes();
        if !self.snapshot_summary && !excludes && !includes && !self.has_metadata() {
            return Err(Error::InvalidArgument(
                "Nothing to do: no excludes/includes provided and no new metadata provided".into(),
            ));
        }
        if excludes && includes {
            return Err(Error::InvalidArgument(
                "exclude and include patterns are mutually exclusive".into(),
            ));
        }
        Ok(())
    }

    fn has_excludes(&self) -> bool {
        !self.excludes.iter().all(PatternList::is_empty)
    }

    fn has_includes(&self) -> bool {
        !self.includes.iter().all(PatternList::is_empty)
    }

    fn has_metadata(&self) -> bool {
        self.new_host.is_some() || self.new_time.is_some()
    }
}

/// Something a repair did to one node (reported once per tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepairNote<'a> {
    /// A node of an invalid type was removed: path and type.
    RemovedInvalidNode(&'a [u8], &'a str),
    /// A file lost the data blobs that are missing.
    RemovedMissingContent(&'a [u8]),
    /// A file's size did not match its blobs and was corrected.
    FixedSize(&'a [u8]),
    /// The root tree could not be read: the snapshot is removed.
    RootNotReadable,
    /// A directory could not be read and is now empty.
    DirReplaced(&'a [u8]),
}

/// What a rewrite reports as it goes, in restic's order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RewriteEvent<'a> {
    /// Work on this snapshot starts.
    Snapshot(&'a StoredSnapshot),
    /// This path is left out (an exclude pattern matched).
    Excluding(&'a [u8]),
    /// This file (or other non-directory) is kept: an include pattern
    /// matched it.
    Including(&'a [u8]),
    /// This directory is kept although nothing in it is: an include
    /// pattern matched it.
    IncludingDirectory(&'a [u8]),
    /// A repair changed a node.
    Repair(RepairNote<'a>),
    /// Dry run: the snapshot would be removed, as nothing is left of it.
    WouldDeleteEmpty,
    /// The snapshot was removed, as nothing was left of it.
    RemovedEmpty(Id),
    /// Dry run: a new snapshot would be saved.
    WouldSave,
    /// Dry run: the old snapshot would be removed.
    WouldRemoveOld,
    /// Dry run: the time would be set.
    WouldSetTime(&'a GoTime),
    /// Dry run: the host name would be set.
    WouldSetHost(&'a str),
    /// The new snapshot gets this time.
    SettingTime(&'a GoTime),
    /// The new snapshot gets this host name.
    SettingHost(&'a str),
    /// The new snapshot was saved.
    SavedNew(Id),
    /// The old snapshot was removed.
    RemovedOld(Id),
}

/// Receives a rewrite's events; [`NoProgress`](crate::NoProgress) ignores them.
pub trait RewriteProgress: Sync {
    /// Something happened.
    fn event(&self, _event: &RewriteEvent<'_>) {}
}

/// What became of one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotRewrite {
    /// The snapshot worked on.
    pub old: Id,
    /// The new snapshot saved (`None` when unchanged, removed as empty, or
    /// in a dry run).
    pub new: Option<Id>,
    /// True if the snapshot was (or in a dry run would be) replaced or
    /// removed.
    pub changed: bool,
    /// True if the old snapshot file was removed.
    pub removed_old: bool,
}

/// What [`Repository::rewrite_snapshots`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RewriteReport {
    /// One entry per snapshot, in the order given.
    pub snapshots: Vec<SnapshotRewrite>,
    /// True when nothing was written.
    pub dry_run: bool,
}

impl RewriteReport {
    /// How many snapshots were (or would be) modified.
    pub fn changed(&self) -> usize {
        self.snapshots.iter().filter(|s| s.changed).count()
    }
}

/// Rewrites snapshots one at a time, sharing the work on trees that
/// several of them hold. Made by [`Repository::snapshot_rewriter`] or
/// [`Repository::snapshot_repairer`].
pub struct SnapshotRewriter<'r> {
    repo: &'r mut Repository,
    lock: &'r LockGuard,
    /// The operation, for lock errors.
    operation: &'static str,
    trees: TreeRewriter,
    /// What the writers indexed; added to `repo`'s index when the
    /// rewriter is dropped (once, however many snapshots were rewritten;
    /// `repo` cannot be used before, and `trees` knows what was saved).
    indexed: Vec<cairn_format::IndexFile>,
    opts: RewriteOptions,
    /// Tag for new snapshots when the old ones are kept.
    tag: &'static str,
    /// Whether rewritten snapshots get an updated summary.
    update_summary: bool,
    /// Whether a snapshot of which nothing is left stays as it is (with
    /// includes) rather than being removed.
    keep_empty_snapshot: bool,
}

impl Repository {
    /// A rewriter for `rewrite` under `lock` (exclusive with
    /// `opts.forget`, else shared is enough); the index must be loaded.
    /// What it writes is added to this value's index.
    pub fn snapshot_rewriter<'r>(
        &'r mut self,
        lock: &'r LockGuard,
        opts: &RewriteOptions,
    ) -> Result<SnapshotRewriter<'r>> {
        lock.allows(self, "rewrite", opts.forget)?;
        opts.validate()?;
        let patterns = ExcludeOptions {
            excludes: opts.excludes.clone(),
            ..ExcludeOptions::default()
        };
        let policy = if opts.has_includes() {
            Policy::Include(opts.includes.clone())
        } else {
            Policy::Exclude(Excluder::new(&patterns, &[])?)
        };
        Ok(SnapshotRewriter {
            trees: TreeRewriter::new(self, policy, opts.cancel.clone()),
            repo: self,
            lock,
            operation: "rewrite",
            indexed: Vec::new(),
            opts: opts.clone(),
            tag: "rewrite",
            // restic 0.19: any filter, or --snapshot-summary, recounts.
            update_summary: opts.has_excludes() || opts.has_includes() || opts.snapshot_summary,
            keep_empty_snapshot: opts.has_includes(),
        })
    }

    /// Rewrites every snapshot of `snapshots` (see the module docs) under
    /// `lock` (exclusive with `opts.forget`); stops at the first error.
    pub fn rewrite_snapshots(
        &mut self,
        lock: &LockGuard,
        snapshots: &[StoredSnapshot],
        opts: &RewriteOptions,
        progress: &dyn RewriteProgress,
    ) -> Result<RewriteReport> {
        if opts.forget {
            self.set_strict_listings(true);
        }
        lock.allows(self, "rewrite", opts.forget)?;
        load_index_strictly(self)?;
        self.snapshot_rewriter(lock, opts)?
            .rewrite_all(snapshots, progress)
    }
}

/// Loads the index, refusing damaged index files with
/// [`Error::Inconsistent`] (a rewrite or repair that does not see every
/// blob could drop data that exists).
pub fn load_index_strictly(repo: &mut Repository) -> Result<()> {
    if let Some(problem) = repo.load_index()?.into_iter().next() {
        return Err(Error::Inconsistent(format!(
            "index files are damaged: {problem}"
        )));
    }
    Ok(())
}

impl<'r> SnapshotRewriter<'r> {
    pub(crate) fn with_policy(
        repo: &'r mut Repository,
        lock: &'r LockGuard,
        policy: Policy,
        opts: RewriteOptions,
        tag: &'static str,
    ) -> Self {
        SnapshotRewriter {
            trees: TreeRewriter::new(repo, policy, opts.cancel.clone()),
            repo,
            lock,
            operation: "repair snapshots",
            indexed: Vec::new(),
            opts,
            tag,
            update_summary: false,
            keep_empty_snapshot: false,
        }
    }

    /// Rewrites every snapshot of `snapshots` in turn; stops at the first
    /// error.
    pub fn rewrite_all(
        &mut self,
        snapshots: &[StoredSnapshot],
        progress: &dyn RewriteProgress,
    ) -> Result<RewriteReport> {
        let mut report = RewriteReport {
            dry_run: self.opts.dry_run,
            ..RewriteReport::default()
        };
        for snap in snapshots {
            report.snapshots.push(self.rewrite(snap, progress)?);
        }
        Ok(report)
    }

    /// Rewrites one snapshot: new trees, then the new snapshot, then (with
    /// `forget`) removal of the old one.
    pub fn rewrite(
        &mut self,
        snap: &StoredSnapshot,
        progress: &dyn RewriteProgress,
    ) -> Result<SnapshotRewrite> {
        let exclusive = self.opts.forget || self.operation == "repair snapshots";
        self.lock.allows(self.repo, self.operation, exclusive)?;
        self.opts.cancel.check()?;
        progress.event(&RewriteEvent::Snapshot(snap));
        let mut write = self.opts.write.clone();
        write.dry_run = self.opts.dry_run;
        let writer = BlobWriter::new(self.repo, write)?;
        let rewritten = match self
            .trees
            .rewrite(&writer, b"/", snap.snapshot.tree, progress)
        {
            Ok(r) => r,
            Err(e) => {
                writer.abort();
                return Err(e);
            }
        };
        // Packs and index first: the new snapshot may only name what is
        // durably stored.
        let (_, _, indexed) = writer.flush_indexed()?;
        if !indexed.packs.is_empty() {
            self.indexed.push(indexed);
        }
        self.replace(snap, rewritten, progress)
    }

    /// restic's `filterAndReplaceSnapshot`.
    fn replace(
        &self,
        snap: &StoredSnapshot,
        rewritten: Option<tree::Rewritten>,
        progress: &dyn RewriteProgress,
    ) -> Result<SnapshotRewrite> {
        let opts = &self.opts;
        let mut outcome = SnapshotRewrite {
            old: snap.id,
            ..SnapshotRewrite::default()
        };
        let Some(rewritten) = rewritten else {
            if self.keep_empty_snapshot {
                return Ok(outcome);
            }
            outcome.changed = true;
            if opts.dry_run {
                progress.event(&RewriteEvent::WouldDeleteEmpty);
            } else {
                self.remove_snapshot(&snap.id)?;
                outcome.removed_old = true;
                progress.event(&RewriteEvent::RemovedEmpty(snap.id));
            }
            return Ok(outcome);
        };
        // As restic 0.19: a recount gives snapshots without a summary
        // (restic before 0.17) one holding only the two counts.
        let summary = if self.update_summary {
            let mut s = snap.snapshot.summary.clone().unwrap_or_default();
            s.total_files_processed = rewritten.files;
            s.total_bytes_processed = rewritten.bytes;
            Some(s)
        } else {
            snap.snapshot.summary.clone()
        };
        if rewritten.id == snap.snapshot.tree
            && !opts.has_metadata()
            && summary == snap.snapshot.summary
        {
            return Ok(outcome);
        }
        outcome.changed = true;
        if opts.dry_run {
            progress.event(&RewriteEvent::WouldSave);
            if opts.forget {
                progress.event(&RewriteEvent::WouldRemoveOld);
            }
            if let Some(t) = &opts.new_time {
                progress.event(&RewriteEvent::WouldSetTime(t));
            }
            if let Some(h) = &opts.new_host {
                progress.event(&RewriteEvent::WouldSetHost(h));
            }
            return Ok(outcome);
        }
        let mut sn = snap.snapshot.clone();
        sn.original = Some(snap.id);
        sn.tree = rewritten.id;
        sn.summary = summary;
        if !opts.forget && !sn.tags.iter().any(|t| t == self.tag) {
            sn.tags.push(self.tag.to_string());
        }
        if let Some(t) = &opts.new_time {
            progress.event(&RewriteEvent::SettingTime(t));
            sn.time = *t;
        }
        if let Some(h) = &opts.new_host {
            progress.event(&RewriteEvent::SettingHost(h));
            sn.hostname = h.clone();
        }
        let id = self.repo.save_unpacked(FileType::Snapshot, &sn.to_json())?;
        outcome.new = Some(id);
        progress.event(&RewriteEvent::SavedNew(id));
        if opts.forget {
            self.remove_snapshot(&snap.id)?;
            outcome.removed_old = true;
            progress.event(&RewriteEvent::RemovedOld(snap.id));
        }
        Ok(outcome)
    }

    fn remove_snapshot(&self, id: &Id) -> Result<()> {
        self.repo
            .backend()
            .remove(FileType::Snapshot, &id.to_hex())
            .map_err(Error::from)
    }
}

impl Drop for SnapshotRewriter<'_> {
    /// Leaves the repository value knowing every tree written.
    fn drop(&mut self) {
        if self.repo.add_to_index(&self.indexed).is_err() {
            self.repo.invalidate_index();
        }
    }
}

#[cfg(test)]
mod tests;
