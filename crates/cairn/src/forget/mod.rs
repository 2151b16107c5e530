//! `forget`: choosing snapshots to remove by a keep policy, as restic does.
//!
//! - [`duration`]: the `1y2m3d4h` syntax of the `--keep-within*` options;
//! - [`group`]: `--group-by host,paths,tags`;
//! - [`policy`]: which snapshots of a group are kept, and why;
//! - this module: [`Repository::plan_forget`] and [`Repository::forget`],
//!   which select, group, apply the policy and remove snapshot files.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use cairn::forget::{ForgetOptions, KeepPolicy};
//! # let repo: cairn::Repository = unimplemented!();
//! let opts = ForgetOptions {
//!     policy: KeepPolicy { daily: 7, weekly: 4, ..Default::default() },
//!     ..Default::default()
//! };
//! let lock = repo.lock(true, None)?;
//! let result = repo.forget(&lock, &opts)?;
//! println!("removed {} snapshots", result.remove.len());
//! # Ok::<(), cairn::Error>(())
//! ```

pub mod duration;
pub mod group;
pub mod policy;

pub use duration::KeepDuration;
pub use group::{group_snapshots, GroupBy, GroupKey};
pub use policy::{apply_policy, KeepCounters, KeepPolicy, KeepReason, PolicyResult};

use crate::{interrupt, Error, LockGuard, Repository, Result, SnapshotFilter, StoredSnapshot};
use cairn_backend::FileType;
use cairn_format::{GoTime, Id};
use rayon::prelude::*;

/// What `forget` should do.
#[derive(Clone, Debug, Default)]
pub struct ForgetOptions {
    /// The keep policy, applied to each group.
    pub policy: KeepPolicy,
    /// How snapshots are grouped (default `host,paths`).
    pub group_by: GroupBy,
    /// Only snapshots passing this filter are considered.
    pub filter: SnapshotFilter,
    /// Explicit snapshots (IDs, prefixes or `latest`): these are removed
    /// and the policy is not used.
    pub ids: Vec<String>,
    /// Compute and report only; remove nothing.
    pub dry_run: bool,
    /// Allow an empty policy to remove every snapshot the filter selects
    /// (a non-empty filter is then required, as in restic).
    pub unsafe_allow_remove_all: bool,
    /// The current time for the policy (default: now); snapshots after it
    /// are not used as the newest one by the within-rules.
    pub now: Option<GoTime>,
}

/// One group's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct ForgetGroup {
    /// What the group's snapshots share.
    pub key: GroupKey,
    /// Kept snapshots, newest first, with their reasons.
    pub keep: Vec<(StoredSnapshot, KeepReason)>,
    /// Snapshots forgotten, newest first.
    pub remove: Vec<StoredSnapshot>,
}

/// What `forget` decided (and, unless a dry run, did).
#[derive(Debug, Default)]
pub struct ForgetResult {
    /// Per-group results; empty when explicit IDs were given.
    pub groups: Vec<ForgetGroup>,
    /// Every snapshot to remove, sorted by ID, without duplicates.
    pub remove: Vec<Id>,
    /// Explicit IDs that matched no snapshot, with the reason (restic
    /// warns "Ignoring ..." and goes on).
    pub ignored: Vec<(String, Error)>,
    /// Snapshot files that could not be read (they are left alone).
    pub problems: Vec<Error>,
}

impl Repository {
    /// Decides what `forget` removes without removing anything.
    ///
    /// Refuses, as restic does, an empty policy (unless
    /// `unsafe_allow_remove_all` is set together with a filter) and a
    /// non-empty policy that would keep nothing of some group.
    ///
    /// Listings are strict (see [`Repository::set_strict_listings`]).
    pub fn plan_forget(&self, opts: &ForgetOptions) -> Result<ForgetResult> {
        self.strictly().plan_forget_strictly(opts)
    }

    fn plan_forget_strictly(&self, opts: &ForgetOptions) -> Result<ForgetResult> {
        let mut result = ForgetResult::default();
        if !opts.ids.is_empty() {
            let mut ids = Vec::new();
            for spec in &opts.ids {
                match self.find_snapshot(spec, &opts.filter) {
                    Ok(s) => ids.push(s.id),
                    Err(e) => result.ignored.push((spec.clone(), e)),
                }
            }
            ids.sort();
            ids.dedup();
            result.remove = ids;
            return Ok(result);
        }
        opts.policy.validate()?;
        if opts.policy.is_empty() {
            if !opts.unsafe_allow_remove_all {
                return Err(Error::InvalidArgument(
                    "no policy was specified, no snapshots will be removed".into(),
                ));
            }
            if opts.filter == SnapshotFilter::default() {
                return Err(Error::InvalidArgument(
                    "--unsafe-allow-remove-all is not allowed unless a snapshot filter option is specified".into(),
                ));
            }
        }
        let (all, problems) = self.snapshots()?;
        result.problems = problems;
        let selected: Vec<StoredSnapshot> = all
            .into_iter()
            .filter(|s| opts.filter.matches(&s.snapshot))
            .collect();
        let now = opts.now.unwrap_or_else(GoTime::now_local);
        for (key, snaps) in group_snapshots(&selected, opts.group_by) {
            let PolicyResult { keep, remove } = apply_policy(&snaps, &opts.policy, now);
            if keep.is_empty() && !opts.policy.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "refusing to delete last snapshot of snapshot group \"{key}\""
                )));
            }
            result.remove.extend(remove.iter().map(|s| s.id));
            result.groups.push(ForgetGroup { key, keep, remove });
        }
        result.remove.sort();
        result.remove.dedup();
        Ok(result)
    }

    /// [`Repository::plan_forget`], then removes the chosen snapshot files
    /// unless `dry_run`, under `lock`, which must be exclusive. (A dry
    /// run without a lock is [`Repository::plan_forget`].)
    pub fn forget(&self, lock: &LockGuard, opts: &ForgetOptions) -> Result<ForgetResult> {
        lock.allows(self, "forget", true)?;
        let result = self.plan_forget(opts)?;
        if !opts.dry_run {
            self.remove_snapshots(lock, &result.remove)?;
        }
        Ok(result)
    }

    /// Removes snapshot files (in parallel), stopping at the first failure
    /// or interruption, under `lock`, which must be exclusive.
    pub fn remove_snapshots(&self, lock: &LockGuard, ids: &[Id]) -> Result<()> {
        lock.allows(self, "forget", true)?;
        ids.par_iter().try_for_each(|id| {
            interrupt::check()?;
            self.backend()
                .remove(FileType::Snapshot, &id.to_hex())
                .map_err(Error::from)
        })
    }
}
