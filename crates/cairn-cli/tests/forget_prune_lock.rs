//! `cairn forget --prune` forgets and prunes under one exclusive lock: the
//! lock directory, watched while it runs, only ever holds one lock file
//! (taking a lock writes a file and keeps it at least 200 ms, so a second
//! lock taken for the prune would be seen). And `backup`, which starts
//! before its lock is confirmed, still stops for a lock taken at the same
//! moment.

#[macro_use]
mod common;

use common::{Fixture, Tool};
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn forget_prune_holds_one_lock_throughout() {
    let f = Fixture::new("v2");
    let weekly = f.snapshot_with_tag("weekly");
    let mut child = f
        .command(Tool::Cairn)
        .args(["forget", "--prune", &weekly])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let status = loop {
        for p in f.repo_files("locks") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            // Uploads go through temporary files that are then renamed.
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                seen.insert(name);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("running prune"), "{stdout}");
    assert!(stdout.contains("\ndone\n"), "prune ran: {stdout}");
    assert_eq!(seen.len(), 1, "lock files seen: {seen:?}");
    assert!(f.repo_files("locks").is_empty(), "the lock is released");
    f.restic(["check"]).ok();
}

/// `backup` starts while its lock waits for the second look for
/// conflicting locks. An exclusive lock taken in that moment (after
/// backup's first look) stops it with exit 11 before any snapshot or
/// index is written, and backup's own lock is removed.
#[test]
fn an_exclusive_lock_taken_during_the_lock_wait_stops_backup() {
    let f = Fixture::new("v2");
    let before = (f.repo_files("snapshots"), f.repo_files("index"));
    let src = f.scratch("src");
    for i in 0..50 {
        std::fs::write(src.join(format!("f{i}")), vec![i as u8; 10_000]).unwrap();
    }
    common::assert_stopped_by_a_lock_taken_meanwhile(
        &f,
        &["backup".as_ref(), src.as_os_str()],
        true,
    );
    assert_eq!((f.repo_files("snapshots"), f.repo_files("index")), before);
    // The other process's lock is still there; restic checks beside it.
    f.restic(["--no-lock", "check"]).ok();
}

/// `forget` and `prune` plan while their lock waits for the second look
/// for conflicting locks. A lock taken in that moment stops them with exit
/// 11 before anything is removed or written.
#[test]
fn a_lock_taken_during_the_lock_wait_stops_forget_and_prune() {
    let f = Fixture::new("v2");
    let weekly = f.snapshot_with_tag("weekly");
    let state = |f: &Fixture| ["snapshots", "index", "data"].map(|dir| f.repo_files(dir));
    let before = state(&f);
    for (args, exclusive) in [
        (vec!["forget", "--prune", weekly.as_str()], false),
        (vec!["prune", "--max-unused", "0"], false),
        (vec!["forget", "--keep-last", "1"], true),
    ] {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        common::assert_stopped_by_a_lock_taken_meanwhile(&f, &args, exclusive);
        assert_eq!(state(&f), before, "{args:?} changed the repository");
        // Remove the other process's lock before the next round.
        for lock in f.repo_files("locks") {
            std::fs::remove_file(lock).unwrap();
        }
    }
    f.restic(["check"]).ok();
}
