//! `cairn exporter`: serves Prometheus metrics about one or more
//! repositories on `/metrics` (see `cairn_server::exporter`).

use crate::global::{open_backend_with, GlobalOptions};
use crate::password::PasswordSource;
use anyhow::{bail, Context, Result};
use cairn_server::exporter::{
    location_label, parse_config, ExporterOptions, LocationSpec, PasswordSpec, Target,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The exporter's flags.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to serve /metrics on (host:port, or :port for every interface)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9470")]
    pub listen: String,
    /// JSON file listing the repositories to export, each with its password source (default: the repository of -r/--repo)
    #[arg(long, value_name = "FILE")]
    pub repo_config: Option<PathBuf>,
    /// Re-read a repository on scrape when its figures are at least this old
    #[arg(long, value_name = "DURATION", default_value = "1m0s", value_parser = cairn::lock::parse_go_duration)]
    pub interval: Duration,
}

/// Builds the repository list and serves until interrupted.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let targets = match &args.repo_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("unable to read {}", path.display()))?;
            let mut targets = Vec::new();
            for entry in parse_config(&text)? {
                let location = match entry.location {
                    LocationSpec::Location(l) => l,
                    LocationSpec::File(f) => read_location_file(&f)?,
                };
                targets.push(target(
                    global,
                    entry.name,
                    location,
                    Password::Spec(entry.password),
                )?);
            }
            targets
        }
        None => {
            let location = global.location()?;
            // Asked once, at start, as any command asks it.
            let password = global.password()?;
            vec![target(global, None, location, Password::Given(password))?]
        }
    };
    let options = ExporterOptions {
        listen: args.listen,
        interval: args.interval,
    };
    cairn_server::exporter::serve_exporter(options, targets)?;
    Ok(())
}

/// A repository's password: resolved at each opening, or given once.
enum Password {
    Spec(PasswordSpec),
    Given(String),
}

impl Password {
    fn resolve(&self) -> Result<String> {
        let (file, command, env_var) = match self {
            Password::Given(p) => return Ok(p.clone()),
            Password::Spec(PasswordSpec::File(f)) => (Some(f.as_path()), None, ""),
            Password::Spec(PasswordSpec::Command(c)) => (None, Some(c.as_str()), ""),
            Password::Spec(PasswordSpec::Env(v)) => (None, None, v.as_str()),
        };
        let source = PasswordSource {
            file,
            command,
            env_var,
            insecure_no_password: false,
            insecure_flag: "--insecure-no-password",
        };
        let password = source.resolve()?;
        if password.is_empty() {
            bail!("no password: the password source gave an empty one");
        }
        Ok(password)
    }
}

/// `--repository-file`'s reading: the first line, not empty.
fn read_location_file(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("unable to read repository file {}", path.display()))?;
    let location = text.trim_end_matches(['\n', '\r']).to_string();
    if location.is_empty() {
        bail!("repository file {} is empty", path.display());
    }
    Ok(location)
}

fn target(
    global: &GlobalOptions,
    name: Option<String>,
    location: String,
    password: Password,
) -> Result<Target> {
    let (stripped, secret) = location_label(&location);
    let options = Arc::new(global.backend_options()?);
    let key_hint = global.key_hint.clone();
    let open = move || -> Result<cairn::Repository, String> {
        let opened = (|| -> Result<cairn::Repository> {
            let backend = open_backend_with(&location, &options)?;
            let password = password.resolve()?;
            Ok(cairn::Repository::open_with_key_hint(
                backend,
                &password,
                key_hint.as_deref(),
            )?)
        })();
        opened.map_err(|e| format!("{e:#}"))
    };
    Ok(Target {
        label: name.unwrap_or(stripped),
        open: Box::new(open),
        secrets: secret.into_iter().collect(),
    })
}
