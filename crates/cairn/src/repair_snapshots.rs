//! `repair snapshots`: replace snapshots whose trees name missing or
//! unreadable blobs by snapshots `check` accepts, as restic does.
//!
//! Every selected snapshot's tree is rewritten (see [`crate::rewrite`]):
//! a directory whose tree cannot be loaded becomes an empty directory, a
//! file loses the data blobs the index does not know (its size becomes the
//! sum of the blobs kept), and nodes of an invalid type are dropped. A
//! snapshot whose root tree cannot be loaded is removed. Repaired
//! snapshots are saved with `original` set and the tag `repaired` (or
//! replace the old ones with `forget`). The index must describe the packs
//! (run `repair index`, and `repair packs` for damaged packs, first). The
//! caller passes an exclusive lock.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cairn::repair_snapshots::RepairSnapshotsOptions;
//! use cairn::{LocalBackend, Repository};
//!
//! let mut repo = Repository::open(Arc::new(LocalBackend::new("/srv/repo")), "secret")?;
//! let (snapshots, _) = repo.snapshots()?;
//! let opts = RepairSnapshotsOptions { forget: true, ..Default::default() };
//! let lock = repo.lock(true, None)?;
//! let report = repo.repair_snapshots(&lock, &snapshots, &opts, &cairn::NoProgress)?;
//! println!("modified {} snapshots", report.changed());
//! # Ok::<(), cairn::Error>(())
//! ```

use crate::rewrite::{
    load_index_strictly, Policy, RewriteOptions, RewriteProgress, RewriteReport, SnapshotRewriter,
};
use crate::write::WriteOptions;
use crate::{LockGuard, Repository, Result, StoredSnapshot};

/// How `repair snapshots` works (restic's flags).
#[derive(Clone, Debug, Default)]
pub struct RepairSnapshotsOptions {
    /// `--forget`: remove each damaged snapshot once its repaired copy is
    /// saved.
    pub forget: bool,
    /// `--dry-run`: write nothing, only report.
    pub dry_run: bool,
    /// Pack size and compression of the new trees.
    pub write: WriteOptions,
    /// Stops the repair (with [`Error::Interrupted`](crate::Error::Interrupted))
    /// once cancelled; snapshots already repaired stay.
    pub cancel: crate::Cancel,
}

impl Repository {
    /// A repairer for snapshots, one at a time, under `lock` (exclusive);
    /// the index must be loaded. What it writes is added to this value's
    /// index.
    pub fn snapshot_repairer<'r>(
        &'r mut self,
        lock: &'r LockGuard,
        opts: &RepairSnapshotsOptions,
    ) -> Result<SnapshotRewriter<'r>> {
        lock.allows(self, "repair snapshots", true)?;
        let rewrite = RewriteOptions {
            forget: opts.forget,
            dry_run: opts.dry_run,
            write: opts.write.clone(),
            cancel: opts.cancel.clone(),
            ..RewriteOptions::default()
        };
        Ok(SnapshotRewriter::with_policy(
            self,
            lock,
            Policy::Repair,
            rewrite,
            "repaired",
        ))
    }

    /// Repairs every snapshot of `snapshots` (see the module docs); stops
    /// at the first error.
    pub fn repair_snapshots(
        &mut self,
        lock: &LockGuard,
        snapshots: &[StoredSnapshot],
        opts: &RepairSnapshotsOptions,
        progress: &dyn RewriteProgress,
    ) -> Result<RewriteReport> {
        if opts.forget {
            self.set_strict_listings(true);
        }
        lock.allows(self, "repair snapshots", true)?;
        load_index_strictly(self)?;
        self.snapshot_repairer(lock, opts)?
            .rewrite_all(snapshots, progress)
    }
}
