//! A restore stops when the process-wide interrupt flag (set by the
//! signal handler) is raised. In a test binary of its own: the flag
//! would stop every other test running in the same process.

#[path = "common/restic_cli.rs"]
mod common;

use cairn::restore::RestoreOptions;
use cairn::Error;
use cairn::NoProgress;
use common::*;

#[test]
fn an_interrupt_request_stops_a_restore() {
    let (dir, path, repo) = cairn_repo(2);
    drop(repo);
    let src = sample_tree(dir.path());
    ok(restic(
        &path,
        PASSWORD,
        ["backup".as_ref(), src.as_os_str()],
    ));
    let mut repo = open(&path, PASSWORD).unwrap();
    repo.load_index().unwrap();
    let snapshots = repo.list_ids(cairn::FileType::Snapshot).unwrap();
    let snapshot = repo.load_snapshot(&snapshots[0].0).unwrap();
    let target = dir.path().join("target");
    let opts = RestoreOptions {
        target: target.clone(),
        ..RestoreOptions::default()
    };

    cairn::interrupt::request();
    let r = cairn::restore::restore(&repo, &snapshot.tree, None, &opts, &NoProgress);
    assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
    assert_eq!(std::fs::read_dir(&target).map_or(0, |d| d.count()), 0);
}
