//! `cairn stats`: sizes and counts over snapshots, in restic's modes.

use super::diff::find_snapshot;
use super::FilterArgs;
use crate::exit::{ExitCode, FATAL};
use crate::global::GlobalOptions;
use crate::output::format_bytes;
use crate::output::JsonObject;
use anyhow::Result;
use cairn::stats::{stats, CountMode, StatsOptions};
use cairn::{Id, Repository, SnapshotFilter};

/// Arguments of `stats`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshots to count (IDs, unique ID prefixes or "latest"; default: all)
    #[arg(value_name = "snapshot ID")]
    pub snapshots: Vec<String>,
    /// Counting mode: restore-size (default), files-by-contents, blobs-per-file or raw-data
    #[arg(long, default_value = "restore-size")]
    pub mode: String,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Counts the selected snapshots and prints restic's totals.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    // restic checks the mode before it opens the repository and prints
    // this error without "Fatal:".
    let mode = CountMode::parse(&args.mode)
        .map_err(|e| anyhow::Error::new(ExitCode(FATAL, e.to_string())))?;
    let (repo, _lock) = global.open_with_index()?;
    if !global.json {
        println!("scanning...");
    }
    let filter = args.filter.filter();
    let trees = select_trees(&repo, &args.snapshots, &filter)?;
    let report = stats(
        &repo,
        &trees,
        &StatsOptions {
            mode,
            ..Default::default()
        },
    )
    .map_err(|e| ExitCode(FATAL, format!("error walking snapshot: {e}")))?;
    if global.json {
        let mut o = JsonObject::default();
        o.set("total_size", report.total_size)
            .set("total_file_count", report.total_file_count);
        if report.total_blob_count > 0 {
            o.set("total_blob_count", report.total_blob_count);
        }
        o.set("snapshots_count", report.snapshots_count);
        println!("{}", o.to_json());
        return Ok(());
    }
    println!("Stats in {} mode:", mode.as_str());
    println!("Snapshots processed:   {}", report.snapshots_count);
    if report.total_blob_count > 0 {
        println!("   Total Blob Count:   {}", report.total_blob_count);
    }
    if report.total_file_count > 0 {
        println!("   Total File Count:   {}", report.total_file_count);
    }
    println!(
        "         Total Size:   {:<5}",
        format_bytes(report.total_size)
    );
    Ok(())
}

/// The root trees of the snapshots to count, as restic 0.14 picks them:
/// with arguments, each one resolved (`latest` through the filter, other
/// IDs ignoring it), unresolvable ones skipped with a warning, duplicates
/// dropped; without, every snapshot the filter passes.
fn select_trees(repo: &Repository, specs: &[String], filter: &SnapshotFilter) -> Result<Vec<Id>> {
    if specs.is_empty() {
        let snaps = super::select_snapshots(repo, specs, filter)?;
        return Ok(snaps.into_iter().map(|s| s.snapshot.tree).collect());
    }
    let mut ids: Vec<Id> = Vec::new();
    let mut trees = Vec::new();
    for spec in specs {
        match find_snapshot(repo, spec, filter) {
            Ok(sn) if ids.contains(&sn.id) => {}
            Ok(sn) => {
                ids.push(sn.id);
                trees.push(sn.snapshot.tree);
            }
            Err(_) if spec == "latest" => eprintln!(
                "Ignoring \"latest\", no snapshot matched given filter (Paths:{} Tags:{} Hosts:{})",
                go_list(&filter.paths),
                go_list(
                    &filter
                        .tags
                        .iter()
                        .map(|t| format!("[{}]", t.join(", ")))
                        .collect::<Vec<_>>()
                ),
                go_list(&filter.hosts),
            ),
            Err(e) => eprintln!("Ignoring {}: {e}", go_quoted(spec)),
        }
    }
    let filtered = !(filter.hosts.is_empty() && filter.tags.is_empty() && filter.paths.is_empty());
    if filtered && !specs.iter().any(|s| s == "latest") {
        eprintln!("Ignoring filters as there are explicit snapshot ids given");
    }
    Ok(trees)
}

/// Go's `%v` of a string slice: `[a b]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `%q` of a string.
fn go_quoted(s: &str) -> String {
    format!("\"{}\"", cairn::format::go_quote(s.as_bytes()))
}
