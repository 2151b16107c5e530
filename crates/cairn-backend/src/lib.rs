//! Byte stores for restic repositories.
//!
//! A repository is a handful of named files in a few folders. This crate
//! knows nothing of encryption or formats: it stores and returns bytes under
//! a [`FileType`] and a name. Every store implements the one object-safe
//! [`Backend`] trait, so the rest of Cairn works with `Arc<dyn Backend>`.
//!
//! [`Location::parse`] reads restic's repository strings and [`open`]
//! gives the backend one names.
//!
//! Each kind of remote store is a Cargo feature, all on by default:
//! `rest`, `s3`, `cloud` (Azure, B2, GCS, Swift), `sftp`, `rclone` and
//! `nfs`. Local folders are always there; with `default-features = false`
//! the crate builds without tokio, opendal, reqwest or ssh, and opening a
//! location whose backend is left out fails with
//! [`BackendError::NotCompiled`], naming the feature.
//!
//! Every backend may be called from any thread, an async task's included:
//! backends that drive async clients do their blocking outside the
//! caller's tokio runtime. Wrappers add behaviour to any backend:
//! [`RetryBackend`] retries transient failures, [`LimitBackend`] bounds the
//! operations in flight, [`RateLimitBackend`] bounds the bandwidth, [`FaultBackend`] injects failures in tests.
//!
//! ```
//! use cairn_backend::{Backend, FileType, LocalBackend};
//! let dir = tempfile::tempdir().unwrap();
//! let be = LocalBackend::new(dir.path());
//! be.create().unwrap();
//! be.write(FileType::Snapshot, "ab12", b"hello").unwrap();
//! assert_eq!(be.read(FileType::Snapshot, "ab12").unwrap(), b"hello");
//! assert_eq!(be.read_range(FileType::Snapshot, "ab12", 1, 3).unwrap(), b"ell");
//! let names: Vec<_> = be.list(FileType::Snapshot).unwrap().into_iter().map(|f| f.name).collect();
//! assert_eq!(names, ["ab12"]);
//! ```
#![deny(missing_docs)]

#[cfg(feature = "s3")]
mod assume_role;
#[cfg(any(feature = "sftp", feature = "rclone"))]
mod child;
#[cfg(feature = "cloud")]
mod cloud;
mod error;
mod fault;
#[cfg(any(
    feature = "rest",
    feature = "rclone",
    feature = "s3",
    feature = "cloud"
))]
mod http_util;
mod limit;
mod local;
pub mod location;
#[cfg(feature = "nfs")]
pub mod nfs;
#[cfg(any(feature = "s3", feature = "cloud"))]
mod object_store;
mod open;
mod ratelimit;
#[cfg(feature = "rclone")]
mod rclone;
#[cfg(any(feature = "rest", feature = "rclone"))]
mod rest;
mod retry;
#[cfg(any(
    feature = "rest",
    feature = "s3",
    feature = "cloud",
    feature = "sftp",
    feature = "rclone"
))]
mod runtime;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "sftp")]
mod sftp;
mod temp;

pub use error::{BackendError, Result};
pub use fault::{Fault, FaultBackend, Op};
pub use limit::LimitBackend;
pub use local::LocalBackend;
pub use location::{strip_password, Location, RestLocation};
#[cfg(feature = "nfs")]
pub use nfs::{NfsBackend, NfsOptions};
#[cfg(any(feature = "s3", feature = "cloud"))]
pub use object_store::{ObjectStoreBackend, DEFAULT_PART_SIZE};
pub use open::{
    feature_for_scheme, is_known_option, open, open_wrapped, BackendOptions, ExtendedOption,
    DEFAULT_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT, DEFAULT_STUCK_REQUEST_TIMEOUT,
    DEFAULT_USER_AGENT, EXTENDED_OPTIONS,
};
pub use ratelimit::RateLimitBackend;
#[cfg(feature = "rest")]
pub use rest::RestBackend;
#[cfg(any(feature = "rest", feature = "rclone"))]
pub use rest::{CONTENT_TYPE_V1, CONTENT_TYPE_V2};
pub use retry::{RetryBackend, RetryPolicy, RetryReport};
#[cfg(feature = "sftp")]
pub use sftp::SftpBackend;
pub use temp::{is_temp_name, TempFile};

/// The kinds of file a repository holds, each in its own place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileType {
    /// The single `config` file.
    Config,
    /// `keys/`: key files, plain JSON.
    Key,
    /// `locks/`.
    Lock,
    /// `snapshots/`.
    Snapshot,
    /// `index/`.
    Index,
    /// `data/XX/`: pack files.
    Pack,
}

impl FileType {
    /// Every file type, in a stable order.
    pub const ALL: [FileType; 6] = [
        FileType::Config,
        FileType::Key,
        FileType::Lock,
        FileType::Snapshot,
        FileType::Index,
        FileType::Pack,
    ];

    /// The folder this type lives in (`config` for the config file itself).
    pub fn dir_name(self) -> &'static str {
        match self {
            FileType::Config => "config",
            FileType::Key => "keys",
            FileType::Lock => "locks",
            FileType::Snapshot => "snapshots",
            FileType::Index => "index",
            FileType::Pack => "data",
        }
    }
}

impl std::fmt::Display for FileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.dir_name())
    }
}

/// A listed file: its name and its size in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileInfo {
    /// The file's name (for all but the config, lowercase hex SHA-256).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// A store of repository files.
///
/// Implementations must be safe to share between threads. Names are plain
/// file names without folders; `FileType::Config` ignores the name.
///
/// Guarantees every implementation gives:
/// - `write` is atomic: a reader sees the whole file or nothing, never a
///   partial upload, even when the writer crashes.
/// - `write` of a name that exists replaces it atomically. Apart from
///   locks and the config, names are content hashes, so the bytes are the
///   same anyway.
/// - `list` returns every file of a type with its size, in no given order.
pub trait Backend: Send + Sync {
    /// A human-readable location (`local:/srv/repo`), free of secrets.
    fn location(&self) -> String;

    /// Creates the repository's folders. Fails with
    /// [`BackendError::AlreadyExists`] if a config is already present.
    fn create(&self) -> Result<()>;

    /// Lists the files of one type.
    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>>;

    /// Reads a whole file.
    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>>;

    /// Reads `length` bytes at `offset`. Fails with
    /// [`BackendError::ShortRead`] if the file ends first.
    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>>;

    /// Stores a file atomically and durably.
    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()>;

    /// Removes a file. Removing a missing file is [`BackendError::NotFound`].
    fn remove(&self, file_type: FileType, name: &str) -> Result<()>;

    /// The size of one file, or [`BackendError::NotFound`].
    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo>;

    /// True if `write` replaces an existing file atomically. A store that
    /// refuses to overwrite instead (rest-server) returns false, so a
    /// retried upload first removes what a failed try may have stored.
    fn has_atomic_replace(&self) -> bool {
        true
    }

    /// Lists the temporary files killed writes left in the folder of a
    /// file type (see [`TempFile`]). Stores that cannot tell (or whose
    /// writes leave none) return an empty list.
    fn list_temp(&self, file_type: FileType) -> Result<Vec<TempFile>> {
        let _ = file_type;
        Ok(Vec::new())
    }

    /// Removes a temporary file [`Backend::list_temp`] returned. Refuses
    /// (with [`BackendError::InvalidName`]) a name that is not one.
    fn remove_temp(&self, file_type: FileType, name: &str) -> Result<()> {
        let _ = file_type;
        Err(BackendError::InvalidName(name.to_string()))
    }
}
