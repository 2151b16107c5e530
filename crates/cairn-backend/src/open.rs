//! Opening the backend a [`Location`] names, with restic's options.

use crate::{
    Backend, BackendError, LimitBackend, LocalBackend, Location, RateLimitBackend, Result,
    RetryBackend, RetryPolicy, RetryReport,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to reach a backend: restic's `-o key=value` extended options,
/// `--cacert`, `--tls-client-cert`, and Cairn's timeouts.
#[derive(Clone, Debug)]
pub struct BackendOptions {
    /// Extended options (`rest.connections=8`), keys lowercase, parsed
    /// by [`BackendOptions::set_extended`].
    pub extended: Vec<(String, String)>,
    /// PEM files with the only root certificates to trust (`--cacert`);
    /// empty means the system's and Mozilla's roots.
    pub cacerts: Vec<PathBuf>,
    /// A PEM file with a TLS client certificate and its private key
    /// (`--tls-client-cert`).
    pub tls_client_cert: Option<PathBuf>,
    /// How long to wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Longest time one request may take in total; `None` for no limit
    /// (packs may be large and links slow).
    pub request_timeout: Option<Duration>,
    /// Accept any TLS certificate (`--insecure-tls`).
    pub insecure_tls: bool,
    /// Upload limit in bytes per second (`--limit-upload`, given in KiB/s).
    pub limit_upload: Option<u64>,
    /// Download limit in bytes per second (`--limit-download`, in KiB/s).
    pub limit_download: Option<u64>,
    /// The `User-Agent` of HTTP requests (`--http-user-agent`); `None`
    /// for Cairn's own.
    pub user_agent: Option<String>,
    /// A request that neither sends nor receives anything for this long is
    /// given up (and retried), as restic's `--stuck-request-timeout`
    /// (default 5 minutes); `None` for no such limit.
    pub stuck_request_timeout: Option<Duration>,
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions {
            extended: Vec::new(),
            cacerts: Vec::new(),
            tls_client_cert: None,
            connect_timeout: Duration::from_secs(30),
            request_timeout: None,
            insecure_tls: false,
            limit_upload: None,
            limit_download: None,
            user_agent: None,
            stuck_request_timeout: Some(DEFAULT_STUCK_REQUEST_TIMEOUT),
        }
    }
}

impl BackendOptions {
    /// Adds `-o` values as restic reads them: `key=value` with the key
    /// lowercased and both sides trimmed; no `=` means an empty value; an
    /// empty key, or one given twice with different values, is an error.
    pub fn set_extended<S: AsRef<str>>(&mut self, items: &[S]) -> Result<()> {
        for item in items {
            let (key, value) = item.as_ref().split_once('=').unwrap_or((item.as_ref(), ""));
            let key = key.trim().to_lowercase();
            let value = value.trim().to_string();
            if key.is_empty() {
                return Err(BackendError::InvalidOption(
                    "empty key is not a valid option".into(),
                ));
            }
            match self.extended.iter().find(|(k, _)| *k == key) {
                Some((_, v)) if *v != value => {
                    return Err(BackendError::InvalidOption(format!(
                        "key {key:?} present more than once"
                    )))
                }
                Some(_) => {}
                None => self.extended.push((key, value)),
            }
        }
        Ok(())
    }

    /// The options of one namespace (`rest`), without the prefix.
    pub(crate) fn namespace(&self, ns: &str) -> Vec<(&str, &str)> {
        self.extended
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(ns)
                    .and_then(|k| k.strip_prefix('.'))
                    .map(|k| (k, v.as_str()))
            })
            .collect()
    }

    /// The connection limit for `scheme` from `-o SCHEME.connections=N`,
    /// checking that every option of that namespace is known (restic:
    /// "option rest.foo is not known"). Options of other backends are
    /// ignored, as restic does.
    pub fn connections(&self, scheme: &str) -> Result<Option<usize>> {
        let mut connections = None;
        for (key, value) in self.namespace(scheme) {
            match key {
                "connections" => {
                    let n: usize = value.parse().map_err(|_| {
                        BackendError::InvalidOption(format!(
                            "invalid value {value:?} for option {scheme}.connections"
                        ))
                    })?;
                    if n == 0 {
                        return Err(BackendError::InvalidOption(format!(
                            "{scheme}.connections must be at least 1"
                        )));
                    }
                    connections = Some(n);
                }
                _ if is_known_option(scheme, key) => {}
                _ => {
                    return Err(BackendError::InvalidOption(format!(
                        "option {scheme}.{key} is not known"
                    )))
                }
            }
        }
        Ok(connections)
    }
}

/// One extended option (`-o NAMESPACE.NAME=VALUE`) Cairn knows, with the
/// help text `cairn options` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedOption {
    /// The backend scheme the option belongs to (`s3`).
    pub namespace: &'static str,
    /// The option's name inside its namespace (`region`).
    pub name: &'static str,
    /// One line saying what the option does.
    pub help: &'static str,
}

const fn opt(namespace: &'static str, name: &'static str, help: &'static str) -> ExtendedOption {
    ExtendedOption {
        namespace,
        name,
        help,
    }
}

const CONNECTIONS: &str = "set a limit for the number of concurrent connections (default: 5)";

/// Every extended option a backend accepts, sorted by namespace, then
/// name: the one list both `-o` validation and `cairn options` use. An
/// option of a namespace that is not the repository's is ignored, as
/// restic does.
pub const EXTENDED_OPTIONS: &[ExtendedOption] = &[
    opt("azure", "connections", CONNECTIONS),
    opt("b2", "connections", CONNECTIONS),
    opt("gs", "connections", CONNECTIONS),
    opt(
        "local",
        "connections",
        "set a limit for the number of concurrent operations (default: no limit)",
    ),
    opt("nfs", "connections", CONNECTIONS),
    opt("nfs", "gid", "group id sent with every call (default: the effective gid)"),
    opt(
        "nfs",
        "mountport",
        "port of the MOUNT service (default: the URL's port, else the portmapper's answer)",
    ),
    opt(
        "nfs",
        "privport",
        "connect from a port below 1024 (default: true when running as root)",
    ),
    opt("nfs", "timeout", "seconds to wait for one answer (default: 60)"),
    opt("nfs", "uid", "user id sent with every call (default: the effective uid)"),
    opt(
        "rclone",
        "args",
        "arguments for running rclone (default: serve restic --stdio --b2-hard-delete)",
    ),
    opt("rclone", "connections", CONNECTIONS),
    opt("rclone", "program", "path to rclone (default: rclone)"),
    opt(
        "rclone",
        "timeout",
        "set a timeout limit to wait for rclone to establish a connection (default: 1m)",
    ),
    opt("rest", "connections", CONNECTIONS),
    opt("s3", "bucket-lookup", "bucket lookup style: 'auto', 'dns', or 'path'"),
    opt("s3", "connections", CONNECTIONS),
    opt(
        "s3",
        "layout",
        "use this backend layout (only \"default\" is supported) (deprecated)",
    ),
    opt("s3", "list-objects-v1", "use deprecated V1 api for ListObjects calls"),
    opt("s3", "region", "set region"),
    opt(
        "s3",
        "retries",
        "set the number of retries attempted (accepted, no effect: Cairn's retry policy applies)",
    ),
    opt(
        "s3",
        "storage-class",
        "set S3 storage class (STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING or REDUCED_REDUNDANCY)",
    ),
    opt("sftp", "args", "specify arguments for ssh"),
    opt("sftp", "command", "specify command to create sftp connection"),
    opt("sftp", "connections", CONNECTIONS),
    opt("swift", "connections", CONNECTIONS),
];

/// True if `-o NAMESPACE.NAME` is an option Cairn knows.
pub fn is_known_option(namespace: &str, name: &str) -> bool {
    EXTENDED_OPTIONS
        .iter()
        .any(|o| o.namespace == namespace && o.name == name)
}

/// Default longest time for one request, body included. Packs are a few
/// MiB, so this allows for slow links yet ends a request that hangs.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// restic's default `--stuck-request-timeout`.
pub const DEFAULT_STUCK_REQUEST_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The `User-Agent` Cairn sends unless told otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("cairn/", env!("CARGO_PKG_VERSION"));

impl BackendOptions {
    /// The `User-Agent` header to send.
    pub fn user_agent(&self) -> &str {
        self.user_agent.as_deref().unwrap_or(DEFAULT_USER_AGENT)
    }
}

/// restic's default number of concurrent connections for network backends.
pub const DEFAULT_CONNECTIONS: usize = 5;

/// The Cargo feature that adds the backend of `scheme` (as
/// [`Location::scheme`] names it): `None` for local folders, which are
/// always there.
pub fn feature_for_scheme(scheme: &str) -> Option<&'static str> {
    match scheme {
        "rest" => Some("rest"),
        "s3" => Some("s3"),
        "azure" | "b2" | "gs" | "swift" => Some("cloud"),
        "sftp" => Some("sftp"),
        "rclone" => Some("rclone"),
        "nfs" => Some("nfs"),
        _ => None,
    }
}

/// The error for a location whose backend this build leaves out.
#[allow(dead_code)] // every backend compiled in: nothing is left out
fn not_compiled(location: &Location) -> BackendError {
    let scheme = location.scheme();
    BackendError::NotCompiled {
        scheme: scheme.to_string(),
        feature: feature_for_scheme(scheme).unwrap_or("default"),
    }
}

/// Opens the store a location names, without wrappers. Local folders,
/// rest-servers, NFS exports, S3, Azure, B2, GCS, Swift, SFTP (through
/// ssh) and rclone: every scheme restic knows. A scheme whose Cargo
/// feature is off fails with [`BackendError::NotCompiled`].
pub fn open(location: &Location, opts: &BackendOptions) -> Result<Arc<dyn Backend>> {
    match location {
        Location::Local { path } => {
            opts.connections("local")?;
            Ok(Arc::new(LocalBackend::new(path)))
        }
        #[cfg(feature = "rest")]
        Location::Rest(rest) => {
            let n = opts.connections("rest")?.unwrap_or(DEFAULT_CONNECTIONS);
            Ok(Arc::new(crate::RestBackend::new(rest, opts, n)?))
        }
        #[cfg(feature = "sftp")]
        Location::Sftp {
            user,
            host,
            port,
            path,
        } => {
            opts.connections("sftp")?;
            let cfg = crate::sftp::SftpConfig::from_options(opts);
            let argv = crate::sftp::ssh_command(&cfg, user.as_deref(), host, port.as_deref())?;
            let display = location.to_string();
            Ok(Arc::new(crate::SftpBackend::connect(
                &argv, display, path, opts,
            )?))
        }
        #[cfg(feature = "rclone")]
        Location::Rclone { remote } => {
            opts.connections("rclone")?;
            Ok(Arc::new(crate::rclone::open_rclone(remote, opts)?))
        }
        #[cfg(feature = "nfs")]
        Location::Nfs { server, port, path } => {
            Ok(Arc::new(crate::NfsBackend::new(server, *port, path, opts)?))
        }
        #[cfg(feature = "s3")]
        Location::S3 { .. } => Ok(Arc::new(crate::ObjectStoreBackend::open(location, opts)?)),
        #[cfg(feature = "cloud")]
        Location::Azure { .. }
        | Location::B2 { .. }
        | Location::Gs { .. }
        | Location::Swift { .. } => Ok(Arc::new(crate::ObjectStoreBackend::open(location, opts)?)),
        #[allow(unreachable_patterns)] // with every feature on
        _ => Err(not_compiled(location)),
    }
}

/// [`open`], then limits bandwidth (`limit_upload`, `limit_download`) and
/// concurrency (network backends to `SCHEME.connections`, default 5; local
/// folders only when the option is given) and retries transient failures
/// with `policy`, calling `report` before each retry.
pub fn open_wrapped(
    location: &Location,
    opts: &BackendOptions,
    policy: RetryPolicy,
    report: Option<RetryReport>,
) -> Result<Arc<dyn Backend>> {
    let mut backend = open(location, opts)?;
    if opts.limit_upload.is_some() || opts.limit_download.is_some() {
        backend = Arc::new(RateLimitBackend::new(
            backend,
            opts.limit_upload,
            opts.limit_download,
        ));
    }
    let limit = match location {
        Location::Local { .. } => opts.connections("local")?,
        #[cfg(feature = "nfs")]
        Location::Nfs { .. } => Some(crate::NfsOptions::from_backend_options(opts)?.connections),
        other => Some(
            opts.connections(other.scheme())?
                .unwrap_or(DEFAULT_CONNECTIONS),
        ),
    };
    if let Some(n) = limit {
        backend = Arc::new(LimitBackend::new(backend, n));
    }
    let mut retry = RetryBackend::new(backend, policy);
    if let Some(report) = report {
        retry = retry.with_report(report);
    }
    Ok(Arc::new(retry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_options_follow_restics_rules() {
        let mut o = BackendOptions::default();
        o.set_extended(&[" Rest.Connections = 8 ", "s3.region=x", "flag"])
            .unwrap();
        assert_eq!(o.connections("rest").unwrap(), Some(8));
        assert_eq!(o.connections("local").unwrap(), None);
        o.set_extended(&["rest.connections=8"]).unwrap();
        assert!(o.set_extended(&["rest.connections=9"]).is_err());
        assert!(o.set_extended(&["=1"]).is_err());
        let mut o = BackendOptions::default();
        o.set_extended(&["rest.bogus=1"]).unwrap();
        assert_eq!(
            o.connections("rest").unwrap_err().to_string(),
            "option rest.bogus is not known"
        );
        let mut o = BackendOptions::default();
        o.set_extended(&["rest.connections=0"]).unwrap();
        assert!(o.connections("rest").is_err());
    }

    /// A value each listed option takes.
    fn sample_value(o: &ExtendedOption) -> &'static str {
        match o.name {
            "connections" | "uid" | "gid" | "timeout" | "mountport" | "retries" => "3",
            "privport" | "list-objects-v1" => "false",
            "layout" => "default",
            "bucket-lookup" => "path",
            _ => "x",
        }
    }

    /// Checks the options of `namespace` as opening its backend does.
    fn validate(namespace: &str, opts: &BackendOptions) -> Result<()> {
        #[cfg(feature = "nfs")]
        if namespace == "nfs" {
            return crate::NfsOptions::from_backend_options(opts).map(|_| ());
        }
        opts.connections(namespace).map(|_| ())
    }

    #[test]
    fn every_listed_option_is_accepted_and_no_other() {
        let sorted = EXTENDED_OPTIONS
            .windows(2)
            .all(|w| (w[0].namespace, w[0].name) < (w[1].namespace, w[1].name));
        assert!(sorted, "EXTENDED_OPTIONS must be sorted and unique");
        for o in EXTENDED_OPTIONS {
            if o.namespace == "nfs" && !cfg!(feature = "nfs") {
                continue;
            }
            let mut opts = BackendOptions::default();
            let item = format!("{}.{}={}", o.namespace, o.name, sample_value(o));
            opts.set_extended(&[item.as_str()]).unwrap();
            validate(o.namespace, &opts).unwrap_or_else(|e| panic!("{item}: {e}"));
            let mut opts = BackendOptions::default();
            opts.set_extended(&[format!("{}.unlisted=1", o.namespace)])
                .unwrap();
            let err = validate(o.namespace, &opts).unwrap_err().to_string();
            assert_eq!(err, format!("option {}.unlisted is not known", o.namespace));
        }
    }

    #[test]
    fn schemes_left_out_of_the_build_fail_naming_their_feature() {
        let compiled = |feature| match feature {
            "rest" => cfg!(feature = "rest"),
            "s3" => cfg!(feature = "s3"),
            "cloud" => cfg!(feature = "cloud"),
            "sftp" => cfg!(feature = "sftp"),
            "rclone" => cfg!(feature = "rclone"),
            "nfs" => cfg!(feature = "nfs"),
            _ => unreachable!(),
        };
        let cases = [
            ("rest:http://127.0.0.1:1/", "rest"),
            ("s3:127.0.0.1:1/bucket/repo", "s3"),
            ("b2:bucket:repo", "cloud"),
            ("azure:container:/repo", "cloud"),
            ("sftp:host:/repo", "sftp"),
            ("rclone:remote:repo", "rclone"),
            ("nfs://127.0.0.1:1/export/repo", "nfs"),
        ];
        for (repo, feature) in cases {
            let loc = Location::parse_with_env(repo, |_| None).unwrap();
            assert_eq!(feature_for_scheme(loc.scheme()), Some(feature), "{repo}");
            if compiled(feature) {
                continue;
            }
            let err = open(&loc, &BackendOptions::default()).err().expect(repo);
            assert!(
                matches!(err, BackendError::NotCompiled { .. }),
                "{repo}: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "the {} backend is not compiled in: build with the Cargo feature `{feature}`",
                    loc.scheme()
                )
            );
        }
        assert_eq!(feature_for_scheme("local"), None);
    }

    #[test]
    fn local_folders_open_with_every_wrapper() {
        let o = BackendOptions::default();
        let dir = tempfile::tempdir().unwrap();
        let l = Location::parse(dir.path().to_str().unwrap()).unwrap();
        let be = open_wrapped(&l, &o, RetryPolicy::default(), None).unwrap();
        be.create().unwrap();
        assert_eq!(be.location(), format!("local:{}", dir.path().display()));
    }
}
