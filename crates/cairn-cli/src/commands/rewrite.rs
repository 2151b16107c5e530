//! `cairn rewrite`: new snapshots with files left out or new metadata.

use super::prune::verbosity;
use super::{select_snapshots, FilterArgs};
use crate::global::GlobalOptions;
use crate::output::go_time_string;
use anyhow::{Context, Result};
use cairn::format::GoTime;
use cairn::rewrite::{
    RepairNote, RewriteEvent, RewriteOptions, RewriteProgress, RewriteReport, SnapshotRewriter,
};
use cairn::StoredSnapshot;
use std::path::PathBuf;

/// Arguments of `rewrite`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshots to rewrite (default: all matching the filters)
    #[arg(value_name = "snapshotID")]
    pub ids: Vec<String>,
    /// Remove original snapshots after creating new ones
    #[arg(long)]
    pub forget: bool,
    /// Do not do anything, just print what would be done
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Replace hostname
    #[arg(long, value_name = "string")]
    pub new_host: Option<String>,
    /// Replace time of the backup
    #[arg(long, value_name = "string")]
    pub new_time: Option<String>,
    /// Exclude a pattern (can be specified multiple times)
    #[arg(short = 'e', long, value_name = "pattern")]
    pub exclude: Vec<String>,
    /// Same as --exclude pattern but ignores the casing of filenames
    #[arg(long, value_name = "pattern")]
    pub iexclude: Vec<String>,
    /// Read exclude patterns from a file (can be specified multiple times)
    #[arg(long, value_name = "file")]
    pub exclude_file: Vec<PathBuf>,
    /// Same as --exclude-file but ignores casing of filenames in patterns
    #[arg(long, value_name = "file")]
    pub iexclude_file: Vec<PathBuf>,
    /// Include a pattern (can be specified multiple times)
    #[arg(short = 'i', long, value_name = "pattern")]
    pub include: Vec<String>,
    /// Same as --include pattern but ignores the casing of filenames
    #[arg(long, value_name = "pattern")]
    pub iinclude: Vec<String>,
    /// Read include patterns from a file (can be specified multiple times)
    #[arg(long, value_name = "file")]
    pub include_file: Vec<PathBuf>,
    /// Same as --include-file but ignores casing of filenames in patterns
    #[arg(long, value_name = "file")]
    pub iinclude_file: Vec<PathBuf>,
    /// Create snapshot summary record if it does not exist
    #[arg(short = 's', long)]
    pub snapshot_summary: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// restic's `--new-time` format, in the local time zone.
fn parse_new_time(s: &str) -> Result<GoTime> {
    use chrono::{Local, TimeZone};
    let secs = super::find::parse_local_time(s).context("error in time option")?;
    let offset = Local
        .timestamp_opt(secs, 0)
        .single()
        .map(|t| t.offset().local_minus_utc())
        .unwrap_or(0);
    Ok(GoTime {
        unix_secs: secs,
        nanos: 0,
        offset_secs: offset,
    })
}

/// Prints a rewrite's events as restic does: standard output, details
/// of exclusions with `-vv`.
pub struct Printer {
    /// restic's verbosity (0 with `--quiet`).
    pub level: u8,
}

/// Go's `%q` of raw bytes.
fn go_quote(raw: &[u8]) -> String {
    format!("\"{}\"", cairn::format::go_quote(raw))
}

/// restic's `Snapshot.String()`.
fn snapshot_line(s: &StoredSnapshot) -> String {
    let sn = &s.snapshot;
    format!(
        "snapshot {} of [{}] at {} by {}@{}",
        s.id.short(),
        sn.paths.join(" "),
        go_time_string(&sn.time),
        sn.username,
        sn.hostname
    )
}

impl RewriteProgress for Printer {
    fn event(&self, event: &RewriteEvent<'_>) {
        let detail = match event {
            RewriteEvent::Excluding(path) => Some(("excluding", path)),
            RewriteEvent::Including(path) => Some(("including", path)),
            RewriteEvent::IncludingDirectory(path) => Some(("including directory", path)),
            _ => None,
        };
        if let Some((what, path)) = detail {
            if self.level >= 3 {
                println!("{what} {}", go_quote(path));
            }
            return;
        }
        if self.level == 0 {
            return;
        }
        let line = match event {
            RewriteEvent::Snapshot(s) => format!("\n{}", snapshot_line(s)),
            RewriteEvent::Excluding(_)
            | RewriteEvent::Including(_)
            | RewriteEvent::IncludingDirectory(_) => return,
            RewriteEvent::Repair(note) => match note {
                RepairNote::RemovedInvalidNode(p, t) => format!(
                    "  file {}: removed node with invalid type {}",
                    go_quote(p),
                    go_quote(t.as_bytes())
                ),
                RepairNote::RemovedMissingContent(p) => {
                    format!("  file {}: removed missing content", go_quote(p))
                }
                RepairNote::FixedSize(p) => format!("  file {}: fixed incorrect size", go_quote(p)),
                RepairNote::RootNotReadable => "  dir \"/\": not readable".to_string(),
                RepairNote::DirReplaced(p) => {
                    format!("  dir {}: replaced with empty directory", go_quote(p))
                }
            },
            RewriteEvent::WouldDeleteEmpty => "would delete empty snapshot".to_string(),
            RewriteEvent::RemovedEmpty(id) => format!("removed empty snapshot {}", id.short()),
            RewriteEvent::WouldSave => "would save new snapshot".to_string(),
            RewriteEvent::WouldRemoveOld => "would remove old snapshot".to_string(),
            RewriteEvent::WouldSetTime(t) => format!("would set time to {}", go_time_string(t)),
            RewriteEvent::WouldSetHost(h) => format!("would set hostname to {h}"),
            RewriteEvent::SettingTime(t) => format!("setting time to {}", go_time_string(t)),
            RewriteEvent::SettingHost(h) => format!("setting host to {h}"),
            RewriteEvent::SavedNew(id) => format!("saved new snapshot {}", id.short()),
            RewriteEvent::RemovedOld(id) => format!("removed old snapshot {}", id.short()),
        };
        println!("{line}");
    }
}

/// Runs `rewriter` over `snaps` as restic does, stopping at the first
/// failure, and prints the closing summary (counting `also_changed`
/// snapshots changed otherwise).
pub fn rewrite_all(
    rewriter: &mut SnapshotRewriter<'_>,
    snaps: &[StoredSnapshot],
    also_changed: usize,
    dry_run: bool,
    printer: &Printer,
) -> Result<RewriteReport> {
    let mut report = RewriteReport {
        dry_run,
        ..RewriteReport::default()
    };
    for snap in snaps {
        let done = rewriter
            .rewrite(snap, printer)
            .with_context(|| format!("unable to rewrite snapshot ID {:?}", snap.id.short()))?;
        report.snapshots.push(done);
    }
    if printer.level > 0 {
        println!();
        let n = report.changed() + also_changed;
        match (n, dry_run) {
            (0, false) => println!("no snapshots were modified"),
            (0, true) => println!("no snapshots would be modified"),
            (n, false) => println!("modified {n} snapshots"),
            (n, true) => println!("would modify {n} snapshots"),
        }
    }
    Ok(report)
}

/// Rewrites the selected snapshots under a shared lock (exclusive with
/// `--forget`; none for `--dry-run`).
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let excludes = [
        super::backup::patterns(&args.exclude, &args.exclude_file, false)?,
        super::backup::patterns(&args.iexclude, &args.iexclude_file, true)?,
    ]
    .into_iter()
    .flatten()
    .collect();
    let includes = [
        super::backup::patterns(&args.include, &args.include_file, false)?,
        super::backup::patterns(&args.iinclude, &args.iinclude_file, true)?,
    ]
    .into_iter()
    .flatten()
    .collect();
    let opts = RewriteOptions {
        excludes,
        includes,
        snapshot_summary: args.snapshot_summary,
        new_host: args.new_host.clone().filter(|h| !h.is_empty()),
        new_time: args
            .new_time
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(parse_new_time)
            .transpose()?,
        forget: args.forget,
        dry_run: args.dry_run,
        write: super::write_options(global)?,
        // Ctrl-C stops it through the process-wide flag every token reports.
        cancel: cairn::Cancel::new(),
    };
    opts.validate()?;
    let printer = Printer {
        level: verbosity(global),
    };
    let mut repo = global.open_repository()?;
    // `--forget` deletes snapshots: every listing must be complete.
    repo.set_strict_listings(args.forget);
    let lock = if args.dry_run {
        None
    } else {
        if args.forget && printer.level > 0 {
            println!("create exclusive lock for repository");
        }
        global.lock(&repo, args.forget)?
    }
    // A dry run, or `--no-lock`, runs without a lock.
    .unwrap_or_else(|| cairn::LockGuard::unlocked(&repo));
    cairn::rewrite::load_index_strictly(&mut repo)?;
    let snaps = select_snapshots(&repo, &args.ids, &args.filter.filter())?;
    let mut rewriter = repo.snapshot_rewriter(&lock, &opts)?;
    rewrite_all(&mut rewriter, &snaps, 0, args.dry_run, &printer)?;
    drop(rewriter);
    lock.release()?;
    Ok(())
}
