//! `cairn` and restic 0.14 sharing a repository through rclone:
//! `rclone:/path` makes both run `rclone serve restic --stdio` and talk
//! HTTP/2 over its pipes. Each writes, the other reads, checks every byte
//! and restores. An rclone that cannot start gives one line and exit 1.
//!
//! Needs `rclone` and restic installed.

#[path = "remote_support/mod.rs"]
mod remote_support;

use remote_support::{cairn, error_lines, option, run};
use std::time::{Duration, Instant};

#[test]
fn cairn_writes_restic_reads_through_rclone() {
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("rclone:{}/repo", dir.path().display());
    remote_support::cairn_writes_restic_reads(&repo, &[]);
}

#[test]
fn restic_writes_cairn_reads_through_rclone() {
    let dir = tempfile::tempdir().unwrap();
    // A remote defined in rclone's environment, reached through
    // rclone.program so both tools see the same remote.
    let repo = format!("rclone:scratch:{}/repo", dir.path().display());
    let program = option("rclone.program=env RCLONE_CONFIG_SCRATCH_TYPE=local rclone");
    remote_support::restic_writes_cairn_reads(&repo, &program);
}

#[test]
fn an_rclone_that_cannot_start_fails_in_one_line() {
    let start = Instant::now();
    let out = run(&cairn(), "rclone:nosuchremote:repo", &["snapshots"], &[]);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("rclone"), "{}", lines[0]);
    assert!(lines[0].contains("nosuchremote"), "{}", lines[0]);
}
