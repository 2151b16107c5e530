//! [`NoProgress`]: the progress receiver that ignores everything, for
//! every operation of the library.
//!
//! Each long-running operation reports through its own trait
//! ([`BackupProgress`], [`RestoreProgress`], ...). A program that does
//! not want to show anything passes `&cairn::NoProgress` to any of them.

use crate::backup::BackupProgress;
use crate::check::CheckProgress;
use crate::copy::CopyProgress;
use crate::prune::PruneProgress;
use crate::recover::RecoverProgress;
use crate::repair_index::RepairIndexProgress;
use crate::repair_packs::RepairPacksProgress;
use crate::restore::RestoreProgress;
use crate::rewrite::RewriteProgress;

/// Progress that goes nowhere; implements every progress trait of the
/// library.
///
/// ```no_run
/// # fn f(repo: &cairn::Repository) -> cairn::Result<()> {
/// let report = repo.check(&cairn::CheckOptions::default(), &cairn::NoProgress)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoProgress;

impl BackupProgress for NoProgress {}
impl CheckProgress for NoProgress {}
impl CopyProgress for NoProgress {}
impl PruneProgress for NoProgress {}
impl RecoverProgress for NoProgress {}
impl RepairIndexProgress for NoProgress {}
impl RepairPacksProgress for NoProgress {}
impl RewriteProgress for NoProgress {}

impl RestoreProgress for NoProgress {
    /// Nothing shows items, so their locations are not worked out.
    fn wants_items(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_serves_every_operation() {
        let p = &NoProgress;
        let backup: &dyn BackupProgress = p;
        let check: &dyn CheckProgress = p;
        let copy: &dyn CopyProgress = p;
        let prune: &dyn PruneProgress = p;
        let recover: &dyn RecoverProgress = p;
        let index: &dyn RepairIndexProgress = p;
        let packs: &dyn RepairPacksProgress = p;
        let rewrite: &dyn RewriteProgress = p;
        let restore: &dyn RestoreProgress = p;
        backup.bytes_done(1);
        check.advance();
        copy.pack_copied();
        prune.pack_repacked();
        recover.warn("x");
        index.warn("x");
        packs.pack_done();
        let _ = rewrite;
        assert!(!restore.wants_items());
    }
}
