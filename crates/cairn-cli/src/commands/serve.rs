//! `cairn serve`: a drop-in for restic's rest-server.

use crate::global::GlobalOptions;
use anyhow::Result;
use std::path::PathBuf;

/// rest-server's flags.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Data directory
    #[arg(long, value_name = "DIR", default_value_os_t = std::env::temp_dir().join("restic"))]
    pub path: PathBuf,
    /// Listen address
    #[arg(long, value_name = "ADDR", default_value = ":8000")]
    pub listen: String,
    /// Enable append only mode
    #[arg(long)]
    pub append_only: bool,
    /// Users can only access their private repo
    #[arg(long)]
    pub private_repos: bool,
    /// Location of .htpasswd file (default: "DATA_DIRECTORY/.htpasswd")
    #[arg(long, value_name = "FILE")]
    pub htpasswd_file: Option<PathBuf>,
    /// Disable .htpasswd authentication
    #[arg(long)]
    pub no_auth: bool,
    /// Specifies the HTTP header containing the username for proxy-based authentication
    #[arg(long, value_name = "HEADER")]
    pub proxy_auth_username: Option<String>,
    /// Turn on TLS support
    #[arg(long)]
    pub tls: bool,
    /// TLS certificate path (default: "DATA_DIRECTORY/public_key")
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS key path (default: "DATA_DIRECTORY/private_key")
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// TLS min version, one of (1.2|1.3)
    #[arg(long = "tls-min-ver", value_name = "VERSION", default_value = "1.2")]
    pub tls_min_ver: cairn_server::TlsMinVersion,
    /// The maximum size of the repository in bytes
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<u64>,
    /// Enable Prometheus metrics
    #[arg(long)]
    pub prometheus: bool,
    /// Disable auth for Prometheus /metrics endpoint
    #[arg(long)]
    pub prometheus_no_auth: bool,
    /// Write HTTP requests in the combined log format to the specified filename (use "-" for logging to stdout)
    #[arg(long, value_name = "FILENAME")]
    pub log: Option<String>,
    /// Output debug messages
    #[arg(long)]
    pub debug: bool,
    /// Do not verify the integrity of uploaded data. DO NOT enable unless the server runs on a very low-power device
    #[arg(long)]
    pub no_verify_upload: bool,
    /// Let filesystem group be able to access repo files
    #[arg(long)]
    pub group_accessible_repos: bool,
}

/// Builds the server configuration and serves until interrupted.
pub fn run(_global: &GlobalOptions, args: Args) -> Result<()> {
    let mut config = cairn_server::ServerConfig::with_path(args.path);
    config.listen = args.listen;
    config.append_only = args.append_only;
    config.private_repos = args.private_repos;
    config.htpasswd_file = args.htpasswd_file;
    config.no_auth = args.no_auth;
    config.proxy_auth_username = args.proxy_auth_username;
    config.tls = args.tls;
    config.tls_cert = args.tls_cert;
    config.tls_key = args.tls_key;
    config.tls_min_version = args.tls_min_ver;
    config.max_size = args.max_size;
    config.prometheus = args.prometheus;
    config.prometheus_no_auth = args.prometheus_no_auth;
    config.log = args.log;
    config.debug = args.debug;
    config.no_verify_upload = args.no_verify_upload;
    config.group_accessible_repos = args.group_accessible_repos;
    cairn_server::serve(config)?;
    Ok(())
}
