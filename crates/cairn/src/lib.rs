//! Cairn: read and write restic repositories.
//!
//! This is the library behind the `cairn` command. A [`Repository`] is
//! opened from any [`Backend`] with a password; its index is then loaded
//! into memory, and snapshots, trees and blobs can be read, walked,
//! restored and dumped. Every CLI command is a thin layer over a function
//! here.
//!
//! Long operations report through a progress trait of their own; pass
//! [`NoProgress`] to any of them to show nothing. Each takes a [`Cancel`]
//! token in its options, so one of several jobs can be stopped.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cairn::{Repository, SnapshotFilter, LocalBackend};
//!
//! let backend = Arc::new(LocalBackend::new("/srv/restic-repo"));
//! let mut repo = Repository::open(backend, "secret")?;
//! repo.load_index()?;
//! let latest = repo.find_snapshot("latest", &SnapshotFilter::default())?;
//! println!("{} {}", latest.id.short(), latest.snapshot.time.to_rfc3339_nano());
//! # Ok::<(), cairn::Error>(())
//! ```
#![deny(missing_docs)]

pub mod backup;
mod blob;
pub mod cache;
pub mod cancel;
pub mod check;
pub mod config_copy;
pub mod copy;
pub mod diff;
pub mod dump;
mod error;
pub mod file_reader;
pub mod filter;
pub mod forget;
pub mod host;
mod index;
mod init;
pub mod interrupt;
mod keys;
pub mod lock;
pub mod metrics;
pub mod migrate;
pub mod monitor;
mod open;
pub mod pack_contents;
pub mod progress;
pub mod prune;
pub mod recover;
mod repair_index;
pub mod repair_packs;
pub mod repair_snapshots;
mod repository;
pub mod reread;
pub mod restore;
pub mod rewrite;
mod snapshots;
pub mod stats;
pub mod tag;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod tree_walk;
pub mod walk;
pub mod write;

pub use cairn_backend::{Backend, BackendError, FileInfo, FileType, LocalBackend};
pub use cairn_format as format;
pub use cairn_format::{BlobType, Id, Node, NodeType, Snapshot, Tree};
pub use cancel::Cancel;
pub use check::{CheckOptions, CheckProgress, CheckReport, ReadDataSubset};
pub use error::{Error, Result};
pub use forget::{ForgetOptions, ForgetResult, KeepPolicy};
pub use index::{BlobLocation, Index, IndexBuilder};
pub use init::{default_scrypt_params, InitOptions};
pub use keys::{KeyInfo, KeyOptions};
pub use lock::{LockGuard, LockOptions};
pub use open::{
    feature_for_scheme, open_backend, open_location_with, strip_password, BackendOptions,
    ExtendedOption, Location, RestLocation, RetryPolicy, RetryReport, DEFAULT_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT, EXTENDED_OPTIONS,
};
pub use progress::NoProgress;
pub use prune::{MaxUnused, PruneOptions, PrunePlan, PruneReport, PruneStats};
pub use repair_index::{RepairIndexPhase, RepairIndexProgress, RepairIndexReport};
pub use repository::Repository;
pub use snapshots::{clean_path, latest_per_group, sort_by_time, SnapshotFilter, StoredSnapshot};
pub use tag::TagChange;
