//! One module per command: argument parsing and printing only.

pub mod backup;
pub mod cache;
pub mod cat;
pub mod check;
pub mod copy;
pub mod diff;
pub mod dump;
pub mod exporter;
pub mod features;
pub mod find;
pub mod forget;
pub mod generate;
pub mod init;
pub mod key;
pub mod list;
pub mod ls;
pub mod migrate;
pub mod mount;
pub mod options;
pub mod prune;
pub mod recover;
pub mod repair;
pub mod restore;
pub mod rewrite;
pub mod serve;
pub mod snapshots;
pub mod stats;
pub mod tag;
pub mod unlock;
pub mod version;

use cairn::forget::GroupBy;
use cairn::SnapshotFilter;

/// restic's snapshot filter flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only consider snapshots for this host (can be specified multiple times, use empty string to unset default value)
    #[arg(short = 'H', long = "host", env = "RESTIC_HOST")]
    pub hosts: Vec<String>,
    /// Only consider snapshots including tag[,tag,...] (can be specified multiple times)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only consider snapshots including this (absolute) path (can be specified multiple times)
    #[arg(long = "path")]
    pub paths: Vec<String>,
}

impl FilterArgs {
    /// The library filter these flags describe. A single empty `--host ""`
    /// means every host (it overrides `RESTIC_HOST`), as in restic 0.19.
    pub fn filter(&self) -> SnapshotFilter {
        let hosts = if self.hosts.len() == 1 && self.hosts[0].is_empty() {
            Vec::new()
        } else {
            self.hosts.clone()
        };
        SnapshotFilter {
            hosts,
            tags: self
                .tags
                .iter()
                .map(|t| SnapshotFilter::parse_tag_list(t))
                .collect(),
            paths: self.paths.clone(),
        }
    }
}

/// The pack writing options `--compression` and `--pack-size` describe.
pub fn write_options(
    global: &crate::global::GlobalOptions,
) -> anyhow::Result<cairn::write::WriteOptions> {
    let mut write = cairn::write::WriteOptions {
        compression: global.compression.parse()?,
        ..Default::default()
    };
    if let Some(mib) = global.pack_size {
        write.pack_size = u64::from(mib) << 20;
    }
    Ok(write)
}

/// Splits restic's `snapshot:subfolder` syntax.
pub fn split_snapshot_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((id, sub)) => (id, Some(sub)),
        None => (spec, None),
    }
}

/// Parses restic's `--group-by` value (`host`, `paths`, `tags`, comma
/// separated, `""` for no grouping), for clap.
pub fn parse_group_by(s: &str) -> Result<GroupBy, String> {
    GroupBy::parse(s).map_err(|e| e.to_string())
}

/// The snapshots a command works on, as restic 0.19's
/// `FindFilteredSnapshots` yields them: without IDs, every snapshot that
/// passes the filter (load problems reported as warnings); with IDs, each
/// one resolved in order (`latest` through the filter, once; others as IDs
/// or unique prefixes, duplicates dropped), and every one that cannot be
/// resolved reported on standard error as `Ignoring "ID": reason` and
/// skipped. Filters next to explicit IDs (without `latest`) are reported as
/// ignored. Callers sort as they need.
pub fn select_snapshots(
    repo: &cairn::Repository,
    ids: &[String],
    filter: &SnapshotFilter,
) -> anyhow::Result<Vec<cairn::StoredSnapshot>> {
    if ids.is_empty() {
        let (snaps, problems) = repo.snapshots()?;
        for p in problems {
            eprintln!("Warning: {p}");
        }
        return Ok(snaps
            .into_iter()
            .filter(|s| filter.matches(&s.snapshot))
            .collect());
    }
    let mut found: Vec<cairn::StoredSnapshot> = Vec::new();
    let mut used_filter = false;
    for spec in ids {
        let result = if spec == "latest" {
            if used_filter {
                continue;
            }
            used_filter = true;
            repo.find_snapshot(spec, filter)
        } else if spec.starts_with("latest:") {
            Err(snapshot_syntax_error())
        } else {
            let (id, sub) = split_snapshot_spec(spec);
            match repo.find_snapshot(id, &SnapshotFilter::default()) {
                Ok(_) if sub.is_some() => Err(snapshot_syntax_error()),
                Ok(s) if found.iter().any(|f| f.id == s.id) => continue,
                other => other,
            }
        };
        match result {
            Ok(s) => found.push(s),
            Err(cairn::Error::Interrupted) => return Err(cairn::Error::Interrupted.into()),
            Err(e) => warn_ignored(spec, &e, filter),
        }
    }
    warn_filters_ignored(ids, filter);
    Ok(found)
}

/// restic's error for `ID:subfolder` where a whole snapshot is wanted.
fn snapshot_syntax_error() -> cairn::Error {
    cairn::Error::InvalidArgument("<snapshot>:<subfolder> syntax not allowed".into())
}

/// Why restic 0.19 skips an explicit snapshot argument, as it prints it:
/// `Ignoring "ID": reason`.
pub fn ignored_message(spec: &str, err: &cairn::Error, filter: &SnapshotFilter) -> String {
    let reason = if spec == "latest" {
        no_latest_message(filter)
    } else {
        err.to_string()
    };
    format!("Ignoring {}: {reason}", go_quoted(spec))
}

/// restic's reason when `latest` matches nothing: `no snapshot matched
/// given filter (Paths:[/a /b] Tags:[[x, y]] Hosts:[h])`.
pub fn no_latest_message(filter: &SnapshotFilter) -> String {
    let tags: Vec<String> = filter
        .tags
        .iter()
        .map(|l| format!("[{}]", l.join(", ")))
        .collect();
    format!(
        "no snapshot matched given filter (Paths:[{}] Tags:[{}] Hosts:[{}])",
        filter.paths.join(" "),
        tags.join(" "),
        filter.hosts.join(" ")
    )
}

/// Prints [`ignored_message`] on standard error.
pub fn warn_ignored(spec: &str, err: &cairn::Error, filter: &SnapshotFilter) {
    eprintln!("{}", ignored_message(spec, err, filter));
}

/// restic 0.19's hint that filters do nothing next to explicit IDs
/// (unless `latest` used them).
pub fn warn_filters_ignored(ids: &[String], filter: &SnapshotFilter) {
    if !ids.is_empty() && !ids.iter().any(|i| i == "latest") && *filter != SnapshotFilter::default()
    {
        eprintln!("Ignoring \"filters\": explicit snapshot ids are given");
    }
}

/// Go's `%q` of a string.
pub fn go_quoted(s: &str) -> String {
    format!("\"{}\"", cairn::format::go_quote(s.as_bytes()))
}
