//! The crate's error type: everything that can stop the server from starting
//! or running. Per-request failures never surface here; they become HTTP
//! status codes in [`crate::handler`].

use std::io;
use std::path::PathBuf;

/// Why the server could not start or stopped.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The htpasswd file could not be read (authentication is on by default).
    #[error("cannot load {} (use --no-auth to disable): {source}", path.display())]
    Htpasswd {
        /// The file that was tried.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The listen address could not be resolved or bound.
    #[error("unable to listen on {addr}: {source}")]
    Listen {
        /// The address as given.
        addr: String,
        /// What went wrong.
        source: io::Error,
    },
    /// The TLS certificate or key could not be loaded or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// Contradictory or invalid settings.
    #[error("{0}")]
    Config(String),
    /// A filesystem or runtime operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// What went wrong.
        source: io::Error,
    },
}

impl Error {
    /// An [`Error::Io`] with a description of the failed operation.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
