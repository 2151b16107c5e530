//! RetryBackend, LimitBackend and FaultBackend over a LocalBackend.

mod support;

use cairn_backend::{
    Backend, BackendError, Fault, FaultBackend, FileType, LimitBackend, LocalBackend, Op,
    RetryBackend, RetryPolicy,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn local() -> (tempfile::TempDir, Arc<dyn Backend>) {
    let dir = tempfile::tempdir().unwrap();
    let be = LocalBackend::new(dir.path().join("repo"));
    be.create().unwrap();
    (dir, Arc::new(be))
}

fn faulty() -> (tempfile::TempDir, Arc<FaultBackend>) {
    let (dir, be) = local();
    (dir, Arc::new(FaultBackend::new(be)))
}

#[test]
fn transient_failures_are_retried_until_success() {
    let (_d, fault) = faulty();
    fault.inject_range(Op::Write, 1, 3, Fault::Fail);
    fault.inject_range(Op::Read, 1, 2, Fault::Fail);
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    let be = RetryBackend::new(fault.clone(), RetryPolicy::fast(5)).with_report(Arc::new(
        move |op: &str, e: &BackendError, _d: Duration| {
            r.lock().unwrap().push(format!("{op}: {e}"));
        },
    ));
    // Retries are reported once the backend has answered once.
    be.list(FileType::Key).unwrap();
    be.write(FileType::Snapshot, "aa", b"data").unwrap();
    assert_eq!(fault.count(Op::Write), 4);
    assert_eq!(be.read(FileType::Snapshot, "aa").unwrap(), b"data");
    assert_eq!(fault.count(Op::Read), 3);
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 5, "{reports:?}");
    assert!(
        reports[0].starts_with("Save(<snapshots/aa>)"),
        "{}",
        reports[0]
    );
}

#[test]
fn attempts_are_bounded() {
    let (_d, fault) = faulty();
    fault.inject_range(Op::Stat, 1, u64::MAX, Fault::Fail);
    let be = RetryBackend::new(fault.clone(), RetryPolicy::fast(4));
    let e = be.stat(FileType::Key, "k").unwrap_err();
    assert!(e.is_transient());
    assert_eq!(fault.count(Op::Stat), 4);
}

#[test]
fn total_time_is_bounded() {
    let (_d, fault) = faulty();
    fault.inject_range(Op::List, 1, u64::MAX, Fault::Fail);
    let policy = RetryPolicy {
        max_attempts: 1000,
        initial_delay: Duration::from_millis(50),
        multiplier: 2.0,
        max_delay: Duration::from_secs(1),
        max_elapsed: Duration::from_millis(400),
        first_contact_max_elapsed: Duration::from_secs(60),
        jitter: 0.0,
    };
    let be = RetryBackend::new(fault.clone(), policy);
    let start = Instant::now();
    assert!(be.list(FileType::Index).is_err());
    // No wait starts that would end past 400 ms (slack for a busy machine).
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    // Waits of 50 + 100 + 200 ms fit in 400 ms, a fourth of 400 never does.
    let tries = fault.count(Op::List);
    assert!((2..=4).contains(&tries), "{tries}");
}

#[test]
fn first_contact_fails_fast_and_later_failures_get_the_full_budget() {
    let (_d, fault) = faulty();
    let policy = RetryPolicy {
        max_attempts: 100,
        initial_delay: Duration::from_millis(20),
        multiplier: 1.0,
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_millis(600),
        first_contact_max_elapsed: Duration::from_millis(100),
        jitter: 0.0,
    };
    let be = RetryBackend::new(fault.clone(), policy);
    fault.inject_range(Op::Stat, 1, u64::MAX, Fault::Fail);
    let start = Instant::now();
    assert!(be.stat(FileType::Config, "config").is_err());
    assert!(start.elapsed() < Duration::from_millis(300));
    fault.clear();
    be.list(FileType::Key).unwrap();
    fault.inject_range(Op::Stat, 1, u64::MAX, Fault::Fail);
    let start = Instant::now();
    assert!(be.stat(FileType::Config, "config").is_err());
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn permanent_errors_are_not_retried() {
    let (_d, fault) = faulty();
    let be = RetryBackend::new(fault.clone(), RetryPolicy::fast(10));
    assert!(be
        .read(FileType::Index, "missing")
        .unwrap_err()
        .is_not_found());
    assert_eq!(fault.count(Op::Read), 1);
    assert!(be
        .remove(FileType::Index, "missing")
        .unwrap_err()
        .is_not_found());
    assert_eq!(fault.count(Op::Remove), 1);
    be.write(FileType::Index, "ii", b"abc").unwrap();
    let e = be.read_range(FileType::Index, "ii", 1, 10).unwrap_err();
    assert!(matches!(e, BackendError::ShortRead { got: 2, .. }), "{e}");
    assert_eq!(fault.count(Op::ReadRange), 1);
    fault.inject(Op::Stat, 1, Fault::FailPermanent);
    assert!(be.stat(FileType::Index, "ii").is_err());
    assert_eq!(fault.count(Op::Stat), 1);
    be.write(FileType::Config, "", b"cfg").unwrap();
    assert!(matches!(
        be.create(),
        Err(BackendError::AlreadyExists { .. })
    ));
    assert_eq!(fault.count(Op::Create), 1);
}

/// A store that refuses to overwrite, like rest-server.
struct NoReplace(Arc<FaultBackend>);

impl Backend for NoReplace {
    fn location(&self) -> String {
        self.0.location()
    }
    fn create(&self) -> cairn_backend::Result<()> {
        self.0.create()
    }
    fn list(&self, t: FileType) -> cairn_backend::Result<Vec<cairn_backend::FileInfo>> {
        self.0.list(t)
    }
    fn read(&self, t: FileType, n: &str) -> cairn_backend::Result<Vec<u8>> {
        self.0.read(t, n)
    }
    fn read_range(&self, t: FileType, n: &str, o: u64, l: u64) -> cairn_backend::Result<Vec<u8>> {
        self.0.read_range(t, n, o, l)
    }
    fn write(&self, t: FileType, n: &str, d: &[u8]) -> cairn_backend::Result<()> {
        if self.0.stat(t, n).is_ok() {
            return Err(BackendError::AlreadyExists { what: n.into() });
        }
        self.0.write(t, n, d)?;
        // The answer of the first upload gets lost.
        if self.0.count(Op::Write) == 1 {
            return Err(BackendError::Http {
                status: 502,
                context: "lost answer".into(),
            });
        }
        Ok(())
    }
    fn remove(&self, t: FileType, n: &str) -> cairn_backend::Result<()> {
        self.0.remove(t, n)
    }
    fn stat(&self, t: FileType, n: &str) -> cairn_backend::Result<cairn_backend::FileInfo> {
        self.0.stat(t, n)
    }
    fn has_atomic_replace(&self) -> bool {
        false
    }
}

#[test]
fn a_retried_upload_to_a_store_that_refuses_overwrites_removes_first() {
    let (_d, fault) = faulty();
    let be = RetryBackend::new(Arc::new(NoReplace(fault.clone())), RetryPolicy::fast(3));
    be.write(FileType::Pack, "abcd", b"pack").unwrap();
    assert_eq!(fault.count(Op::Write), 2);
    assert_eq!(fault.count(Op::Remove), 1);
    assert_eq!(be.read(FileType::Pack, "abcd").unwrap(), b"pack");
}

#[test]
fn limit_bounds_operations_in_flight() {
    let (_d, fault) = faulty();
    fault.inject_range(
        Op::Write,
        1,
        u64::MAX,
        Fault::Hang(Duration::from_millis(30)),
    );
    let inflight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));

    /// Counts concurrent calls reaching the inner store.
    struct Gauge(Arc<FaultBackend>, Arc<AtomicUsize>, Arc<AtomicUsize>);
    impl Backend for Gauge {
        fn location(&self) -> String {
            self.0.location()
        }
        fn create(&self) -> cairn_backend::Result<()> {
            self.0.create()
        }
        fn list(&self, t: FileType) -> cairn_backend::Result<Vec<cairn_backend::FileInfo>> {
            self.0.list(t)
        }
        fn read(&self, t: FileType, n: &str) -> cairn_backend::Result<Vec<u8>> {
            self.0.read(t, n)
        }
        fn read_range(
            &self,
            t: FileType,
            n: &str,
            o: u64,
            l: u64,
        ) -> cairn_backend::Result<Vec<u8>> {
            self.0.read_range(t, n, o, l)
        }
        fn write(&self, t: FileType, n: &str, d: &[u8]) -> cairn_backend::Result<()> {
            let now = self.1.fetch_add(1, Ordering::SeqCst) + 1;
            self.2.fetch_max(now, Ordering::SeqCst);
            let r = self.0.write(t, n, d);
            self.1.fetch_sub(1, Ordering::SeqCst);
            r
        }
        fn remove(&self, t: FileType, n: &str) -> cairn_backend::Result<()> {
            self.0.remove(t, n)
        }
        fn stat(&self, t: FileType, n: &str) -> cairn_backend::Result<cairn_backend::FileInfo> {
            self.0.stat(t, n)
        }
    }

    let gauge = Arc::new(Gauge(fault.clone(), inflight, peak.clone()));
    let be = Arc::new(LimitBackend::new(gauge, 3));
    assert_eq!(be.limit(), 3);
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let be = be.clone();
            std::thread::spawn(move || be.write(FileType::Lock, &format!("l{i}"), b"x").unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(be.list(FileType::Lock).unwrap().len(), 12);
}

#[test]
fn faults_truncate_hang_and_target_the_nth_operation() {
    let (_d, fault) = faulty();
    fault.write(FileType::Key, "k1", b"0123456789").unwrap();
    fault.write(FileType::Key, "k2", b"abc").unwrap();
    fault.inject(Op::Read, 2, Fault::Truncate(4));
    assert_eq!(fault.read(FileType::Key, "k1").unwrap(), b"0123456789");
    assert_eq!(fault.read(FileType::Key, "k1").unwrap(), b"0123");
    assert_eq!(fault.read(FileType::Key, "k1").unwrap(), b"0123456789");
    fault.inject(Op::ReadRange, 1, Fault::Truncate(1));
    assert_eq!(fault.read_range(FileType::Key, "k1", 2, 3).unwrap(), b"2");
    fault.inject(Op::List, 1, Fault::Truncate(1));
    assert_eq!(fault.list(FileType::Key).unwrap().len(), 1);
    assert_eq!(fault.list(FileType::Key).unwrap().len(), 2);
    // A lying store: keeps 2 bytes and says it stored them all.
    fault.inject(Op::Write, 3, Fault::Truncate(2));
    fault.write(FileType::Key, "k3", b"xyz").unwrap();
    assert_eq!(fault.stat(FileType::Key, "k3").unwrap().size, 2);
    fault.inject(Op::Stat, 2, Fault::Hang(Duration::from_millis(150)));
    let start = Instant::now();
    fault.stat(FileType::Key, "k3").unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150));
    fault.inject(Op::Remove, 1, Fault::FailPermanent);
    assert!(!fault
        .remove(FileType::Key, "k3")
        .unwrap_err()
        .is_transient());
    fault.remove(FileType::Key, "k3").unwrap();
    fault.inject(Op::Create, 1, Fault::Fail);
    assert!(fault.create().is_err());
}

#[test]
fn local_folders_with_every_wrapper_work_from_inside_tokio_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo").to_str().unwrap().to_string();
    let opts = || {
        let mut o = cairn_backend::BackendOptions {
            limit_upload: Some(1 << 30),
            limit_download: Some(1 << 30),
            ..Default::default()
        };
        o.set_extended(&["local.connections=2"]).unwrap();
        o
    };
    let open = move || {
        let loc = cairn_backend::Location::parse(&repo).unwrap();
        cairn_backend::open_wrapped(&loc, &opts(), RetryPolicy::default(), None).unwrap()
    };
    open().create().unwrap();
    support::in_tokio_tasks(open);
}
