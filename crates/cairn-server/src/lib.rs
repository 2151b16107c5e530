//! A rest-server compatible HTTP server for restic repositories
//! (`cairn serve`).
//!
//! It speaks restic's REST backend protocol (v1 and v2 listings) over HTTP
//! or HTTPS, serves any number of repositories below a data directory
//! (`/`, `/{name}/`, `/{name}/{sub}/`), and stores them exactly like
//! restic's local backend, so the data directory can also be used directly.
//! Options mirror rest-server's flags: htpasswd authentication (bcrypt and
//! `{SHA}` entries), private repositories, append-only mode, a size quota,
//! Prometheus metrics, TLS.
//!
//! Uploads are streamed to a temporary file, checked against their SHA-256
//! name, synced and then linked into place without ever replacing an
//! existing file; interrupted or refused uploads leave nothing behind.
//!
//! ```no_run
//! let mut config = cairn_server::ServerConfig::with_path("/srv/restic");
//! config.listen = "127.0.0.1:8000".into();
//! config.no_auth = true;
//! cairn_server::serve(config).unwrap();
//! ```
#![deny(missing_docs)]

mod access_log;
mod auth;
mod config;
mod error;
pub mod exporter;
mod handler;
mod metrics;
mod range;
mod route;
mod server;
mod space;
mod storage;
mod tls;
mod upload;

pub use config::{ServerConfig, TlsMinVersion};
pub use error::Error;
pub use server::Server;

/// Runs the server on its own runtime until SIGINT or SIGTERM; the
/// blocking entry point of `cairn serve`.
pub fn serve(config: ServerConfig) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))?;
    runtime.block_on(run(config))
}

/// Binds and serves until SIGINT or SIGTERM, printing rest-server's
/// start-up summary to standard error.
pub async fn run(config: ServerConfig) -> Result<(), Error> {
    eprintln!("Data directory: {}", config.path.display());
    eprintln!(
        "Authentication {}",
        if config.no_auth {
            "disabled"
        } else {
            "enabled"
        }
    );
    eprintln!(
        "Append only mode {}",
        if config.append_only {
            "enabled"
        } else {
            "disabled"
        }
    );
    eprintln!(
        "Private repositories {}",
        if config.private_repos {
            "enabled"
        } else {
            "disabled"
        }
    );
    let tls = config.tls;
    let server = Server::bind(config).await?;
    eprintln!(
        "Now listening on {}://{}",
        if tls { "https" } else { "http" },
        server.local_addr()
    );
    server.run_until(shutdown_signal()).await?;
    eprintln!("shutdown cleanly");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
