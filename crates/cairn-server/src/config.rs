//! Server settings, one field per rest-server flag.

use std::path::PathBuf;

/// The lowest TLS protocol version the server accepts (`--tls-min-ver`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMinVersion {
    /// TLS 1.2 and 1.3 (rest-server's default).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl std::str::FromStr for TlsMinVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.2" => Ok(TlsMinVersion::Tls12),
            "1.3" => Ok(TlsMinVersion::Tls13),
            other => Err(format!(
                "unsupported TLS min version: {other}. Allowed versions are 1.2 or 1.3"
            )),
        }
    }
}

/// Everything `cairn serve` can be told. Build it with
/// [`ServerConfig::default`] (rest-server's defaults) and set fields.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Data directory holding the repositories (`--path`).
    pub path: PathBuf,
    /// Listen address (`--listen`); `:PORT` means every interface.
    pub listen: String,
    /// Refuse deletes (except locks) and overwrites (`--append-only`).
    pub append_only: bool,
    /// Users may only use repositories under `/{username}/`
    /// (`--private-repos`).
    pub private_repos: bool,
    /// htpasswd file; `None` means `<path>/.htpasswd` (`--htpasswd-file`).
    pub htpasswd_file: Option<PathBuf>,
    /// Disable authentication (`--no-auth`).
    pub no_auth: bool,
    /// Trust this request header as the user name instead of Basic
    /// authentication (`--proxy-auth-username`).
    pub proxy_auth_username: Option<String>,
    /// Serve HTTPS (`--tls`).
    pub tls: bool,
    /// Certificate chain (PEM); `None` means `<path>/public_key`.
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM); `None` means `<path>/private_key`.
    pub tls_key: Option<PathBuf>,
    /// Lowest accepted TLS version (`--tls-min-ver`).
    pub tls_min_version: TlsMinVersion,
    /// Maximum total size in bytes of everything under `path`
    /// (`--max-size`); `None` or 0 means unlimited.
    pub max_size: Option<u64>,
    /// Serve Prometheus metrics at `/metrics` (`--prometheus`).
    pub prometheus: bool,
    /// `/metrics` needs no authentication (`--prometheus-no-auth`).
    pub prometheus_no_auth: bool,
    /// Write an access log in the combined log format to this file, or to
    /// standard output for `-` (`--log`).
    pub log: Option<String>,
    /// Print every request (method and path) to standard error (`--debug`).
    pub debug: bool,
    /// Skip the SHA-256 check of uploads (`--no-verify-upload`).
    pub no_verify_upload: bool,
    /// Create folders 0770 and files 0660 instead of 0700 / 0600
    /// (`--group-accessible-repos`).
    pub group_accessible_repos: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            path: std::env::temp_dir().join("restic"),
            listen: ":8000".to_string(),
            append_only: false,
            private_repos: false,
            htpasswd_file: None,
            no_auth: false,
            proxy_auth_username: None,
            tls: false,
            tls_cert: None,
            tls_key: None,
            tls_min_version: TlsMinVersion::default(),
            max_size: None,
            prometheus: false,
            prometheus_no_auth: false,
            log: None,
            debug: false,
            no_verify_upload: false,
            group_accessible_repos: false,
        }
    }
}

impl ServerConfig {
    /// rest-server's defaults with another data directory.
    pub fn with_path(path: impl Into<PathBuf>) -> Self {
        ServerConfig {
            path: path.into(),
            ..ServerConfig::default()
        }
    }

    /// The htpasswd file actually used.
    pub fn htpasswd_path(&self) -> PathBuf {
        self.htpasswd_file
            .clone()
            .unwrap_or_else(|| self.path.join(".htpasswd"))
    }

    /// Directory and file permission bits for new entries.
    pub(crate) fn modes(&self) -> (u32, u32) {
        if self.group_accessible_repos {
            (0o770, 0o660)
        } else {
            (0o700, 0o600)
        }
    }

    /// The quota, if one is set.
    pub(crate) fn quota(&self) -> Option<u64> {
        self.max_size.filter(|&m| m > 0)
    }
}
