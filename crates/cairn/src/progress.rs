//! [`NoProgress`]: the progress receiver that ignores everything, for
//! every operation of the library.
//!
//! Each long-running operation reports through its own trait
//! ([`BackupProgress`](crate::backup::BackupProgress),
//! [`RestoreProgress`](crate::restore::RestoreProgress), ...). A program
//! that does not want to show anything passes `&cairn::NoProgress` to any
//! of them.

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
