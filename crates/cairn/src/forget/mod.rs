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

use crate::{Error, LockGuard, Repository, Result, SnapshotFilter, StoredSnapshot};
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
    /// Stops this forget (with [`Error::Interrupted`]) once cancelled;
    /// snapshot files already removed stay removed.
    pub cancel: crate::Cancel,
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
    /// Snapshots the policy or the IDs chose that are kept anyway because
    /// rustic protects them (`"delete":"Never"`, or a `delete` time still to
    /// come; see [`cairn_format::Snapshot::protected_by_rustic`]), sorted by
    /// ID. restic ignores the field; Cairn never removes more than restic
    /// would, only less.
    pub protected: Vec<Id>,
}

/// The reason shown for a snapshot kept only because rustic protects it.
pub const RUSTIC_PROTECTED_REASON: &str = "protected by rustic (delete)";

/// Moves the snapshots of `remove` that rustic protects into `keep` (which
/// stays newest first); returns their IDs and what is left to remove.
fn keep_protected(
    keep: &mut Vec<(StoredSnapshot, KeepReason)>,
    remove: Vec<StoredSnapshot>,
    now: &GoTime,
) -> (Vec<Id>, Vec<StoredSnapshot>) {
    let (protected, remove): (Vec<_>, Vec<_>) = remove
        .into_iter()
        .partition(|s| s.snapshot.protected_by_rustic(now));
    let ids = protected.iter().map(|s| s.id).collect();
    for s in protected {
        let reason = KeepReason {
            matches: vec![RUSTIC_PROTECTED_REASON.to_string()],
            counters: KeepCounters::default(),
        };
        keep.push((s, reason));
    }
    let instant = |s: &StoredSnapshot| (s.snapshot.time.unix_secs, s.snapshot.time.nanos);
    keep.sort_by(|a, b| instant(&b.0).cmp(&instant(&a.0)).then(a.0.id.cmp(&b.0.id)));
    (ids, remove)
}

impl Repository {
    /// Decides what `forget` removes without removing anything.
    ///
    /// Snapshots rustic protects are never removed (see
    /// [`ForgetResult::protected`]).
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
        let now = opts.now.unwrap_or_else(GoTime::now_local);
        if !opts.ids.is_empty() {
            let mut ids = Vec::new();
            for spec in &opts.ids {
                match self.find_snapshot(spec, &opts.filter) {
                    Ok(s) if s.snapshot.protected_by_rustic(&now) => result.protected.push(s.id),
                    Ok(s) => ids.push(s.id),
                    Err(e) => result.ignored.push((spec.clone(), e)),
                }
            }
            ids.sort();
            ids.dedup();
            result.remove = ids;
            result.protected.sort();
            result.protected.dedup();
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
        for (key, snaps) in group_snapshots(&selected, opts.group_by) {
            let PolicyResult { mut keep, remove } = apply_policy(&snaps, &opts.policy, now);
            let (protected, remove) = keep_protected(&mut keep, remove, &now);
            result.protected.extend(protected);
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
        result.protected.sort();
        result.protected.dedup();
        Ok(result)
    }

    /// [`Repository::plan_forget`], then removes the chosen snapshot files
    /// unless `dry_run`, under `lock`, which must be exclusive. (A dry
    /// run without a lock is [`Repository::plan_forget`].)
    pub fn forget(&self, lock: &LockGuard, opts: &ForgetOptions) -> Result<ForgetResult> {
        lock.allows(self, "forget", true)?;
        opts.cancel.check()?;
        let result = self.plan_forget(opts)?;
        if !opts.dry_run {
            self.remove_snapshots_until(lock, &result.remove, &opts.cancel)?;
        }
        Ok(result)
    }

    /// Removes snapshot files (in parallel), stopping at the first failure
    /// or interruption, under `lock`, which must be exclusive.
    pub fn remove_snapshots(&self, lock: &LockGuard, ids: &[Id]) -> Result<()> {
        self.remove_snapshots_until(lock, ids, &crate::Cancel::new())
    }

    /// [`Repository::remove_snapshots`], also stopping once `cancel` is
    /// cancelled.
    pub fn remove_snapshots_until(
        &self,
        lock: &LockGuard,
        ids: &[Id],
        cancel: &crate::Cancel,
    ) -> Result<()> {
        lock.allows(self, "forget", true)?;
        ids.par_iter().try_for_each(|id| {
            cancel.check()?;
            self.backend()
                .remove(FileType::Snapshot, &id.to_hex())
                .map_err(Error::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_format::Snapshot;

    fn at(n: u8, time: &str, delete: Option<&str>) -> StoredSnapshot {
        let mut s = Snapshot::new(GoTime::parse(time).unwrap(), Id([0; 32]));
        if let Some(d) = delete {
            s.unknown.push("delete", d).unwrap();
        }
        StoredSnapshot {
            id: Id([n; 32]),
            snapshot: s,
        }
    }

    #[test]
    fn rustic_protected_snapshots_are_kept_and_nothing_else_changes() {
        let snaps = [
            at(1, "2022-01-01T00:00:00Z", Some(r#""Never""#)),
            at(2, "2022-01-02T00:00:00Z", None),
            at(
                3,
                "2022-01-03T00:00:00Z",
                Some(r#"{"After":"2099-01-01T00:00:00Z"}"#),
            ),
            at(
                4,
                "2022-01-04T00:00:00Z",
                Some(r#"{"After":"2023-01-01T00:00:00Z"}"#),
            ),
            at(5, "2022-01-05T00:00:00Z", None),
        ];
        let policy = KeepPolicy {
            last: 1,
            ..Default::default()
        };
        let now = GoTime::parse("2024-01-01T00:00:00Z").unwrap();
        let PolicyResult { mut keep, remove } = apply_policy(&snaps, &policy, now);
        let (protected, remove) = keep_protected(&mut keep, remove, &now);
        let ids = |v: Vec<&StoredSnapshot>| v.iter().map(|s| s.id.0[0]).collect::<Vec<_>>();
        assert_eq!(protected, [Id([3; 32]), Id([1; 32])]);
        // Kept: what restic keeps (5) plus the protected ones, newest first.
        assert_eq!(ids(keep.iter().map(|k| &k.0).collect()), [5, 3, 1]);
        assert_eq!(keep[1].1.matches, [RUSTIC_PROTECTED_REASON]);
        assert_eq!(ids(remove.iter().collect()), [4, 2]);
    }
}
