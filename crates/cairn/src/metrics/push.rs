//! Pushing a run's metrics to a Prometheus Pushgateway.
//!
//! The group is `job="cairn"` plus the run's identity labels (command,
//! repository, host, and for backups paths and tags): a PUT replaces the
//! previous push of the same run identity and nothing else, as the
//! metrics file does. Label values go base64url-encoded (`name@base64/`),
//! so repository locations with `/` are safe in the URL path.

use super::{CommandRun, MetricSet};
use crate::{Error, Result};
use base64::Engine;
use std::time::Duration;

/// The Pushgateway job label of every push.
pub const PUSH_JOB: &str = "cairn";

/// How long a push may take in all (connect, send, answer).
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL a run's metrics are pushed to under `base`
/// (`http://host:9091`): `base/metrics/job/cairn/command@base64/…/…`.
pub fn pushgateway_url(base: &str, run: &CommandRun) -> String {
    let mut url = base.trim_end_matches('/').to_string();
    url.push_str("/metrics/job/");
    url.push_str(PUSH_JOB);
    for (name, value) in &run.identity {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value);
        // An empty value is written `=` (the Pushgateway's convention).
        let encoded = if encoded.is_empty() {
            "=".to_string()
        } else {
            encoded
        };
        url.push_str(&format!("/{name}@base64/{encoded}"));
    }
    url
}

/// PUTs `metrics` (the run's series, see [`CommandRun::to_metrics`]) to
/// the Pushgateway at `base` within [`PUSH_TIMEOUT`]. User and password
/// in `base` are sent as basic authentication; errors never name the URL
/// (it may hold them).
pub fn push_to_gateway(base: &str, run: &CommandRun, metrics: &MetricSet) -> Result<()> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::InvalidArgument(format!("metrics push failed: {what}{e}"))
    };
    let mut url = reqwest::Url::parse(&pushgateway_url(base, run))
        .map_err(|e| fail("invalid Pushgateway URL: ", &e))?;
    let user = url.username().to_string();
    let password = url.password().map(str::to_string);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let client = reqwest::blocking::Client::builder()
        .timeout(PUSH_TIMEOUT)
        .connect_timeout(PUSH_TIMEOUT)
        .build()
        .map_err(|e| fail("", &e.without_url()))?;
    let mut request = client
        .put(url)
        .header("Content-Type", "text/plain; version=0.0.4")
        .body(metrics.render());
    if !user.is_empty() || password.is_some() {
        request = request.basic_auth(user, password);
    }
    let response = request.send().map_err(|e| fail("", &e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        return Err(fail(
            "",
            &format!("Pushgateway answered {status}: {}", body.trim()),
        ));
    }
    Ok(())
}
