//! The rclone backend: `rclone serve restic --stdio` as a child, HTTP/2
//! over its pipes, against rclone's local backend (no config needed).
//! Needs `rclone` on PATH.

mod support;

use cairn_backend::{open_wrapped, BackendError, BackendOptions, FileType, Location, RetryPolicy};
use std::time::{Duration, Instant};
use support::{
    assert_fails_quickly_in_one_line, open_with, sorted, write_from_threads, KEY, PACK1, PACK2,
};

#[test]
fn every_operation_through_rclones_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let repo = format!("rclone:{}", root.display());
    let be = open_with::<&str>(&repo, &[]).unwrap();
    assert_eq!(be.location(), repo);
    assert!(be.list(FileType::Config).unwrap().is_empty());
    be.create().unwrap();
    be.write(FileType::Config, "", b"config bytes").unwrap();
    assert!(matches!(
        be.create(),
        Err(BackendError::AlreadyExists { .. })
    ));
    be.write(FileType::Pack, PACK1, b"0123456789").unwrap();
    be.write(FileType::Pack, PACK2, &vec![5u8; 400_000])
        .unwrap();
    be.write(FileType::Key, KEY, b"{}").unwrap();
    // rclone stores restic's layout.
    assert_eq!(
        std::fs::read(root.join("data/aa").join(PACK1)).unwrap(),
        b"0123456789"
    );
    assert_eq!(
        sorted(&*be, FileType::Pack),
        [(PACK1.to_string(), 10), (PACK2.to_string(), 400_000)]
    );
    assert_eq!(sorted(&*be, FileType::Key), [(KEY.to_string(), 2)]);
    assert_eq!(sorted(&*be, FileType::Config), [("config".to_string(), 12)]);
    assert!(sorted(&*be, FileType::Snapshot).is_empty());
    assert_eq!(be.read(FileType::Config, "").unwrap(), b"config bytes");
    assert_eq!(be.read(FileType::Pack, PACK2).unwrap().len(), 400_000);
    assert_eq!(be.read_range(FileType::Pack, PACK1, 3, 4).unwrap(), b"3456");
    assert_eq!(
        be.read_range(FileType::Pack, PACK2, 100, 300_000).unwrap(),
        vec![5u8; 300_000]
    );
    assert!(matches!(
        be.read_range(FileType::Pack, PACK1, 8, 5),
        Err(BackendError::ShortRead { .. })
    ));
    assert_eq!(be.stat(FileType::Pack, PACK1).unwrap().size, 10);
    be.remove(FileType::Pack, PACK1).unwrap();
    assert!(be.stat(FileType::Pack, PACK1).unwrap_err().is_not_found());
    assert!(be.read(FileType::Pack, PACK1).unwrap_err().is_not_found());
    assert_eq!(sorted(&*be, FileType::Pack), [(PACK2.to_string(), 400_000)]);
}

#[test]
fn named_and_inline_remotes_and_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    // A remote defined only in rclone's environment, set through the
    // program option so the test does not touch its own environment.
    let named = format!("rclone:mylocal:{}/named", dir.path().display());
    let program = "rclone.program=env RCLONE_CONFIG_MYLOCAL_TYPE=local rclone";
    let be = open_with(&named, &[program]).unwrap();
    be.create().unwrap();
    be.write(FileType::Key, KEY, b"k").unwrap();
    assert!(dir.path().join("named/keys").join(KEY).is_file());
    drop(be);

    let inline = format!("rclone::local:{}/inline", dir.path().display());
    let loc = Location::parse(&inline).unwrap();
    let mut opts = BackendOptions::default();
    opts.set_extended(&["rclone.connections=4"]).unwrap();
    let be = open_wrapped(&loc, &opts, RetryPolicy::default(), None).unwrap();
    be.create().unwrap();
    let written = write_from_threads(&be, 6, 6);
    let listed = be.list(FileType::Pack).unwrap();
    assert_eq!(listed.len(), 36);
    assert_eq!(listed.iter().map(|f| f.size).sum::<u64>(), written);
}

#[test]
fn rclone_failing_to_start_says_why() {
    let started = Instant::now();
    let r = open_with::<&str>("rclone:nosuchremote:x", &[]);
    assert_fails_quickly_in_one_line(
        started,
        r,
        "rclone:",
        &[
            "error talking HTTP to rclone",
            "rclone exited",
            "nosuchremote",
        ],
    );
    let r = open_with("rclone:/tmp/x", &["rclone.program=/nonexistent/rclone"]);
    assert_fails_quickly_in_one_line(started, r, "rclone:", &["/nonexistent/rclone"]);
    let r = open_with(
        "rclone:/tmp/x",
        &["rclone.program=sh -c 'sleep 30'", "rclone.timeout=1s"],
    );
    assert_fails_quickly_in_one_line(started, r, "rclone:", &["no answer within"]);
}

#[test]
fn rclone_dying_mid_session_ends_operations() {
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("rclone:{}/repo", dir.path().display());
    let be = open_with(&repo, &["rclone.program=timeout 2 rclone"]).unwrap();
    be.create().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let started = Instant::now();
    let err = be.write(FileType::Pack, PACK1, b"x").unwrap_err();
    let text = err.to_string();
    assert!(started.elapsed() < Duration::from_secs(10), "{text}");
    assert!(
        text.contains("timeout exited") && !text.contains('\n'),
        "{text}"
    );
    assert!(!err.is_transient(), "{text}");
}

#[test]
fn rclone_works_from_inside_tokio_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let repo = format!("rclone:{}", dir.path().join("repo").display());
    open_with::<&str>(&repo, &[]).unwrap().create().unwrap();
    support::in_tokio_tasks(move || open_with::<&str>(&repo, &[]).unwrap());
}
