//! The SFTP backend against a real OpenSSH server on 127.0.0.1: layout,
//! listing with sizes, ranges, atomic replacing writes, read-only files,
//! removal, concurrency, and clear quick errors when ssh cannot connect,
//! is refused, or dies mid-session.

mod support;

use cairn_backend::{Backend, BackendError, FileType};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::sshd::Sshd;
use support::{assert_fails_quickly_in_one_line, sorted, write_from_threads, KEY, PACK1, PACK2};

fn open_sftp(repo: &str, command: &str) -> cairn_backend::Result<Arc<dyn Backend>> {
    support::open_with(repo, &[format!("sftp.command={command}")])
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn sftp_backend_stores_files_like_restic() {
    let server = Sshd::start();
    let root = server.dir.path().join("deep/repo");
    let be = open_sftp(&server.repo(&root), &server.command()).unwrap();
    assert_eq!(
        be.location(),
        format!("sftp://{}@127.0.0.1/{}", server.user, root.display())
    );
    be.create().unwrap();
    for sub in ["keys", "locks", "snapshots", "index", "data/00", "data/ff"] {
        let p = root.join(sub);
        assert!(p.is_dir(), "{sub} missing");
        assert_eq!(mode(&p), 0o700, "{sub}");
    }
    assert_eq!(std::fs::read_dir(root.join("data")).unwrap().count(), 256);
    assert!(sorted(&*be, FileType::Pack).is_empty());
    assert!(be.list(FileType::Config).unwrap().is_empty());

    be.write(FileType::Config, "", b"config bytes").unwrap();
    assert!(matches!(
        be.create(),
        Err(BackendError::AlreadyExists { .. })
    ));
    be.write(FileType::Pack, PACK1, b"0123456789").unwrap();
    be.write(FileType::Pack, PACK2, &vec![7u8; 300_000])
        .unwrap();
    be.write(FileType::Key, KEY, b"{}").unwrap();

    // Layout, read-only mode, no temporary files left.
    let pack1 = root.join("data/aa").join(PACK1);
    assert_eq!(std::fs::read(&pack1).unwrap(), b"0123456789");
    assert_eq!(mode(&pack1), 0o400);
    assert_eq!(std::fs::read(root.join("config")).unwrap(), b"config bytes");
    let leftovers: Vec<_> = std::fs::read_dir(root.join("data/aa"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("-restic-temp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    assert_eq!(
        sorted(&*be, FileType::Pack),
        [(PACK1.to_string(), 10), (PACK2.to_string(), 300_000)]
    );
    assert_eq!(sorted(&*be, FileType::Key), [(KEY.to_string(), 2)]);
    assert_eq!(sorted(&*be, FileType::Config), [("config".to_string(), 12)]);
    assert!(sorted(&*be, FileType::Snapshot).is_empty());

    assert_eq!(be.read(FileType::Pack, PACK1).unwrap(), b"0123456789");
    assert_eq!(be.read(FileType::Pack, PACK2).unwrap().len(), 300_000);
    assert_eq!(
        be.read_range(FileType::Pack, PACK1, 2, 5).unwrap(),
        b"23456"
    );
    assert_eq!(be.read_range(FileType::Pack, PACK1, 10, 0).unwrap(), b"");
    let big = be.read_range(FileType::Pack, PACK2, 1000, 200_000).unwrap();
    assert_eq!(big, vec![7u8; 200_000]);
    match be.read_range(FileType::Pack, PACK1, 8, 5) {
        Err(BackendError::ShortRead { got: 2, .. }) => {}
        other => panic!("expected a short read, got {other:?}"),
    }
    assert!(be.read_range(FileType::Pack, PACK1, 50, 5).is_err());
    assert_eq!(be.stat(FileType::Pack, PACK1).unwrap().size, 10);
    assert_eq!(be.stat(FileType::Config, "").unwrap().name, "config");

    // Replacing a (read-only) file is atomic with posix-rename.
    assert!(be.has_atomic_replace());
    be.write(FileType::Key, KEY, b"{\"new\":1}").unwrap();
    assert_eq!(be.read(FileType::Key, KEY).unwrap(), b"{\"new\":1}");

    be.remove(FileType::Pack, PACK1).unwrap();
    assert!(!pack1.exists());
    assert!(be.remove(FileType::Pack, PACK1).unwrap_err().is_not_found());
    assert!(be.stat(FileType::Pack, PACK1).unwrap_err().is_not_found());
    assert!(be.read(FileType::Pack, PACK1).unwrap_err().is_not_found());
    assert!(be
        .read_range(FileType::Pack, PACK1, 0, 1)
        .unwrap_err()
        .is_not_found());
    assert!(matches!(
        be.read(FileType::Pack, "../x"),
        Err(BackendError::InvalidName(_))
    ));
    assert_eq!(sorted(&*be, FileType::Pack), [(PACK2.to_string(), 300_000)]);

    // A missing folder lists as empty; a missing data/XX is made on write.
    std::fs::remove_dir(root.join("locks")).unwrap();
    assert!(sorted(&*be, FileType::Lock).is_empty());
    be.write(FileType::Lock, KEY, b"lock").unwrap();
    assert_eq!(sorted(&*be, FileType::Lock), [(KEY.to_string(), 4)]);
}

#[test]
fn temporary_files_of_killed_writes_are_listed_and_removed() {
    let server = Sshd::start();
    let root = server.dir.path().join("repo");
    let be = open_sftp(&server.repo(&root), &server.command()).unwrap();
    be.create().unwrap();
    be.write(FileType::Pack, PACK1, b"whole").unwrap();
    let pack_tmp = format!("{PACK2}-restic-temp-0123abcd");
    let lock_tmp = format!("{KEY}-restic-temp-99");
    std::fs::write(root.join("data/ff").join(&pack_tmp), b"partial").unwrap();
    std::fs::write(root.join("locks").join(&lock_tmp), b"lo").unwrap();

    let packs = be.list_temp(FileType::Pack).unwrap();
    assert_eq!(packs.len(), 1, "{packs:?}");
    assert_eq!(packs[0].name, format!("ff/{pack_tmp}"));
    assert_eq!(packs[0].size, 7);
    let age = packs[0].modified.unwrap().elapsed().unwrap_or_default();
    assert!(age < Duration::from_secs(600), "{age:?}");
    let locks = be.list_temp(FileType::Lock).unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].name, lock_tmp);
    assert!(be.list_temp(FileType::Config).unwrap().is_empty());

    // Only temporary files can be removed this way.
    for (t, name) in [
        (FileType::Pack, format!("aa/{PACK1}")),
        (FileType::Pack, pack_tmp.clone()),
        (FileType::Lock, format!("../data/ff/{pack_tmp}")),
        (FileType::Config, "config".to_string()),
    ] {
        assert!(
            matches!(be.remove_temp(t, &name), Err(BackendError::InvalidName(_))),
            "{name}"
        );
    }
    be.remove_temp(FileType::Pack, &packs[0].name).unwrap();
    be.remove_temp(FileType::Lock, &lock_tmp).unwrap();
    assert!(!root.join("data/ff").join(&pack_tmp).exists());
    assert!(!root.join("locks").join(&lock_tmp).exists());
    assert!(be.list_temp(FileType::Pack).unwrap().is_empty());
    assert_eq!(be.read(FileType::Pack, PACK1).unwrap(), b"whole");
}

#[test]
fn many_threads_share_one_session() {
    let server = Sshd::start();
    let root = server.dir.path().join("repo");
    let be = open_sftp(&server.repo(&root), &server.command()).unwrap();
    be.create().unwrap();
    let written = write_from_threads(&be, 8, 8);
    let listed = be.list(FileType::Pack).unwrap();
    assert_eq!(listed.len(), 64);
    let total: u64 = listed.iter().map(|f| f.size).sum();
    assert_eq!(total, written);
}

#[test]
fn a_closed_port_fails_with_sshs_message() {
    let server = Sshd::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let started = Instant::now();
    let repo = server.repo(&server.dir.path().join("repo"));
    let r = open_sftp(&repo, &server.command_on(port, &server.key()));
    assert_fails_quickly_in_one_line(
        started,
        r,
        "sftp:",
        &[
            "unable to start the sftp session",
            "ssh exited",
            "Connection refused",
        ],
    );
}

#[test]
fn a_refused_key_fails_with_sshs_message() {
    let server = Sshd::start();
    let other = server.stranger_key();
    let started = Instant::now();
    let repo = server.repo(&server.dir.path().join("repo"));
    let r = open_sftp(&repo, &server.command_on(server.port, &other));
    assert_fails_quickly_in_one_line(started, r, "sftp:", &["ssh exited", "Permission denied"]);
    // A program that does not exist.
    let r = open_sftp(&repo, "/nonexistent/ssh -s sftp");
    assert_fails_quickly_in_one_line(started, r, "sftp:", &["/nonexistent/ssh"]);
}

#[test]
fn ssh_dying_mid_session_ends_operations_with_its_status() {
    let server = Sshd::start();
    let root = server.dir.path().join("repo");
    // `timeout` kills ssh two seconds in.
    let command = format!("timeout 2 {}", server.command());
    let be = open_sftp(&server.repo(&root), &command).unwrap();
    be.create().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let started = Instant::now();
    let err = be.write(FileType::Pack, PACK1, b"data").unwrap_err();
    let text = err.to_string();
    assert!(started.elapsed() < Duration::from_secs(10), "{text}");
    assert!(text.contains("timeout exited"), "{text}");
    assert!(!err.is_transient() && !text.contains('\n'), "{text}");
    // Later operations fail the same way, at once.
    let started = Instant::now();
    assert!(be.list(FileType::Pack).is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn sftp_works_from_inside_tokio_tasks() {
    let server = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let repo = server.repo(&dir.path().join("repo"));
    let command = server.command();
    open_sftp(&repo, &command).unwrap().create().unwrap();
    support::in_tokio_tasks(move || open_sftp(&repo, &command).unwrap());
}
