//! The figures of each command, from what its library call returned.

use super::Figure;
use crate::backup::BackupSummary;
use crate::copy::CopyReport;
use crate::restore::RestoreSummary;
use crate::{CheckReport, ForgetResult, PruneStats};

/// A backup's figures: files and directories by state (new, changed,
/// unmodified), bytes processed, added (plaintext) and stored (packed),
/// files that could not be read, and the saved snapshot's time.
pub fn backup_figures(summary: &BackupSummary) -> Vec<Figure> {
    let mut out = Vec::new();
    if let Some(s) = &summary.snapshot.summary {
        for (state, files, dirs) in [
            ("new", s.files_new, s.dirs_new),
            ("changed", s.files_changed, s.dirs_changed),
            ("unmodified", s.files_unmodified, s.dirs_unmodified),
        ] {
            out.push(
                Figure::new(
                    "cairn_backup_files",
                    "Files the backup found, by state.",
                    files as f64,
                )
                .with_label("state", state),
            );
            out.push(
                Figure::new(
                    "cairn_backup_dirs",
                    "Directories the backup found, by state.",
                    dirs as f64,
                )
                .with_label("state", state),
            );
        }
        out.push(Figure::new(
            "cairn_backup_bytes_processed",
            "Bytes of the files the backup read or found unchanged.",
            s.total_bytes_processed as f64,
        ));
        out.push(Figure::new(
            "cairn_backup_bytes_added",
            "Bytes of new data added to the repository (before compression).",
            s.data_added as f64,
        ));
        out.push(Figure::new(
            "cairn_backup_bytes_stored",
            "Bytes the new data takes in the repository (compressed and encrypted).",
            s.data_added_packed as f64,
        ));
    }
    out.push(Figure::new(
        "cairn_backup_errors",
        "Files and directories the backup could not read.",
        summary.errors.len() as f64,
    ));
    if summary.snapshot_id.is_some() {
        let t = &summary.snapshot.time;
        out.push(Figure::new(
            "cairn_backup_snapshot_timestamp_seconds",
            "Time of the snapshot the backup saved (Unix seconds).",
            t.unix_secs as f64 + f64::from(t.nanos / 1_000_000) / 1000.0,
        ));
    }
    out
}

/// A forget's figures: snapshots kept and removed (or to remove, in a dry
/// run).
pub fn forget_figures(result: &ForgetResult) -> Vec<Figure> {
    let kept: usize = result.groups.iter().map(|g| g.keep.len()).sum();
    let help = "Snapshots forget kept or removed, by action.";
    vec![
        Figure::new("cairn_forget_snapshots", help, kept as f64).with_label("action", "keep"),
        Figure::new("cairn_forget_snapshots", help, result.remove.len() as f64)
            .with_label("action", "remove"),
    ]
}

/// A prune's figures: packs and bytes removed (whole unused and
/// unreferenced packs) and repacked.
pub fn prune_figures(stats: &PruneStats) -> Vec<Figure> {
    let packs = "Packs prune removed or repacked, by action.";
    let bytes = "Bytes of the packs prune removed or repacked, by action.";
    vec![
        Figure::new(
            "cairn_prune_packs",
            packs,
            (stats.packs_remove + stats.packs_unreferenced) as f64,
        )
        .with_label("action", "remove"),
        Figure::new("cairn_prune_packs", packs, stats.packs_repack as f64)
            .with_label("action", "repack"),
        Figure::new(
            "cairn_prune_bytes",
            bytes,
            (stats.remove.bytes + stats.unreferenced_bytes) as f64,
        )
        .with_label("action", "remove"),
        Figure::new("cairn_prune_bytes", bytes, stats.repack.bytes as f64)
            .with_label("action", "repack"),
    ]
}

/// A check's figures: errors found (`extra_errors`: those found before
/// the check proper, e.g. a snapshot selection that failed) and bytes of
/// pack data read.
pub fn check_figures(report: &CheckReport, extra_errors: usize) -> Vec<Figure> {
    vec![
        Figure::new(
            "cairn_check_errors",
            "Errors the check found (0: no damage).",
            (report.errors.len() + extra_errors) as f64,
        ),
        Figure::new(
            "cairn_check_bytes_read",
            "Bytes of pack files the check read and verified (--read-data).",
            report.bytes_read as f64,
        ),
    ]
}

/// A copy's figures: snapshots copied and skipped (already there), and
/// bytes added to the destination.
pub fn copy_figures(report: &CopyReport) -> Vec<Figure> {
    let help = "Snapshots copy copied or skipped (already copied), by action.";
    vec![
        Figure::new("cairn_copy_snapshots", help, report.copied.len() as f64)
            .with_label("action", "copy"),
        Figure::new("cairn_copy_snapshots", help, report.skipped.len() as f64)
            .with_label("action", "skip"),
        Figure::new(
            "cairn_copy_bytes_stored",
            "Bytes copy added to the destination (compressed and encrypted).",
            report.written.data_added_packed as f64,
        ),
    ]
}

/// A restore's figures: files written, their size, and errors.
pub fn restore_figures(summary: &RestoreSummary) -> Vec<Figure> {
    vec![
        Figure::new(
            "cairn_restore_files",
            "Files restore wrote.",
            summary.files as f64,
        ),
        Figure::new(
            "cairn_restore_bytes",
            "Bytes of the files restore wrote.",
            summary.bytes as f64,
        ),
        Figure::new(
            "cairn_restore_errors",
            "Items restore could not restore.",
            summary.errors.len() as f64,
        ),
    ]
}
