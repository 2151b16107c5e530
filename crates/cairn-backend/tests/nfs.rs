//! The `nfs://` backend against a loopback NFSv3 server serving a temp
//! folder: every trait operation, what lands on disk, atomic writes under
//! a killed writer, bounded connections, retries, and clear errors.

mod nfs_server;
mod support;

use cairn_backend::{
    open, open_wrapped, Backend, BackendError, BackendOptions, FileInfo, FileType, Location,
    RetryPolicy,
};
use nfs_server::{free_port, NfsServer};
use proptest::prelude::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn backend(url: &str, options: &[&str]) -> Arc<dyn Backend> {
    let mut opts = BackendOptions::default();
    opts.set_extended(options).unwrap();
    open(&Location::parse(url).unwrap(), &opts).unwrap()
}

fn sorted(mut v: Vec<FileInfo>) -> Vec<FileInfo> {
    v.sort();
    v
}

fn info(name: &str, size: u64) -> FileInfo {
    FileInfo {
        name: name.into(),
        size,
    }
}

#[test]
fn every_operation_works_and_lands_where_restic_expects_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = NfsServer::start(dir.path());
    let be = backend(&server.url("backups/repo"), &[]);
    assert_eq!(
        be.location(),
        format!("nfs://127.0.0.1:{}/export/backups/repo", server.port)
    );
    be.create().unwrap();
    let repo = dir.path().join("backups/repo");
    for d in [
        "keys",
        "locks",
        "snapshots",
        "index",
        "data/00",
        "data/7f",
        "data/ff",
    ] {
        assert!(repo.join(d).is_dir(), "{d}");
    }

    be.write(FileType::Config, "", b"cfg").unwrap();
    assert!(matches!(
        be.create(),
        Err(BackendError::AlreadyExists { .. })
    ));
    let pack: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    be.write(FileType::Pack, "abcdef01", &pack).unwrap();
    be.write(FileType::Key, "k1", b"key one").unwrap();
    be.write(FileType::Snapshot, "s1", b"").unwrap();
    be.write(FileType::Index, "i1", b"index").unwrap();

    assert_eq!(std::fs::read(repo.join("config")).unwrap(), b"cfg");
    assert_eq!(std::fs::read(repo.join("data/ab/abcdef01")).unwrap(), pack);
    assert_eq!(std::fs::read(repo.join("keys/k1")).unwrap(), b"key one");

    assert_eq!(be.list(FileType::Config).unwrap(), [info("config", 3)]);
    assert_eq!(
        be.list(FileType::Pack).unwrap(),
        [info("abcdef01", pack.len() as u64)]
    );
    assert_eq!(be.list(FileType::Snapshot).unwrap(), [info("s1", 0)]);
    assert!(be.list(FileType::Lock).unwrap().is_empty());

    assert_eq!(be.read(FileType::Pack, "abcdef01").unwrap(), pack);
    assert_eq!(be.read(FileType::Snapshot, "s1").unwrap(), b"");
    assert_eq!(be.read(FileType::Config, "").unwrap(), b"cfg");
    assert_eq!(
        be.read_range(FileType::Pack, "abcdef01", 1_048_570, 1_900_000)
            .unwrap(),
        pack[1_048_570..2_948_570]
    );
    assert!(matches!(
        be.read_range(FileType::Index, "i1", 3, 5),
        Err(BackendError::ShortRead { got: 2, .. })
    ));
    assert_eq!(be.stat(FileType::Key, "k1").unwrap(), info("k1", 7));

    // Replacing a file is atomic and leaves nothing behind.
    be.write(FileType::Key, "k1", b"key one, again").unwrap();
    assert_eq!(be.read(FileType::Key, "k1").unwrap(), b"key one, again");
    assert_eq!(std::fs::read_dir(repo.join("keys")).unwrap().count(), 1);

    be.remove(FileType::Key, "k1").unwrap();
    assert!(be.list(FileType::Key).unwrap().is_empty());
    assert!(!repo.join("keys/k1").exists());
    for err in [
        be.read(FileType::Key, "k1").unwrap_err(),
        be.stat(FileType::Key, "k1").unwrap_err(),
        be.remove(FileType::Key, "k1").unwrap_err(),
        be.read_range(FileType::Pack, "ab99", 0, 1).unwrap_err(),
    ] {
        assert!(err.is_not_found(), "{err}");
    }
    for bad in ["", "..", "a/b"] {
        assert!(matches!(
            be.write(FileType::Key, bad, b"x"),
            Err(BackendError::InvalidName(_))
        ));
    }
}

#[test]
fn files_written_on_the_server_side_are_listed_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    for d in ["data/12", "snapshots"] {
        std::fs::create_dir_all(repo.join(d)).unwrap();
    }
    std::fs::write(repo.join("data/12/1234"), b"pack bytes").unwrap();
    std::fs::write(repo.join("snapshots/.hidden"), b"x").unwrap();
    std::fs::create_dir(repo.join("snapshots/not-a-file")).unwrap();
    for i in 0..600 {
        std::fs::write(repo.join(format!("snapshots/{i:04}")), b"s").unwrap();
    }
    let server = NfsServer::start(dir.path());
    let be = backend(&server.url("repo"), &[]);
    assert_eq!(be.list(FileType::Pack).unwrap(), [info("1234", 10)]);
    // More entries than one READDIRPLUS answer holds.
    let snaps = sorted(be.list(FileType::Snapshot).unwrap());
    assert_eq!(snaps.len(), 600);
    assert_eq!(snaps[599], info("0599", 1));
    assert!(be.list(FileType::Index).unwrap().is_empty());
}

/// Run by `a_killed_writer_leaves_no_visible_file`: writes one large pack
/// to `$NFS_WRITER_URL` and is killed while doing so.
#[test]
#[ignore = "child process of a_killed_writer_leaves_no_visible_file"]
fn killed_writer_child() {
    let url = std::env::var("NFS_WRITER_URL").expect("NFS_WRITER_URL");
    let be = backend(&url, &[]);
    let data = vec![0x5a; 256 << 20];
    be.write(FileType::Pack, "ee00", &data).unwrap();
    panic!("the writer was not killed");
}

#[test]
fn a_killed_writer_leaves_no_visible_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = NfsServer::start(dir.path());
    let url = server.url("repo");
    let be = backend(&url, &[]);
    be.create().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "killed_writer_child", "--ignored", "--nocapture"])
        .env("NFS_WRITER_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let folder = dir.path().join("repo/data/ee");
    let deadline = Instant::now() + Duration::from_secs(60);
    let partial = loop {
        let grown = std::fs::read_dir(&folder)
            .unwrap()
            .flatten()
            .find(|e| e.metadata().map(|m| m.len() > 0).unwrap_or(false));
        if let Some(e) = grown {
            break e.file_name().to_string_lossy().into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the writer never started writing"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer ended early"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(partial.starts_with(".ee00.tmp-"), "{partial}");
    assert!(be.list(FileType::Pack).unwrap().is_empty());
    assert!(be.stat(FileType::Pack, "ee00").unwrap_err().is_not_found());
    assert!(!folder.join("ee00").exists());
    // The next writer of that name is not disturbed by the leftover.
    be.write(FileType::Pack, "ee00", b"whole").unwrap();
    assert_eq!(be.list(FileType::Pack).unwrap(), [info("ee00", 5)]);
}

/// Established TCP connections from this process's sockets to `port`.
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let remote = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[2].ends_with(&remote) && f[3] == "01"
        })
        .count()
}

#[test]
fn connections_are_bounded_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let server = NfsServer::start(dir.path());
    let be = backend(&server.url("repo"), &["nfs.connections=2"]);
    be.create().unwrap();
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let be = be.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    be.write(FileType::Index, &format!("{t:02}{i:02}"), &[t; 5000])
                        .unwrap();
                }
            })
        })
        .collect();
    let mut most = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        most = most.max(connections_to(server.port));
        std::thread::sleep(Duration::from_millis(1));
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(be.list(FileType::Index).unwrap().len(), 160);
    assert!(most >= 1, "no connection seen");
    // Plus the MOUNT connection, closed after mounting.
    assert!(most <= 3, "{most} connections open at once");
    assert!(connections_to(server.port) <= 2);
}

#[test]
fn auth_unix_carries_the_uid_and_gid_options() {
    let dir = tempfile::tempdir().unwrap();
    let server = NfsServer::start(dir.path());
    let be = backend(&server.url(""), &["nfs.uid=4321", "nfs.gid=8765"]);
    be.list(FileType::Key).unwrap();
    assert_eq!(*server.last_auth.lock().unwrap(), Some((4321, 8765)));
}

#[test]
fn a_host_name_reaches_the_address_that_listens() {
    // `localhost` is often ::1 first; the server listens on 127.0.0.1 only.
    let dir = tempfile::tempdir().unwrap();
    let server = NfsServer::start(dir.path());
    let be = backend(&format!("nfs://localhost:{}/export", server.port), &[]);
    be.create().unwrap();
    be.write(FileType::Lock, "l1", b"lock").unwrap();
    assert!(dir.path().join("locks/l1").is_file());
}

#[test]
fn a_server_that_comes_up_late_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("nfs://127.0.0.1:{port}/export/repo");
    let be = open_wrapped(
        &Location::parse(&url).unwrap(),
        &BackendOptions::default(),
        // Up to about 10 s of retries: the server starts after 300 ms, but
        // a loaded machine may take much longer to get it listening.
        RetryPolicy {
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            ..RetryPolicy::fast(1000)
        },
        None,
    )
    .unwrap();
    let root = dir.path().to_path_buf();
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        NfsServer::start_on(&root, port)
    });
    be.create().unwrap();
    be.write(FileType::Key, "k", b"v").unwrap();
    let _server = late.join().unwrap();
    assert!(dir.path().join("repo/keys/k").is_file());
}

#[test]
fn a_restarted_server_is_found_again_with_fresh_handles() {
    let dir = tempfile::tempdir().unwrap();
    let server = NfsServer::start(dir.path());
    let port = server.port;
    let retries = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = retries.clone();
    let be = open_wrapped(
        &Location::parse(&server.url("repo")).unwrap(),
        &BackendOptions::default(),
        RetryPolicy::fast(20),
        Some(Arc::new(move |_: &str, e: &BackendError, _: Duration| {
            seen.lock().unwrap().push(e.to_string());
        })),
    )
    .unwrap();
    be.create().unwrap();
    be.write(FileType::Key, "k1", b"before").unwrap();
    drop(server);
    // A new server generation: the old connections and handles are dead.
    let _server = NfsServer::start_on(dir.path(), port);
    assert_eq!(be.read(FileType::Key, "k1").unwrap(), b"before");
    be.write(FileType::Key, "k2", b"after").unwrap();
    assert_eq!(be.list(FileType::Key).unwrap().len(), 2);
    let retries = retries.lock().unwrap();
    assert!(!retries.is_empty(), "the restart went unnoticed");
}

#[test]
fn a_server_that_never_answers_times_out() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let hold = std::thread::spawn(move || {
        let (conn, _) = silent.accept().unwrap();
        std::thread::sleep(Duration::from_secs(4));
        drop(conn);
    });
    let url = format!("nfs://127.0.0.1:{port}/export/repo");
    let start = Instant::now();
    let err = backend(&url, &["nfs.timeout=1"])
        .list(FileType::Index)
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(err.to_string().contains("did not answer in time"), "{err}");
    assert!(err.is_transient());
    hold.join().unwrap();
}

#[test]
fn unreachable_servers_and_refused_exports_fail_fast_in_one_line() {
    // Nothing listens on that port.
    let port = free_port();
    let url = format!("nfs://127.0.0.1:{port}/export/repo");
    let start = Instant::now();
    let err = backend(&url, &[]).list(FileType::Snapshot).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{url}: ")), "{msg}");
    assert!(msg.contains("refused"), "{msg}");
    assert!(!msg.contains('\n'));
    assert!(err.is_transient(), "a server may come up: retried");

    // A server that exports nothing under that path.
    let dir = tempfile::tempdir().unwrap();
    let server = NfsServer::start(dir.path());
    let url = format!("nfs://127.0.0.1:{}/elsewhere/repo", server.port);
    let err = backend(&url, &[]).list(FileType::Snapshot).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{url}: ")), "{msg}");
    assert!(msg.contains("exports no folder"), "{msg}");
    assert!(!err.is_transient());
    assert!(
        !err.is_not_found(),
        "a missing export is not a missing file"
    );

    // Bad options are refused when opening.
    let mut opts = BackendOptions::default();
    opts.set_extended(&["nfs.bogus=1"]).unwrap();
    let err = open(&Location::parse(&url).unwrap(), &opts)
        .err()
        .expect("nfs.bogus is refused");
    assert_eq!(err.to_string(), "option nfs.bogus is not known");
}

fn repo_with_server() -> (tempfile::TempDir, NfsServer, Arc<dyn Backend>) {
    let dir = tempfile::tempdir().unwrap();
    let server = NfsServer::start(dir.path());
    let be = backend(&server.url("p"), &[]);
    be.create().unwrap();
    (dir, server, be)
}

fn on_disk(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join("p/data").join(&name[..2]).join(name)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Sizes around the 1 MiB transfer size, any range inside.
    #[test]
    fn writes_and_ranges_round_trip(
        size in prop_oneof![0usize..5000, (1usize << 20) - 3..(1 << 20) + 3, 0usize..2_500_000],
        seed in any::<u8>(),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let (dir, _server, be) = REPO.with(|r| r.clone());
        let data: Vec<u8> = (0..size).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
        let name = format!("{seed:02x}{size:08x}");
        be.write(FileType::Pack, &name, &data).unwrap();
        prop_assert_eq!(&on_disk(dir.path(), &name), &data);
        prop_assert_eq!(&be.read(FileType::Pack, &name).unwrap(), &data);
        let (x, y) = (a.index(size + 1), b.index(size + 1));
        let (lo, hi) = (x.min(y), x.max(y));
        let got = be.read_range(FileType::Pack, &name, lo as u64, (hi - lo) as u64).unwrap();
        prop_assert_eq!(&got[..], &data[lo..hi]);
        prop_assert_eq!(be.stat(FileType::Pack, &name).unwrap().size, size as u64);
    }
}

thread_local! {
    static REPO: (Arc<tempfile::TempDir>, Arc<NfsServer>, Arc<dyn Backend>) = {
        let (d, s, b) = repo_with_server();
        (Arc::new(d), Arc::new(s), b)
    };
}

#[test]
fn nfs_works_from_inside_tokio_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let server = NfsServer::start(dir.path());
    let url = server.url("repo");
    backend(&url, &[]).create().unwrap();
    support::in_tokio_tasks(move || backend(&url, &[]));
}
