//! `cairn stats`: sizes and counts over snapshots, in restic's modes.

use super::FilterArgs;
use crate::exit::{ExitCode, FATAL};
use crate::global::GlobalOptions;
use crate::output::format_bytes;
use crate::output::JsonObject;
use anyhow::Result;
use cairn::stats::{stats, CountMode, StatsOptions, StatsReport};
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
        println!("{}", report_json(&report).to_json());
        return Ok(());
    }
    print_report(mode, &report);
    Ok(())
}

/// restic 0.19's `stats --json` object: the compression fields appear
/// only when not zero (raw-data mode on a version 2 repository), the file
/// and blob counts only when not zero.
fn report_json(report: &StatsReport) -> JsonObject {
    let mut o = JsonObject::default();
    o.set("total_size", report.total_size);
    if report.total_uncompressed_size > 0 {
        o.set("total_uncompressed_size", report.total_uncompressed_size);
    }
    for (key, value) in [
        ("compression_ratio", report.compression_ratio()),
        ("compression_progress", report.compression_progress()),
        (
            "compression_space_saving",
            report.compression_space_saving(),
        ),
    ] {
        if value != 0.0 {
            o.set(key, go_float(value));
        }
    }
    if report.total_file_count > 0 {
        o.set("total_file_count", report.total_file_count);
    }
    if report.total_blob_count > 0 {
        o.set("total_blob_count", report.total_blob_count);
    }
    o.set("snapshots_count", report.snapshots_count);
    o
}

/// A float as Go's JSON encoder writes it: whole numbers without a
/// fraction (`100`, not `100.0`); others in the shortest exact form.
fn go_float(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        serde_json::Value::from(v as i64)
    } else {
        serde_json::Value::from(v)
    }
}

/// restic 0.19's text report.
fn print_report(mode: CountMode, report: &StatsReport) {
    println!("Stats in {} mode:", mode.as_str());
    println!("     Snapshots processed:  {}", report.snapshots_count);
    if report.total_blob_count > 0 {
        println!("        Total Blob Count:  {}", report.total_blob_count);
    }
    if report.total_file_count > 0 {
        println!("        Total File Count:  {}", report.total_file_count);
    }
    if report.total_uncompressed_size > 0 {
        println!(
            " Total Uncompressed Size:  {:<5}",
            format_bytes(report.total_uncompressed_size)
        );
    }
    println!(
        "              Total Size:  {:<5}",
        format_bytes(report.total_size)
    );
    if report.compression_progress() > 0.0 {
        println!(
            "    Compression Progress:  {:.2}%",
            report.compression_progress()
        );
    }
    if report.compression_ratio() > 0.0 {
        println!(
            "       Compression Ratio:  {:.2}x",
            report.compression_ratio()
        );
    }
    if report.compression_space_saving() > 0.0 {
        println!(
            "Compression Space Saving:  {:.2}%",
            report.compression_space_saving()
        );
    }
}

/// The root trees of the snapshots to count, as restic 0.19 picks them
/// (see [`super::select_snapshots`]).
fn select_trees(repo: &Repository, specs: &[String], filter: &SnapshotFilter) -> Result<Vec<Id>> {
    let snaps = super::select_snapshots(repo, specs, filter)?;
    Ok(snaps.into_iter().map(|s| s.snapshot.tree).collect())
}
