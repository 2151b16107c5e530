//! A restore stops promptly once asked to, in every pass, and fails with
//! `Error::Interrupted`. These tests use their own stop flag; the process
//! flag set by signals is tested in `tests/restore_interrupt.rs`.

use super::tests::{file, Fake};
use super::*;
use crate::NoProgress;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn opts(target: &Path) -> RestoreOptions {
    RestoreOptions {
        target: target.to_path_buf(),
        ..RestoreOptions::default()
    }
}

/// `n` files of one blob each, every blob in a pack of its own.
fn many_packs(fake: &mut Fake, n: usize) -> Id {
    let chunks: Vec<Vec<u8>> = (0..n).map(|i| format!("blob {i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    let ids = fake.blobs(&refs, 1);
    let nodes = (0..n)
        .map(|i| file(format!("f{i}").as_bytes(), vec![ids[i]], &[refs[i]]))
        .collect();
    fake.tree(nodes)
}

#[test]
fn stops_before_touching_the_target_while_planning() {
    let mut fake = Fake::default();
    let root = many_packs(&mut fake, 3);
    let tmp = tempfile::tempdir().unwrap();
    let r = fake.restore_until(&root, &opts(tmp.path()), &NoProgress, &|| true);
    assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    assert_eq!(fake.reads.load(Ordering::Relaxed), 0);
}

#[test]
fn stops_within_a_second_while_fetching() {
    let mut fake = Fake::default();
    let root = many_packs(&mut fake, 200);
    // 200 reads of 50 ms with two readers: ten seconds to the end.
    fake.read_delay = Duration::from_millis(50);
    let tmp = tempfile::tempdir().unwrap();
    let flag = AtomicBool::new(false);
    let asked = std::sync::Mutex::new(None);
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            *asked.lock().unwrap() = Some(Instant::now());
            flag.store(true, Ordering::Relaxed);
        });
        let stop = || flag.load(Ordering::Relaxed);
        fake.restore_until(&root, &opts(tmp.path()), &NoProgress, &stop)
    });
    let took = asked.lock().unwrap().expect("asked").elapsed();
    assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
    assert!(
        took < Duration::from_secs(1),
        "stopped {took:?} after the request"
    );
    assert!(fake.reads.load(Ordering::Relaxed) < 100);
}

#[test]
fn stops_in_the_finish_pass() {
    let mut fake = Fake::default();
    let root = many_packs(&mut fake, 50);
    let tmp = tempfile::tempdir().unwrap();
    /// Asks to stop once the first item is finished.
    struct StopAtFirst(AtomicBool, AtomicUsize);
    impl RestoreProgress for StopAtFirst {
        fn item(&self, _: &[u8], _: ItemAction, _: u64) {
            self.0.store(true, Ordering::Relaxed);
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }
    let p = StopAtFirst(AtomicBool::new(false), AtomicUsize::new(0));
    let stop = || p.0.load(Ordering::Relaxed);
    let mut o = opts(tmp.path());
    o.threads = 1;
    let r = fake.restore_until(&root, &o, &p, &stop);
    assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
    // The contents were all written; the metadata pass stopped early.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 50);
    assert!(p.1.load(Ordering::Relaxed) < 50);
}
