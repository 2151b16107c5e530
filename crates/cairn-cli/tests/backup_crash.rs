//! A `cairn backup` killed at any moment leaves a repository restic accepts:
//! SIGKILL at pseudo-random moments (fixed seed) during the backup of a
//! ~100 MiB tree, each followed by `restic unlock` (the killed process's
//! lock is stale) and `restic check`; SIGINT must make Cairn exit 130 and
//! remove its lock; finally a backup runs to the end, `restic check
//! --read-data` passes and the snapshot restores to the source tree.

#[macro_use]
mod common;
#[path = "backup_support/mod.rs"]
mod backup_support;

use std::fs;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use backup_support::fstree::{build_random_files, prng, write};
use backup_support::Repo;
use common::Tool;

/// Files of the tree: 40 x 2.5 MiB random plus 300 small ones.
const BIG_FILES: usize = 40;
const KILLS: usize = 10;
const INTERRUPTS: usize = 3;

/// Small deterministic generator for the delays.
struct Lcg(u64);
impl Lcg {
    fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn spawn_backup(r: &Repo, src: &std::path::Path, log: &std::path::Path) -> Child {
    r.command(Tool::Cairn)
        .args(["backup".as_ref(), "--force".as_ref(), src.as_os_str()])
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).unwrap())
        .spawn()
        .expect("start cairn")
}

/// Waits for `child` at most `limit`; kills it and fails on timeout.
fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: cairn did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sleeps up to `d`, returning early (true) if the child exited.
fn sleep_or_exit(child: &mut Child, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn killed_backups_leave_a_valid_repository() {
    let started = Instant::now();
    let r = Repo::init("crash", Tool::Cairn, 2);
    let src = r.path("src");
    build_random_files(&src, BIG_FILES, 5 << 19, 1);
    for i in 0..300 {
        write(
            &src.join(format!("small/s{}/f{i}", i % 10)),
            format!("small file {i}\n").as_bytes(),
        );
    }
    let log = r.path("cairn.log");
    let show_log = || fs::read_to_string(&log).unwrap_or_default();

    // how long a whole backup takes here (a dry run reads and chunks all)
    let t0 = Instant::now();
    r.cairn(["backup".as_ref(), "--dry-run".as_ref(), src.as_os_str()])
        .ok();
    let full = t0.elapsed().max(Duration::from_secs(1));
    eprintln!("dry run took {full:?}");
    let limit = full * 10 + Duration::from_secs(60);

    let mut rng = Lcg(0x5eed_ca1e);
    // Signals land between right after the start and just past the
    // expected end; a backup that finishes first does not count, and
    // shrinks the time scale (the dry run is only an estimate).
    let mut scale = full;
    let (mut kills, mut interrupts, mut completed) = (0, 0, 0);
    for round in 0.. {
        if kills == KILLS && interrupts == INTERRUPTS {
            break;
        }
        assert!(
            round < 3 * (KILLS + INTERRUPTS),
            "the backups keep finishing before the signal"
        );
        let interrupt = kills == KILLS;
        let frac = if interrupt {
            0.1 + 0.6 * rng.next_f64()
        } else {
            0.02 + 1.0 * rng.next_f64()
        };
        let delay = scale.mul_f64(frac);
        let mut child = spawn_backup(&r, &src, &log);
        let what = if sleep_or_exit(&mut child, delay) {
            let st = child.wait().unwrap();
            assert!(
                st.success(),
                "round {round}: backup failed: {st}\n{}",
                show_log()
            );
            completed += 1;
            scale = scale.mul_f64(0.7);
            // new content, so that the next rounds write packs again
            for i in 0..8 {
                let f = src.join(format!("d{}/f{:03}.bin", i % 4, i * 4 + i % 4));
                fs::write(&f, prng(5 << 19, 1000 + round as u64 * 10 + i as u64)).unwrap();
            }
            "finished before"
        } else if interrupt {
            // SAFETY: plain kill(2) on our own child.
            assert_eq!(
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
                0
            );
            let st = wait_bounded(&mut child, Duration::from_secs(60), "after SIGINT");
            assert_eq!(
                st.code(),
                Some(130),
                "round {round}: SIGINT after {delay:?} must exit 130, got {st}\n{}",
                show_log()
            );
            let locks = r.repo_files("locks");
            assert!(
                locks.is_empty(),
                "round {round}: SIGINT left lock(s) {locks:?}"
            );
            interrupts += 1;
            "SIGINT"
        } else {
            child.kill().unwrap();
            child.wait().unwrap();
            r.restic(["unlock"]).ok();
            kills += 1;
            "SIGKILL"
        };
        eprintln!("round {round}: {what} after {delay:?}");
        r.check(false);
    }
    eprintln!("{completed} backups finished before the signal");

    // a backup that runs to the end
    let mut child = spawn_backup(&r, &src, &log);
    let st = wait_bounded(&mut child, limit, "final backup");
    assert!(
        st.success(),
        "final backup failed after the crashes: {st}\n{}",
        show_log()
    );
    assert!(
        r.repo_files("locks").is_empty(),
        "lock left after a successful backup"
    );
    r.check(true);
    let last = r.snapshots().pop().expect("a snapshot");
    let id = last["id"].as_str().unwrap().to_owned();
    r.assert_restores(Tool::Restic, &id, &src, &src);
    eprintln!("crash test took {:?}", started.elapsed());
}
