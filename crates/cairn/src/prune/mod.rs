//! `prune`: remove data no snapshot needs any more, as restic does.
//!
//! Pruning runs in two steps, so that a caller can show the plan before
//! anything changes:
//!
//! 1. [`Repository::plan_prune`] finds every blob the snapshots use (each
//!    tree is read once, in parallel), classifies every pack (used, unused,
//!    partly used; tree or data; compressed or not; small or not) and
//!    decides with restic's rules which packs are deleted and which are
//!    repacked. It refuses (changing nothing) when the index and the packs
//!    disagree: a used blob the index does not know, a needed pack that is
//!    missing, or a pack whose size differs from what the index says. Those
//!    are repaired with [`Repository::repair_index`].
//! 2. [`Repository::execute_prune`] carries the plan out in an order that
//!    keeps the repository valid if the process dies at any moment:
//!    unreferenced packs are deleted; the blobs still needed are copied
//!    out of the packs to repack into new packs; a new set of index files
//!    describing every remaining pack (and the new ones) is written; only
//!    then are the old index files deleted, and last the packs no index
//!    names any more. At every point each used blob is named by some index
//!    file and stored in an existing pack; what may be left over are packs
//!    no index names, which restic's `check` reports only as a hint and
//!    the next prune removes.
//!
//! Planning needs no lock (restic's `prune --dry-run --no-lock`);
//! executing takes the guard of an exclusive lock.

mod classify;
mod decide;
pub(crate) mod index_files;
pub(crate) mod repack;
mod temp_files;
mod used;

#[cfg(test)]
mod safety_tests;
#[cfg(test)]
mod tests;

use crate::repository::Repository;
use crate::write::{Compression, WriteOptions};
use crate::{Error, LockGuard, Result};
use cairn_backend::FileType;
use cairn_format::{BlobType, Id};
use std::collections::{BTreeSet, HashSet};

pub use decide::small_pack_target;
pub use temp_files::TEMP_FILE_MIN_AGE;

/// How much unused space may remain after pruning (`--max-unused`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxUnused {
    /// A percentage (0 ≤ p < 100) of the whole repository after pruning.
    Percent(f64),
    /// An absolute number of bytes.
    Bytes(u64),
    /// Any amount: only fully unused packs are deleted.
    Unlimited,
}

impl Default for MaxUnused {
    fn default() -> Self {
        MaxUnused::Percent(5.0)
    }
}

impl MaxUnused {
    /// Parses restic's syntax: `unlimited`, a percentage like `5%` or
    /// `2.5%`, or a size like `100M` (suffixes k, m, g, t, any case).
    pub fn parse(text: &str) -> Result<MaxUnused> {
        let s = text.trim();
        if s.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "invalid value for --max-unused: {text:?}"
            )));
        }
        if s == "unlimited" {
            return Ok(MaxUnused::Unlimited);
        }
        if let Some(num) = s.strip_suffix('%') {
            let p: f64 = num.parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "invalid percentage {text:?} passed for --max-unused: strconv.ParseFloat: parsing {num:?}: invalid syntax"
                ))
            })?;
            if p < 0.0 {
                return Err(Error::InvalidArgument(
                    "percentage for --max-unused must be positive".into(),
                ));
            }
            if p >= 100.0 {
                return Err(Error::InvalidArgument(
                    "percentage for --max-unused must be below 100%".into(),
                ));
            }
            return Ok(MaxUnused::Percent(p));
        }
        crate::backup::exclude::parse_size(s)
            .map(MaxUnused::Bytes)
            .map_err(|e| {
                Error::InvalidArgument(format!(
                    "invalid number of bytes {text:?} for --max-unused: {e}"
                ))
            })
    }

    /// The unused bytes tolerated after pruning, given the used bytes
    /// (restic: `p / (100 - p) * used` for a percentage).
    pub fn limit(&self, used: u64) -> u64 {
        match *self {
            MaxUnused::Percent(p) => (p / (100.0 - p) * used as f64) as u64,
            MaxUnused::Bytes(n) => n,
            MaxUnused::Unlimited => u64::MAX,
        }
    }
}

/// What `prune` may do; restic's flags.
#[derive(Clone, Debug, Default)]
pub struct PruneOptions {
    /// Only plan and report (`--dry-run`).
    pub dry_run: bool,
    /// `--max-unused`.
    pub max_unused: MaxUnused,
    /// `--max-repack-size`: stop repacking once this many bytes would be
    /// read (`None`: no limit).
    pub max_repack_bytes: Option<u64>,
    /// `--repack-cacheable-only`: repack tree packs only.
    pub repack_cacheable_only: bool,
    /// `--repack-small`: repack packs below 80% of the target pack size.
    pub repack_small: bool,
    /// `--repack-smaller-than`: repack packs below this size (implies
    /// `repack_small`; at most the target pack size).
    pub repack_smaller_than: Option<u64>,
    /// `--repack-uncompressed`: repack packs holding uncompressed blobs
    /// (version 2 repositories only).
    pub repack_uncompressed: bool,
    /// Target pack size and compression of the new packs.
    pub write: WriteOptions,
    /// `--unsafe-recover-no-free-space`: restic's emergency mode for a
    /// repository whose storage is full. Nothing is repacked (no space is
    /// needed for new packs), and every index file is deleted before the
    /// packs are, the new index being written only afterwards. Not crash
    /// safe: if the process dies in between, the repository has no index
    /// until `repair index` rebuilds it. Callers must check that the user
    /// named the repository's ID, as restic does.
    pub unsafe_recovery: bool,
    /// Stops this prune (with [`Error::Interrupted`]) once cancelled, at a
    /// point where the repository stays consistent.
    pub cancel: crate::Cancel,
    /// Snapshots the caller is about to delete (`forget --prune` plans its
    /// prune while it waits for its lock, before it deletes them): the plan
    /// treats them as already gone, as restic's prune does with the
    /// snapshots its `forget` removed. [`Repository::execute_prune`]
    /// refuses to run (unless a dry run) while any of them still exists,
    /// so data they use can never be removed while they refer to it.
    pub forgotten: BTreeSet<Id>,
}

impl PruneOptions {
    /// Checks option combinations restic refuses.
    pub fn validate(&self, repo_version: u32) -> Result<()> {
        self.write.validate()?;
        if self.repack_uncompressed && self.write.compression == Compression::Off {
            return Err(Error::InvalidArgument(
                "disabled compression and `--repack-uncompressed` are mutually exclusive".into(),
            ));
        }
        if self.repack_uncompressed && repo_version < 2 {
            return Err(Error::InvalidArgument(
                "compression requires at least repository format version 2".into(),
            ));
        }
        if self.repack_smaller_than.unwrap_or(0) > self.write.pack_size {
            return Err(Error::InvalidArgument(
                "repack-smaller-than exceeds repository packsize".into(),
            ));
        }
        Ok(())
    }
}

/// A blob count and its stored size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amount {
    /// Number of blobs.
    pub blobs: u64,
    /// Stored (encrypted) bytes.
    pub bytes: u64,
}

impl Amount {
    fn add(&mut self, bytes: u64) {
        self.blobs += 1;
        self.bytes += bytes;
    }

    fn sub(&mut self, bytes: u64) {
        self.blobs -= 1;
        self.bytes -= bytes;
    }
}

/// restic's prune statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Blobs in use (one copy each).
    pub used: Amount,
    /// Extra copies of used blobs.
    pub duplicate: Amount,
    /// Blobs no snapshot uses.
    pub unused: Amount,
    /// Blobs deleted with whole packs.
    pub remove: Amount,
    /// Blobs in packs to repack.
    pub repack: Amount,
    /// Blobs dropped while repacking.
    pub repack_remove: Amount,
    /// Bytes in packs no index names.
    pub unreferenced_bytes: u64,
    /// Bytes in kept packs holding uncompressed blobs (version 2 only).
    pub uncompressed_bytes: u64,
    /// Packs whose blobs are all used.
    pub packs_used: u64,
    /// Packs with used and unused blobs.
    pub packs_partly_used: u64,
    /// Packs without used blobs.
    pub packs_unused: u64,
    /// Packs no index names (deleted first).
    pub packs_unreferenced: u64,
    /// Packs kept as they are.
    pub packs_keep: u64,
    /// Packs to repack.
    pub packs_repack: u64,
    /// Packs to delete.
    pub packs_remove: u64,
}

impl PruneStats {
    /// All blobs the index lists (used, duplicate and unused).
    pub fn total(&self) -> Amount {
        Amount {
            blobs: self.used.blobs + self.unused.blobs + self.duplicate.blobs,
            bytes: self.used.bytes
                + self.duplicate.bytes
                + self.unused.bytes
                + self.unreferenced_bytes,
        }
    }

    /// What the prune frees.
    pub fn total_prune(&self) -> Amount {
        Amount {
            blobs: self.remove.blobs + self.repack_remove.blobs,
            bytes: self.remove.bytes + self.repack_remove.bytes + self.unreferenced_bytes,
        }
    }

    /// Unused bytes before pruning (duplicates included).
    pub fn unused_bytes(&self) -> u64 {
        self.duplicate.bytes + self.unused.bytes
    }

    /// Unused bytes left after pruning.
    pub fn unused_after(&self) -> u64 {
        self.unused_bytes() - self.remove.bytes - self.repack_remove.bytes
    }
}

/// The steps of a prune, reported as they start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrunePhase {
    /// Reading the snapshot files.
    LoadingSnapshots,
    /// Walking the trees of this many snapshots.
    FindingUsedBlobs(usize),
    /// Matching used blobs with the index.
    SearchingUsedPacks,
    /// Deciding what to delete and repack.
    CollectingPacks,
    /// Deleting packs no index names.
    DeletingUnreferenced(usize),
    /// Copying used blobs out of this many packs.
    Repacking(usize),
    /// Writing the new index files.
    RebuildingIndex,
    /// Deleting the replaced index files.
    DeletingIndexFiles(usize),
    /// Unsafe recovery: deleting every index file before any pack.
    DeletingAllIndexFiles(usize),
    /// Deleting this many packs.
    RemovingPacks(usize),
}

/// Receives progress and warnings from a prune. Every method has an empty
/// default; [`NoProgress`](crate::NoProgress) ignores everything.
pub trait PruneProgress: Sync {
    /// A step starts.
    fn phase(&self, _phase: PrunePhase) {}
    /// A non-fatal problem, or the details of a refusal (several lines).
    fn warn(&self, _message: &str) {}
    /// One pack was repacked.
    fn pack_repacked(&self) {}
}

/// What [`Repository::plan_prune`] decided.
#[derive(Debug, Default)]
pub struct PrunePlan {
    /// The statistics restic prints.
    pub stats: PruneStats,
    /// Packs no index names, deleted first.
    pub remove_first: BTreeSet<Id>,
    /// Packs whose used blobs are copied to new packs before deletion.
    pub repack: BTreeSet<Id>,
    /// Packs without used blobs, deleted.
    pub remove: BTreeSet<Id>,
    /// Packs the index names but which do not exist and are not needed:
    /// dropped from the index.
    pub ignore: BTreeSet<Id>,
    /// Blobs to copy out of the packs to repack.
    keep_blobs: HashSet<(BlobType, Id)>,
    /// The index files the plan was made from (replaced on execution).
    index_files: Vec<Id>,
    options: PruneOptions,
}

impl PrunePlan {
    /// Number of blobs that will be copied while repacking.
    pub fn blobs_to_copy(&self) -> usize {
        self.keep_blobs.len()
    }
}

/// What [`Repository::execute_prune`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// The statistics of the plan.
    pub stats: PruneStats,
    /// Packs written while repacking.
    pub packs_written: Vec<Id>,
    /// Index files written.
    pub index_files_written: Vec<Id>,
    /// Index files deleted.
    pub index_files_deleted: Vec<Id>,
    /// Packs deleted (unreferenced, unused and repacked ones).
    pub packs_deleted: Vec<Id>,
    /// Files that could not be deleted (left for a later prune).
    pub delete_failures: Vec<String>,
    /// Temporary files of killed writes, older than
    /// [`TEMP_FILE_MIN_AGE`], removed (or, in a dry run, to remove).
    pub temp_files_removed: usize,
    /// Their size in bytes.
    pub temp_bytes_removed: u64,
    /// True when nothing was changed (`dry_run`).
    pub dry_run: bool,
}

impl Repository {
    /// Plans a prune without changing anything; see the module docs.
    ///
    /// Loads the index if needed. Fails, changing nothing, when the
    /// repository is inconsistent (details go to `progress.warn`).
    pub fn plan_prune(
        &mut self,
        opts: &PruneOptions,
        progress: &dyn PruneProgress,
    ) -> Result<PrunePlan> {
        opts.validate(self.config().version)?;
        opts.cancel.check()?;
        // A name missing from a listing would make what it keeps alive
        // look unused.
        self.set_strict_listings(true);
        if let Some(problem) = self.load_index()?.into_iter().next() {
            return Err(Error::Inconsistent(format!(
                "index files are damaged: {problem}"
            )));
        }
        let index_files: Vec<Id> = self
            .list_ids(FileType::Index)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        progress.phase(PrunePhase::LoadingSnapshots);
        let (snapshots, problems) = self.snapshots()?;
        if let Some(problem) = problems.into_iter().next() {
            return Err(Error::InvalidArgument(format!(
                "failed loading snapshot: {problem}"
            )));
        }
        let roots: Vec<Id> = snapshots
            .iter()
            .filter(|s| !opts.forgotten.contains(&s.id))
            .map(|s| s.snapshot.tree)
            .collect();
        progress.phase(PrunePhase::FindingUsedBlobs(roots.len()));
        let used = used::find_used_blobs(self, &roots, &opts.cancel)?;
        progress.phase(PrunePhase::SearchingUsedPacks);
        let classified = classify::classify(self.index(), &used, progress)?;
        progress.phase(PrunePhase::CollectingPacks);
        let packs = self.list_ids(FileType::Pack)?;
        let mut decide_opts = opts.clone();
        if opts.unsafe_recovery {
            // Repacking needs space the recovery does not have.
            decide_opts.max_repack_bytes = Some(0);
        }
        let mut plan = decide::decide(
            &decide_opts,
            self.config().version,
            classified.packs,
            &packs,
            classified.stats,
            progress,
        )?;
        if !plan.repack.is_empty() {
            // Blobs that also sit in a pack that stays need no copy.
            plan.keep_blobs =
                classify::blobs_to_copy(self.index(), &used, &plan.repack, &plan.remove);
        }
        plan.index_files = index_files;
        plan.options = opts.clone();
        Ok(plan)
    }

    /// Carries out a plan from [`Repository::plan_prune`] in crash-safe
    /// order (see the module docs) under `lock`, which must be exclusive.
    /// With `dry_run` set, only reports.
    ///
    /// Afterwards the index is read again, so that it matches the new
    /// index files.
    pub fn execute_prune(
        &mut self,
        lock: &LockGuard,
        plan: PrunePlan,
        progress: &dyn PruneProgress,
    ) -> Result<PruneReport> {
        lock.allows(self, "prune", true)?;
        // A dry run changes nothing, and its snapshots were not deleted.
        if !plan.options.forgotten.is_empty() && !plan.options.dry_run {
            let left = self.list_ids(FileType::Snapshot)?;
            if let Some((id, _)) = left
                .iter()
                .find(|(id, _)| plan.options.forgotten.contains(id))
            {
                return Err(Error::InvalidArgument(format!(
                    "prune was planned without snapshot {id}, which still exists"
                )));
            }
        }
        let report = self.execute_prune_plan(plan, progress)?;
        if !report.dry_run {
            self.reload_index()?;
        }
        Ok(report)
    }

    fn execute_prune_plan(
        &self,
        plan: PrunePlan,
        progress: &dyn PruneProgress,
    ) -> Result<PruneReport> {
        let mut report = PruneReport {
            stats: plan.stats.clone(),
            dry_run: plan.options.dry_run,
            ..PruneReport::default()
        };
        plan.options.cancel.check()?;
        let temp = temp_files::remove_old_temp_files(
            self,
            std::time::SystemTime::now(),
            plan.options.dry_run,
        );
        report.temp_files_removed = temp.files;
        report.temp_bytes_removed = temp.bytes;
        report.delete_failures.extend(temp.failures);
        if plan.options.dry_run {
            return Ok(report);
        }
        let PrunePlan {
            remove_first,
            repack,
            mut remove,
            mut ignore,
            mut keep_blobs,
            index_files,
            options,
            ..
        } = plan;
        if !remove_first.is_empty() {
            progress.phase(PrunePhase::DeletingUnreferenced(remove_first.len()));
            let ids: Vec<Id> = remove_first.into_iter().collect();
            index_files::delete_files(self, FileType::Pack, &ids, &mut report);
        }
        options.cancel.check()?;
        let mut new_packs = Vec::new();
        if !repack.is_empty() {
            progress.phase(PrunePhase::Repacking(repack.len()));
            new_packs = repack::repack(self, &repack, &mut keep_blobs, &options, progress)?;
            if !keep_blobs.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "internal error: {} blobs were not repacked",
                    keep_blobs.len()
                )));
            }
            report.packs_written = new_packs.iter().map(|p| p.id).collect();
            remove.extend(repack);
        }
        ignore.extend(remove.iter().copied());
        if options.unsafe_recovery {
            options.cancel.check()?;
            progress.phase(PrunePhase::DeletingAllIndexFiles(index_files.len()));
            index_files::delete_index_files(self, &index_files)?;
            report.index_files_deleted = index_files;
            if !remove.is_empty() {
                progress.phase(PrunePhase::RemovingPacks(remove.len()));
                let ids: Vec<Id> = remove.into_iter().collect();
                index_files::delete_files(self, FileType::Pack, &ids, &mut report);
            }
            // Not cancellable here: the repository needs its index back.
            let packs = index_files::packs_except(self.index(), &ignore, new_packs);
            report.index_files_written =
                index_files::write_index_files(self, packs, &crate::Cancel::new())?;
            return Ok(report);
        }
        if !ignore.is_empty() {
            options.cancel.check()?;
            progress.phase(PrunePhase::RebuildingIndex);
            let packs = index_files::packs_except(self.index(), &ignore, new_packs);
            report.index_files_written =
                index_files::write_index_files(self, packs, &options.cancel)?;
            progress.phase(PrunePhase::DeletingIndexFiles(index_files.len()));
            index_files::delete_index_files(self, &index_files)?;
            report.index_files_deleted = index_files;
        }
        if !remove.is_empty() {
            progress.phase(PrunePhase::RemovingPacks(remove.len()));
            let ids: Vec<Id> = remove.into_iter().collect();
            index_files::delete_files(self, FileType::Pack, &ids, &mut report);
        }
        Ok(report)
    }

    /// Plans and executes a prune: [`Repository::plan_prune`] then
    /// [`Repository::execute_prune`], under `lock`, which must be
    /// exclusive.
    pub fn prune(
        &mut self,
        lock: &LockGuard,
        opts: &PruneOptions,
        progress: &dyn PruneProgress,
    ) -> Result<PruneReport> {
        lock.allows(self, "prune", true)?;
        let plan = self.plan_prune(opts, progress)?;
        self.execute_prune(lock, plan, progress)
    }
}
