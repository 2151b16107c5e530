//! The REST backend against `rclone serve restic` on 127.0.0.1 (rclone's
//! implementation of rest-server's protocol). Needs `rclone` on PATH.

mod support;

use cairn_backend::{
    Backend, BackendError, BackendOptions, FileType, LimitBackend, Location, RestBackend,
    RetryBackend, RetryPolicy,
};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{sorted as names, PACK1, PACK2};

/// A running `rclone serve restic`, killed on drop.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("rclone")
            .args(["serve", "restic", "--addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rclone must be installed (apt-get install rclone)");
        let server = Server { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rclone serve restic did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn backend(&self, userinfo: &str) -> RestBackend {
        let loc = Location::parse_with_env(
            &format!("rest:http://{userinfo}127.0.0.1:{}/", self.port),
            |_| None,
        )
        .unwrap();
        let Location::Rest(rest) = loc else {
            unreachable!()
        };
        RestBackend::new(&rest, &BackendOptions::default(), 4).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_operation_against_rclone() {
    let server = Server::start(&[]);
    let be = server.backend("");
    assert!(be.location().starts_with("rest:http://127.0.0.1:"));
    assert!(be.list(FileType::Config).unwrap().is_empty());
    be.create().unwrap();
    for d in ["data", "keys", "locks", "snapshots", "index"] {
        assert!(server.dir.path().join(d).is_dir(), "{d}");
    }
    be.write(FileType::Config, "", b"config bytes").unwrap();
    assert!(matches!(
        be.create(),
        Err(BackendError::AlreadyExists { .. })
    ));
    assert_eq!(names(&be, FileType::Config), [("config".into(), 12)]);
    assert_eq!(
        be.read(FileType::Config, "config").unwrap(),
        b"config bytes"
    );

    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    be.write(FileType::Pack, PACK1, &big).unwrap();
    be.write(FileType::Pack, PACK2, b"small").unwrap();
    be.write(FileType::Key, "k1", b"{\"key\":1}").unwrap();
    assert_eq!(
        names(&be, FileType::Pack),
        [(PACK1.into(), big.len() as u64), (PACK2.into(), 5)]
    );
    assert_eq!(names(&be, FileType::Key), [("k1".into(), 9)]);
    assert!(names(&be, FileType::Snapshot).is_empty());

    assert_eq!(be.read(FileType::Pack, PACK1).unwrap(), big);
    assert_eq!(
        be.read_range(FileType::Pack, PACK1, 1_000_001, 4096)
            .unwrap(),
        &big[1_000_001..1_004_097]
    );
    assert_eq!(
        be.read_range(FileType::Pack, PACK2, 0, 5).unwrap(),
        b"small"
    );
    assert_eq!(be.read_range(FileType::Pack, PACK2, 4, 1).unwrap(), b"l");
    assert!(be
        .read_range(FileType::Pack, PACK2, 0, 0)
        .unwrap()
        .is_empty());
    let e = be.read_range(FileType::Pack, PACK2, 3, 10).unwrap_err();
    assert!(matches!(e, BackendError::ShortRead { got: 2, .. }), "{e}");
    assert!(matches!(
        be.read_range(FileType::Pack, PACK2, 50, 10),
        Err(BackendError::ShortRead { .. })
    ));
    assert_eq!(
        be.stat(FileType::Pack, PACK1).unwrap().size,
        big.len() as u64
    );
    assert_eq!(be.stat(FileType::Config, "").unwrap().size, 12);

    be.remove(FileType::Pack, PACK2).unwrap();
    assert_eq!(names(&be, FileType::Pack).len(), 1);
    for e in [
        be.read(FileType::Pack, PACK2).unwrap_err(),
        be.read_range(FileType::Pack, PACK2, 0, 1).unwrap_err(),
        be.stat(FileType::Pack, PACK2).map(|_| ()).unwrap_err(),
        be.remove(FileType::Pack, PACK2).unwrap_err(),
    ] {
        assert!(e.is_not_found(), "{e}");
        assert_eq!(e.to_string(), format!("data/{PACK2}: not found"));
    }
    assert!(matches!(
        be.read(FileType::Key, "../config"),
        Err(BackendError::InvalidName(_))
    ));
}

#[test]
fn many_threads_through_the_wrappers() {
    let server = Server::start(&[]);
    let raw: Arc<dyn Backend> = Arc::new(server.backend(""));
    let be: Arc<dyn Backend> = Arc::new(RetryBackend::new(
        Arc::new(LimitBackend::new(raw, 3)),
        RetryPolicy::default(),
    ));
    be.create().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let be = be.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let name = format!("{t:02x}{i:062x}");
                    let data = vec![t as u8; 1000 + i];
                    be.write(FileType::Index, &name, &data).unwrap();
                    assert_eq!(be.read(FileType::Index, &name).unwrap(), data);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(be.list(FileType::Index).unwrap().len(), 80);
}

#[test]
fn credentials_are_checked_and_never_shown() {
    let server = Server::start(&["--user", "alice", "--pass", "s3cr3t-pw"]);
    let good = server.backend("alice:s3cr3t-pw@");
    good.create().unwrap();
    good.write(FileType::Key, "k", b"key").unwrap();
    assert_eq!(good.read(FileType::Key, "k").unwrap(), b"key");

    for userinfo in ["alice:wrong-pw@", ""] {
        let bad = server.backend(userinfo);
        for e in [
            bad.read(FileType::Key, "k").unwrap_err(),
            bad.list(FileType::Key).map(|_| ()).unwrap_err(),
            bad.write(FileType::Key, "k2", b"x").unwrap_err(),
        ] {
            assert!(matches!(e, BackendError::Auth { status: 401, .. }), "{e}");
            let text = e.to_string();
            assert!(text.contains("authentication failed"), "{text}");
            assert!(
                !text.contains("wrong-pw") && !text.contains("s3cr3t"),
                "{text}"
            );
            assert!(!e.is_transient());
        }
    }
    // Not retried: the failure is immediate even with retries allowed.
    let bad = RetryBackend::new(
        Arc::new(server.backend("alice:wrong-pw@")),
        RetryPolicy::default(),
    );
    let start = Instant::now();
    assert!(bad.stat(FileType::Config, "").is_err());
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(!bad.location().contains("wrong-pw"));
}

#[test]
fn a_server_that_is_gone_fails_within_the_retry_budget() {
    let server = Server::start(&[]);
    let raw = Arc::new(server.backend(""));
    raw.create().unwrap();
    drop(server);
    let policy = RetryPolicy {
        max_elapsed: Duration::from_secs(2),
        first_contact_max_elapsed: Duration::from_secs(1),
        initial_delay: Duration::from_millis(100),
        ..RetryPolicy::default()
    };
    let be = RetryBackend::new(raw, policy);
    let start = Instant::now();
    let e = be.read(FileType::Config, "").unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(!e.to_string().contains('\n'));
}

#[test]
fn rest_works_from_inside_tokio_tasks() {
    let server = Server::start(&[]);
    server.backend("").create().unwrap();
    let repo = format!("rest:http://127.0.0.1:{}/", server.port);
    support::in_tokio_tasks(move || support::open_with::<&str>(&repo, &[]).unwrap());
}
