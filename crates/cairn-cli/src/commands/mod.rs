//! One module per command: argument parsing and printing only.

pub mod backup;
pub mod cache;
pub mod cat;
pub mod check;
pub mod copy;
pub mod diff;
pub mod dump;
pub mod features;
pub mod find;
pub mod forget;
pub mod generate;
pub mod init;
pub mod key;
pub mod list;
pub mod ls;
pub mod migrate;
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

use cairn::SnapshotFilter;

/// restic's snapshot filter flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only consider snapshots for this host (can be specified multiple times)
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
    /// The library filter these flags describe.
    pub fn filter(&self) -> SnapshotFilter {
        SnapshotFilter {
            hosts: self.hosts.clone(),
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

/// The snapshots a command works on: those named (IDs, prefixes or
/// `latest`, each resolved with the filter), or else every snapshot that
/// passes the filter, with load problems reported as warnings. Callers sort
/// as they need.
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
    ids.iter()
        .map(|id| Ok(repo.find_snapshot(id, filter)?))
        .collect()
}
