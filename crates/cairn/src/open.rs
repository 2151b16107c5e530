//! Opening a repository from a restic repository string, as the `cairn`
//! command does.
//!
//! [`open_backend`] parses the string (`/srv/repo`, `rest:https://…`,
//! `s3:…`, `sftp:…`, `rclone:…`, `nfs://…`, `b2:…`, …) by restic's rules
//! and opens the store it names with every wrapper the command line uses:
//! bandwidth limits, at most `SCHEME.connections` operations in flight
//! (restic's default of 5 for network stores) and retries of transient
//! failures. Credentials come from the string and from the environment as
//! restic reads them (`RESTIC_REST_USERNAME`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `B2_ACCOUNT_ID`, `AZURE_ACCOUNT_NAME`, …).
//!
//! Each kind of remote store is a Cargo feature of this crate, all on by
//! default: `rest`, `s3`, `cloud` (Azure, B2, GCS, Swift), `sftp`,
//! `rclone` and `nfs`. With `default-features = false` only local folders
//! are compiled in, and a string naming another store fails with
//! [`BackendError::NotCompiled`](crate::BackendError::NotCompiled), which
//! names the feature to turn on.

use crate::{Backend, Repository, Result};
pub use cairn_backend::{
    feature_for_scheme, strip_password, BackendOptions, ExtendedOption, Location, RestLocation,
    RetryPolicy, RetryReport, DEFAULT_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT, EXTENDED_OPTIONS,
};
use std::sync::Arc;

/// Opens the store a restic repository string names, with `opts`
/// (restic's `-o key=value` options, `--cacert`, limits, timeouts) and
/// the default [`RetryPolicy`]: what `cairn -r REPOSITORY` opens.
///
/// Fails with [`crate::Error::Backend`] when the string cannot be parsed
/// (restic's messages), an option is unknown or bad, or the store cannot
/// be reached. Nothing is read yet; see [`Repository::open_location`].
///
/// ```
/// use cairn::{open_backend, Backend, BackendOptions, FileType};
///
/// let dir = tempfile::tempdir().unwrap();
/// let repository = dir.path().to_str().unwrap();
/// let mut opts = BackendOptions::default();
/// opts.set_extended(&["local.connections=2"])?;
/// let backend = open_backend(repository, &opts)?;
/// backend.create()?;
/// assert!(backend.list(FileType::Snapshot)?.is_empty());
/// assert!(open_backend("rest:", &opts).is_err());
/// # Ok::<(), cairn::Error>(())
/// ```
pub fn open_backend(repository: &str, opts: &BackendOptions) -> Result<Arc<dyn Backend>> {
    let location = Location::parse(repository)?;
    open_location_with(&location, opts, RetryPolicy::default(), None)
}

/// [`open_backend`] for a parsed [`Location`], retrying transient failures
/// with `policy` and calling `report` before each retry (the command line
/// prints "… returned error, retrying after …" there).
pub fn open_location_with(
    location: &Location,
    opts: &BackendOptions,
    policy: RetryPolicy,
    report: Option<RetryReport>,
) -> Result<Arc<dyn Backend>> {
    Ok(cairn_backend::open_wrapped(location, opts, policy, report)?)
}

impl Repository {
    /// Opens the repository a restic repository string names (see
    /// [`open_backend`]) with `password`, as [`Repository::open`] does;
    /// the index is not loaded yet.
    ///
    /// ```
    /// use cairn::{open_backend, BackendOptions, InitOptions, Repository};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let repository = dir.path().join("repo");
    /// let repository = repository.to_str().unwrap();
    /// let opts = BackendOptions::default();
    /// let backend = open_backend(repository, &opts)?;
    /// Repository::init(backend, "secret", &InitOptions::default())?;
    ///
    /// let repo = Repository::open_location(repository, "secret", &opts)?;
    /// assert_eq!(repo.config().version, 2);
    /// assert!(matches!(
    ///     Repository::open_location(repository, "wrong", &opts),
    ///     Err(cairn::Error::WrongPassword)
    /// ));
    /// # Ok::<(), cairn::Error>(())
    /// ```
    pub fn open_location(
        repository: &str,
        password: &str,
        opts: &BackendOptions,
    ) -> Result<Repository> {
        Repository::open(open_backend(repository, opts)?, password)
    }
}
