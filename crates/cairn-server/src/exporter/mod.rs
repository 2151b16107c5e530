//! `cairn exporter`: Prometheus metrics about repositories, served on
//! `/metrics`.
//!
//! Each scrape refreshes every repository whose figures are older than
//! the interval: the snapshot list is read incrementally
//! ([`cairn::monitor::SnapshotCatalog`]) and packs and locks are counted
//! from listings ([`cairn::Repository::status`]); no lock is taken. A
//! repository that cannot be read is reported with
//! `cairn_repository_up 0` and its error is logged; the others are
//! unaffected.

mod config;
mod http;
mod render;
mod state;

pub use config::{parse_config, LocationSpec, PasswordSpec, RepositoryEntry};
pub use http::Exporter;

use std::time::Duration;

/// Opens one repository (resolving its password); the error must not
/// contain secrets.
pub type Opener = Box<dyn Fn() -> Result<cairn::Repository, String> + Send>;

/// A repository to export.
pub struct Target {
    /// The `repository` label: a configured name or the location without
    /// secrets (see [`location_label`]).
    pub label: String,
    /// Opens the repository; called again after any failed refresh.
    pub open: Opener,
    /// Strings masked as `***` in logged errors (e.g. a URL password).
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("label", &self.label)
            .finish()
    }
}

/// How the exporter listens and how fresh its figures are.
#[derive(Debug, Clone)]
pub struct ExporterOptions {
    /// `host:port` to listen on (`:PORT` for every interface).
    pub listen: String,
    /// A scrape re-reads a repository whose figures are at least this old.
    pub interval: Duration,
}

/// The label for a repository location, and the password it removed (to
/// mask in logs), if any. The label is [`cairn::metrics::redact_location`]'s
/// form, the one `--metrics-file` writes, so that the exporter's series and
/// a metrics file's series for one repository carry the same `repository`
/// label (alert rules can join them).
pub fn location_label(location: &str) -> (String, Option<String>) {
    let label = cairn::metrics::redact_location(location);
    if label == location {
        return (label, None);
    }
    let secret = location
        .split_once("://")
        .and_then(|(_, after)| {
            let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
            authority.rsplit_once('@')
        })
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password.to_string());
    (label, secret)
}

/// Serves `/metrics` on its own runtime until SIGINT or SIGTERM; the
/// blocking entry point of `cairn exporter`.
pub fn serve_exporter(options: ExporterOptions, targets: Vec<Target>) -> Result<(), crate::Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::Error::io("starting the async runtime", e))?;
    runtime.block_on(async {
        let exporter = Exporter::bind(options, targets).await?;
        eprintln!(
            "cairn exporter: serving metrics on http://{}/metrics",
            exporter.local_addr()
        );
        exporter.run_until(crate::shutdown_signal()).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_hides_url_passwords() {
        assert_eq!(location_label("/srv/repo"), ("/srv/repo".into(), None));
        let (label, secret) = location_label("rest:https://user:s3cr%40t@host:8000/repo/");
        assert!(!label.contains("s3cr"), "{label}");
        assert_eq!(secret.as_deref(), Some("s3cr%40t"));
        assert_eq!(label, "rest:https://user@host:8000/repo/");
        assert_eq!(
            label,
            cairn::metrics::redact_location("rest:https://user:s3cr%40t@host:8000/repo/")
        );
    }
}
