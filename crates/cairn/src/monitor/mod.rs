//! Reading a repository's state cheaply and repeatedly, for monitoring
//! (`cairn exporter`).
//!
//! [`SnapshotCatalog`] keeps the snapshots read so far and, on each
//! refresh, lists `snapshots/` and reads only the files it has not seen:
//! snapshot files are content-addressed, so a known ID never changes.
//! [`Repository::status`](crate::Repository::status) summarises packs and locks from listings and
//! lock files. Neither takes a lock.

mod catalog;
mod status;
#[cfg(test)]
mod tests;

pub use catalog::{RefreshReport, SnapshotCatalog, SnapshotGroup};
pub use status::RepositoryStatus;
