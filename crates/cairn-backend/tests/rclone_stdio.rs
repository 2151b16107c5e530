//! The rclone backend: `rclone serve restic --stdio` as a child, HTTP/2
//! over its pipes, against rclone's local backend (no config needed).
//! Needs `rclone` on PATH.

use cairn_backend::{
    open, open_wrapped, Backend, BackendError, BackendOptions, FileType, Location, RetryPolicy,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PACK1: &str = "aa11000000000000000000000000000000000000000000000000000000000000";
const PACK2: &str = "ff22000000000000000000000000000000000000000000000000000000000000";
const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn open_with(repo: &str, options: &[&str]) -> cairn_backend::Result<Arc<dyn Backend>> {
    let mut opts = BackendOptions::default();
    opts.set_extended(options)?;
    open(&Location::parse(repo)?, &opts)
}

fn sorted(be: &dyn Backend, t: FileType) -> Vec<(String, u64)> {
    let mut v: Vec<_> = be
        .list(t)
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.size))
        .collect();
    v.sort();
    v
}

#[test]
fn every_operation_through_rclones_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let repo = format!("rclone:{}", root.display());
    let be = open_with(&repo, &[]).unwrap();
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
    let threads: Vec<_> = (0..6u8)
        .map(|t| {
            let be = Arc::clone(&be);
            std::thread::spawn(move || {
                for i in 0..6u8 {
                    let name = format!("{t:02x}{i:02x}{}", "0".repeat(60));
                    let data = vec![t ^ i; 5000 + usize::from(i)];
                    be.write(FileType::Pack, &name, &data).unwrap();
                    assert_eq!(be.read(FileType::Pack, &name).unwrap(), data);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(be.list(FileType::Pack).unwrap().len(), 36);
}

fn assert_fails_in_one_line(
    started: Instant,
    r: cairn_backend::Result<Arc<dyn Backend>>,
    wanted: &[&str],
) {
    let err = r.err().expect("must fail");
    let text = err.to_string();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "too slow: {text}"
    );
    assert!(
        !text.contains('\n') && text.starts_with("rclone:"),
        "{text}"
    );
    for w in wanted {
        assert!(text.contains(w), "{w:?} not in {text}");
    }
    assert!(!err.is_transient(), "{text}");
}

#[test]
fn rclone_failing_to_start_says_why() {
    let started = Instant::now();
    let r = open_with("rclone:nosuchremote:x", &[]);
    assert_fails_in_one_line(
        started,
        r,
        &[
            "error talking HTTP to rclone",
            "rclone exited",
            "nosuchremote",
        ],
    );
    let r = open_with("rclone:/tmp/x", &["rclone.program=/nonexistent/rclone"]);
    assert_fails_in_one_line(started, r, &["/nonexistent/rclone"]);
    let r = open_with(
        "rclone:/tmp/x",
        &["rclone.program=sh -c 'sleep 30'", "rclone.timeout=1s"],
    );
    assert_fails_in_one_line(started, r, &["no answer within"]);
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
