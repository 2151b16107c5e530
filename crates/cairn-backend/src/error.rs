use crate::FileType;
use std::io;

/// What went wrong in a backend. Messages name the file, never credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The file does not exist.
    #[error("{file_type}/{name}: not found")]
    NotFound {
        /// Type of the missing file.
        file_type: FileType,
        /// Its name.
        name: String,
    },
    /// The repository (or the file) exists already.
    #[error("{what}: already exists")]
    AlreadyExists {
        /// What exists.
        what: String,
    },
    /// The file is shorter than the requested range.
    #[error("{file_type}/{name}: short read: wanted {wanted} bytes at offset {offset}, got {got}")]
    ShortRead {
        /// Type of the file.
        file_type: FileType,
        /// Its name.
        name: String,
        /// Start of the requested range.
        offset: u64,
        /// Requested length.
        wanted: u64,
        /// Bytes available.
        got: u64,
    },
    /// A name that is not a plain file name (path separators, `..`).
    #[error("invalid file name {0:?}")]
    InvalidName(String),
    /// An I/O error from the store, with the path or object it concerns.
    #[error("{context}: {source}")]
    Io {
        /// Where it happened.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl BackendError {
    /// True if the error says the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BackendError::NotFound { .. })
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        BackendError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result with a [`BackendError`].
pub type Result<T> = std::result::Result<T, BackendError>;
