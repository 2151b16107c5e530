use crate::FileType;
use std::io;

/// What went wrong in a backend. Messages are one line and name the file or
/// the location, never credentials.
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
    /// A repository string that cannot be parsed (restic's wording).
    #[error("{0}")]
    InvalidLocation(String),
    /// A backend option (`-o key=value`, `--cacert`, ...) that is unknown
    /// or has a bad value.
    #[error("{0}")]
    InvalidOption(String),
    /// A kind of repository Cairn cannot open yet.
    #[error("the {scheme} backend is not supported yet")]
    Unsupported {
        /// The scheme of the location (`s3`, `sftp`, ...).
        scheme: String,
    },
    /// A kind of repository this build leaves out: its Cargo feature (of
    /// `cairn-backend`, and of `cairn` under the same name) is off.
    #[error("the {scheme} backend is not compiled in: build with the Cargo feature `{feature}`")]
    NotCompiled {
        /// The scheme of the location (`s3`, `sftp`, ...).
        scheme: String,
        /// The feature that adds it (`s3`, `cloud`, ...).
        feature: &'static str,
    },
    /// The server refused the credentials (HTTP 401 or 403 on access).
    #[error("{location}: authentication failed (HTTP {status}); check the user name and password")]
    Auth {
        /// The location, with any password masked.
        location: String,
        /// The HTTP status the server answered.
        status: u16,
    },
    /// An unexpected HTTP answer.
    #[error("{context}: unexpected HTTP response ({status})")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The request (`POST data/1234...`), without credentials.
        context: String,
    },
    /// An object store (S3, Azure, B2, Swift) refused a request for a
    /// reason trying again will not fix: access denied, a missing bucket,
    /// an unexpected answer.
    #[error("{context}: {message}")]
    Store {
        /// The location and the request, without credentials.
        context: String,
        /// What the store said, one line, without credentials.
        message: String,
    },
    /// A failure that may go away when tried again: connection refused or
    /// reset, timeouts, an interrupted transfer, an injected fault.
    #[error("{context}: {message}")]
    Transient {
        /// The operation.
        context: String,
        /// What happened, one line, without credentials.
        message: String,
    },
}

impl BackendError {
    /// The error `create` gives when `location` already holds a
    /// repository (a config file).
    pub(crate) fn repository_exists(location: impl std::fmt::Display) -> Self {
        BackendError::AlreadyExists {
            what: format!("repository at {location}"),
        }
    }

    /// For `create`: `Ok` when the config stat says "not found", the
    /// already-exists error when it found one, and the stat's own error
    /// otherwise.
    #[cfg(any(
        feature = "rest",
        feature = "rclone",
        feature = "s3",
        feature = "cloud"
    ))]
    pub(crate) fn refuse_existing_config<T>(config_stat: Result<T>, location: &str) -> Result<()> {
        match config_stat {
            Ok(_) => Err(BackendError::repository_exists(location)),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// True if the error says the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BackendError::NotFound { .. })
    }

    /// True if trying again later may succeed: [`BackendError::Transient`],
    /// HTTP 5xx, 408 and 429, and I/O errors that are timeouts or broken
    /// connections. Never for missing or existing files, bad names,
    /// short reads, authentication or configuration errors.
    pub fn is_transient(&self) -> bool {
        match self {
            BackendError::Transient { .. } => true,
            BackendError::Http { status, .. } => {
                // 507 Insufficient Storage will not go away by itself.
                (*status >= 500 && *status != 507) || *status == 408 || *status == 429
            }
            BackendError::Io { source, .. } => {
                use io::ErrorKind::*;
                matches!(
                    source.kind(),
                    TimedOut
                        | Interrupted
                        | ConnectionReset
                        | ConnectionAborted
                        | ConnectionRefused
                        | BrokenPipe
                        | UnexpectedEof
                ) || source.raw_os_error() == Some(libc::ESTALE)
            }
            _ => false,
        }
    }

    /// `buf`, read for `length` bytes at `offset`, or
    /// [`BackendError::ShortRead`] if the file ended first.
    pub(crate) fn check_range(
        buf: Vec<u8>,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        if (buf.len() as u64) < length {
            return Err(BackendError::ShortRead {
                file_type,
                name: name.to_string(),
                offset,
                wanted: length,
                got: buf.len() as u64,
            });
        }
        Ok(buf)
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        BackendError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn transient(context: impl Into<String>, message: impl Into<String>) -> Self {
        BackendError::Transient {
            context: context.into(),
            message: message.into(),
        }
    }
}

/// Result with a [`BackendError`].
pub type Result<T> = std::result::Result<T, BackendError>;
