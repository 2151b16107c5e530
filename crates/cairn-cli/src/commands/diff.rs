//! `cairn diff`: the differences between two snapshots.

use crate::global::GlobalOptions;
use crate::output::{format_bytes, go_json};
use anyhow::{bail, Result};
use cairn::diff::{diff_with, Change, DiffOptions, DiffStat};
use cairn::format::gojson::{write_go_string, GoJsonFormatter};
use cairn::{FileType, Repository, SnapshotFilter, StoredSnapshot};
use std::io::Write;

/// Arguments of `diff`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The two snapshots to compare (ID, unique ID prefix, or "latest")
    #[arg(value_name = "snapshot-ID")]
    pub snapshots: Vec<String>,
    /// Print changes in metadata
    #[arg(long)]
    pub metadata: bool,
}

/// Compares two snapshots and prints restic's change lines and statistics.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let [first, second] = args.snapshots.as_slice() else {
        bail!("specify two snapshot IDs");
    };
    let (repo, _lock) = global.open_with_index()?;
    let sn1 = find_snapshot(&repo, first, &SnapshotFilter::default())?;
    let sn2 = find_snapshot(&repo, second, &SnapshotFilter::default())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !global.json && !global.quiet {
        writeln!(
            out,
            "comparing snapshot {} to {}:\n",
            sn1.id.short(),
            sn2.id.short()
        )?;
    }
    let opts = DiffOptions {
        metadata: args.metadata,
        // Ctrl-C stops it through the process-wide flag every token reports.
        cancel: cairn::Cancel::new(),
    };
    let mut write_error = None;
    let mut print = |change: Change| {
        if global.quiet || write_error.is_some() {
            return;
        }
        let line = if global.json {
            change_json(&change)
        } else {
            let mut line = format!("{:<5}", change.modifier).into_bytes();
            line.extend_from_slice(&change.path);
            line.push(b'\n');
            line
        };
        if let Err(e) = out.write_all(&line) {
            write_error = Some(e);
        }
    };
    let summary = diff_with(
        &repo,
        &sn1.snapshot.tree,
        &sn2.snapshot.tree,
        &opts,
        &mut print,
    )?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    for problem in &summary.problems {
        eprintln!("{problem}");
    }
    if global.json {
        writeln!(
            out,
            r#"{{"message_type":"statistics","source_snapshot":{},"target_snapshot":{},"changed_files":{},"added":{},"removed":{}}}"#,
            go_json(&first.as_str().into()),
            go_json(&second.as_str().into()),
            summary.changed_files,
            stat_json(&summary.added),
            stat_json(&summary.removed)
        )?;
    } else {
        let (a, r) = (&summary.added, &summary.removed);
        writeln!(out)?;
        writeln!(
            out,
            "Files:       {:5} new, {:5} removed, {:5} changed",
            a.files, r.files, summary.changed_files
        )?;
        writeln!(out, "Dirs:        {:5} new, {:5} removed", a.dirs, r.dirs)?;
        writeln!(
            out,
            "Others:      {:5} new, {:5} removed",
            a.others, r.others
        )?;
        writeln!(
            out,
            "Data Blobs:  {:5} new, {:5} removed",
            a.data_blobs, r.data_blobs
        )?;
        writeln!(
            out,
            "Tree Blobs:  {:5} new, {:5} removed",
            a.tree_blobs, r.tree_blobs
        )?;
        writeln!(out, "  Added:   {:<5}", format_bytes(a.bytes))?;
        writeln!(out, "  Removed: {:<5}", format_bytes(r.bytes))?;
    }
    out.flush()?;
    // A tree that failed to load or verify makes the diff incomplete.
    let unreadable = summary
        .problems
        .iter()
        .filter(|p| matches!(p, cairn::diff::DiffProblem::Tree(_)))
        .count();
    super::ls::unreadable_trees(unreadable)
}

/// One `change` line of `diff --json`; the path keeps its raw bytes as Go
/// writes them (each invalid UTF-8 byte as `\ufffd`).
fn change_json(change: &Change) -> Vec<u8> {
    let mut line = br#"{"message_type":"change","path":"#.to_vec();
    write_go_string(&mut line, &change.path, GoJsonFormatter::go_pre_1_22());
    line.extend_from_slice(br#","modifier":"#);
    write_go_string(
        &mut line,
        change.modifier.as_bytes(),
        GoJsonFormatter::go_pre_1_22(),
    );
    line.extend_from_slice(b"}\n");
    line
}

/// restic's `DiffStat` as JSON, fields in its order.
fn stat_json(s: &DiffStat) -> String {
    format!(
        r#"{{"files":{},"dirs":{},"others":{},"data_blobs":{},"tree_blobs":{},"bytes":{}}}"#,
        s.files, s.dirs, s.others, s.data_blobs, s.tree_blobs, s.bytes
    )
}

/// Resolves a snapshot argument the way restic 0.14's `diff` and `stats`
/// do: `latest` (the newest snapshot passing `filter`), or a prefix of
/// exactly one snapshot file name, with restic's messages when there is
/// no such file or more than one.
pub fn find_snapshot(
    repo: &Repository,
    spec: &str,
    filter: &SnapshotFilter,
) -> Result<StoredSnapshot> {
    if spec == "latest" {
        return Ok(repo.find_snapshot(spec, filter)?);
    }
    let mut matches = repo
        .list_ids(FileType::Snapshot)?
        .into_iter()
        .filter(|(id, _)| id.to_hex().starts_with(spec));
    let Some((id, _)) = matches.next() else {
        bail!("no matching ID found for prefix {spec:?}");
    };
    if matches.next().is_some() {
        bail!("multiple IDs with prefix {spec:?} found");
    }
    let snapshot = repo.load_snapshot(&id)?;
    Ok(StoredSnapshot { id, snapshot })
}

#[cfg(test)]
mod tests {
    use super::format_bytes;

    #[test]
    fn format_bytes_thresholds_are_exclusive() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1024), "1024 B");
        assert_eq!(format_bytes(1025), "1.001 KiB");
        assert_eq!(format_bytes(1 << 20), "1024.000 KiB");
        assert_eq!(format_bytes(42_106_149), "40.156 MiB");
        assert_eq!(format_bytes(3 << 30), "3.000 GiB");
        assert_eq!(format_bytes(5 << 40), "5.000 TiB");
    }
}
