//! The library's error type.

use cairn_backend::{BackendError, FileType};
use cairn_format::{BlobType, FormatError, Id};
use std::path::PathBuf;

/// Everything that can go wrong in the library, matchable by kind.
///
/// Messages name the repository file or blob concerned and never contain
/// passwords or keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// There is no repository at the location (no `config` file).
    #[error("repository does not exist: unable to open config file at {location}")]
    NoRepository {
        /// Where we looked.
        location: String,
    },
    /// The store has key files but no `config`: a repository whose config
    /// was lost, e.g. by a migration killed between removing the old
    /// config and writing the new one. Never to be answered with `init`.
    #[error("repository at {location} has keys but no config file (was `migrate` interrupted?); {}", config_hint(copy.as_deref(), searched))]
    ConfigMissing {
        /// Where we looked.
        location: String,
        /// The folder searched for saved copies.
        searched: PathBuf,
        /// The saved copy the key opens, if one was found.
        copy: Option<PathBuf>,
    },
    /// No key file opens with the given password.
    #[error("wrong password or no key found")]
    WrongPassword,
    /// A storage operation failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A repository file does not match its SHA-256 name.
    #[error("{file_type}/{name}: content does not match its name (SHA-256 {actual}){}", crate::reread::note(*reads))]
    HashMismatch {
        /// Type of the file.
        file_type: FileType,
        /// Its name.
        name: String,
        /// SHA-256 of what was read.
        actual: Id,
        /// How many times the file was read, each time damaged.
        reads: u32,
    },
    /// A repository file could not be decrypted or parsed.
    #[error("{file_type}/{name}: {source}")]
    BadFile {
        /// Type of the file.
        file_type: FileType,
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: FormatError,
    },
    /// A repository file could not be decrypted.
    #[error("{file_type}/{name}: {source}")]
    Decrypt {
        /// Type of the file.
        file_type: FileType,
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: cairn_crypto::CryptoError,
    },
    /// A listing of repository files holds a name that is not a valid
    /// file name (garbled in transit, or a stray file).
    #[error("listing of {file_type}/ holds {name:?}, which is not a valid file name; stopping, as an incomplete listing could make files look unused (move the file out of the repository if it does not belong there)")]
    BadListing {
        /// The folder listed.
        file_type: FileType,
        /// The offending name.
        name: String,
    },
    /// The index knows no such blob.
    #[error("{blob_type} blob {id} not found in index")]
    BlobNotFound {
        /// Blob type.
        blob_type: BlobType,
        /// Blob ID.
        id: Id,
    },
    /// A blob was found but is damaged.
    #[error("pack {pack}: {blob_type} blob {id}: {reason}")]
    BadBlob {
        /// The pack holding it.
        pack: Id,
        /// Blob type.
        blob_type: BlobType,
        /// Blob ID.
        id: Id,
        /// What is wrong.
        reason: String,
    },
    /// Data failed the check before upload (see
    /// [`crate::Repository::set_extra_verify`]): sealed, it did not open to
    /// what was meant to be stored. Nothing damaged was uploaded.
    #[error("Detected data corruption while saving {what}: {reason}\nCorrupted data is either caused by hardware issues or software bugs.")]
    CorruptedOnSave {
        /// What was being saved (`blob <id>`, `file of type snapshot`).
        what: String,
        /// What the check found.
        reason: String,
    },
    /// No snapshot matches an ID, prefix or filter.
    #[error("no matching ID found for prefix {0:?}")]
    SnapshotNotFound(String),
    /// A prefix matches more than one file.
    #[error("multiple IDs with prefix {0:?} found")]
    AmbiguousPrefix(String),
    /// A path inside a snapshot does not exist.
    #[error("path {0:?} not found in snapshot")]
    PathNotFound(String),
    /// Local file-system trouble (restore targets, dump output).
    #[error("{}: {source}", path.display())]
    Io {
        /// The local path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The index and the packs disagree (a used blob the index does not
    /// know, a needed pack that is missing, a pack of the wrong size, or
    /// damaged index files); the operation refused to change anything.
    #[error("{0}; run `repair index` to rebuild the index from the packs")]
    Inconsistent(String),
    /// An argument that cannot be used.
    #[error("{0}")]
    InvalidArgument(String),
    /// The operation was interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// Another process holds a conflicting lock.
    #[error("repository is already locked {}by {holder}", if *exclusive { "exclusively " } else { "" })]
    Locked {
        /// Who holds it: PID, host, user, lock time and age, storage ID.
        holder: String,
        /// Whether the conflicting lock is exclusive.
        exclusive: bool,
    },
    /// A migration failed; the message says what state it left.
    #[error("{0}")]
    Migration(String),
    /// An operation that changes the repository was given a lock that
    /// does not allow it (see [`crate::LockGuard`]).
    #[error("{operation} needs {problem}")]
    LockNotSuitable {
        /// The operation that refused to run, e.g. `"prune"`.
        operation: &'static str,
        /// What was wrong with the lock.
        problem: crate::lock::LockProblem,
    },
}

fn config_hint(copy: Option<&std::path::Path>, searched: &std::path::Path) -> String {
    match copy {
        Some(copy) => format!(
            "a saved copy of it is at {}: store that file as `config` in the repository; do not run `init`",
            copy.display()
        ),
        None => format!(
            "no saved copy of it found in {}; do not run `init`",
            searched.display()
        ),
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
