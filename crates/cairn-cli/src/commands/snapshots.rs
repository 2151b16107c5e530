//! `cairn snapshots`.

use super::FilterArgs;
use crate::global::GlobalOptions;
use crate::output::{local_time, print_table, snapshot_json};
use anyhow::Result;
use cairn::{latest_per_group, StoredSnapshot};

/// Arguments of `snapshots`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshot IDs to show (default: all)
    pub ids: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only show the last n snapshots for each host and path
    #[arg(long, value_name = "n")]
    pub latest: Option<usize>,
    /// Use compact output format
    #[arg(short = 'c', long)]
    pub compact: bool,
}

/// Lists snapshots as a table or as restic's JSON array.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let (repo, _lock) = global.open_shared()?;
    let filter = args.filter.filter();
    let mut snaps: Vec<StoredSnapshot> = super::select_snapshots(&repo, &args.ids, &filter)?;
    cairn::sort_by_time(&mut snaps);
    if let Some(n) = args.latest {
        snaps = latest_per_group(snaps, n);
    }
    if global.json {
        let items: Vec<String> = snaps
            .iter()
            .map(|s| snapshot_json(&s.id, &s.snapshot).to_json())
            .collect();
        println!("[{}]", items.join(","));
        return Ok(());
    }
    let multiline = !args.compact && snaps.iter().any(|s| s.snapshot.paths.len() > 1);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (i, s) in snaps.iter().enumerate() {
        let sn = &s.snapshot;
        let mut row = vec![s.id.short(), local_time(&sn.time), sn.hostname.clone()];
        if args.compact {
            row.push(sn.tags.join("\n"));
        } else {
            row.push(sn.tags.join(","));
            row.push(sn.paths.join("\n"));
        }
        rows.push(row);
        // restic separates multi-line rows with an empty one.
        if multiline && i + 1 != snaps.len() {
            rows.push(Vec::new());
        }
    }
    // restic pads the Host and Tags headers so short values still get
    // room; the widths follow from the header text.
    let header: &[&str] = if args.compact {
        &["ID", "Time", "Host", "Tags  "]
    } else {
        &["ID", "Time", "Host      ", "Tags      ", "Paths"]
    };
    print_table(header, &rows, Some(format!("{} snapshots", snaps.len())));
    Ok(())
}
