//! SIGINT and SIGTERM stop every long command within a second or two,
//! with restic's exit code 130 and no lock left behind; SIGHUP (which
//! restic's `unlock` sends to probe lock owners on the same host) is
//! ignored. The commands are made long deterministically: `backup --stdin`
//! reads a pipe the test keeps open, the others run with
//! `--limit-download`/`--limit-upload` throttled to a few KiB/s.

mod common;

use common::process::{free_port, noise, serve_command, wait_for_port};
use common::{Fixture, Tool};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The longest a command may take to exit after SIGINT/SIGTERM (the goal
/// is one second; the margin is for a loaded CI machine).
const STOP_WITHIN: Duration = Duration::from_secs(2);

/// Throttles that make any command reading or writing the fixture take
/// minutes.
const SLOW_DOWN: [&str; 2] = ["--limit-download", "4"];
const SLOW_UP: [&str; 2] = ["--limit-upload", "4"];

/// A started command.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Repositories whose `locks/` must end up empty.
    repos: Vec<PathBuf>,
    what: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(f: &Fixture, args: &[&str], stdin: bool) -> Running {
    let mut child = f
        .command(Tool::Cairn)
        // A cache filled by an earlier run would make reads unthrottled.
        .arg("--no-cache")
        .args(args)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    Running {
        child,
        stdin,
        repos: vec![f.repo.clone()],
        what: format!("cairn {}", args.join(" ")),
    }
}

fn lock_files(repo: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(repo.join("locks"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl Running {
    /// Waits until every repository holds a lock of this command, then a
    /// little longer so that the command is at work.
    fn wait_until_locked(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.repos.iter().any(|r| lock_files(r).is_empty()) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} ended before locking: {status}", self.what);
            }
            assert!(Instant::now() < deadline, "{} took no lock", self.what);
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "{} is not long enough for this test",
            self.what
        );
    }

    fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Waits for the exit, at most `limit`; returns the status, the time
    /// taken and stderr.
    fn wait_exit(&mut self, limit: Duration) -> (ExitStatus, Duration, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let elapsed = started.elapsed();
                let mut stderr = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut stderr);
                }
                return (status, elapsed, stderr);
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} still running {limit:?} after the signal", self.what);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `name` (INT or TERM) and checks the prompt, clean stop.
    fn assert_stops_on(&mut self, name: &str) {
        self.signal(name);
        let (status, took, stderr) = self.wait_exit(STOP_WITHIN + Duration::from_secs(8));
        let what = format!(
            "{} after SIG{name}: {status} in {took:?}\n{stderr}",
            self.what
        );
        assert_eq!(status.code(), Some(130), "{what}");
        assert!(took <= STOP_WITHIN, "too slow: {what}");
        assert!(!stderr.contains("panicked"), "{what}");
        for repo in &self.repos {
            assert_eq!(lock_files(repo), Vec::<String>::new(), "lock left: {what}");
        }
    }

    /// Sends SIGHUP and checks that the command keeps running.
    fn assert_ignores_hup(&mut self) {
        self.signal("HUP");
        std::thread::sleep(Duration::from_millis(800));
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} stopped on SIGHUP: {status}", self.what);
        }
    }

    /// Either SIGTERM stops the command, or (`hup_first`) SIGHUP does not
    /// and then SIGINT does.
    fn assert_stops(&mut self, hup_first: bool) {
        if hup_first {
            self.assert_ignores_hup();
            self.assert_stops_on("INT");
        } else {
            self.assert_stops_on("TERM");
        }
    }
}

/// Runs the command twice: SIGTERM stops it; SIGHUP does not, then
/// SIGINT does.
fn check_command(f: &Fixture, args: &[&str], extra_repo: Option<&PathBuf>) {
    for hup_first in [false, true] {
        let mut run = start(f, args, false);
        run.repos.extend(extra_repo.cloned());
        run.wait_until_locked();
        run.assert_stops(hup_first);
    }
}

#[test]
fn backup_stdin_waiting_for_input() {
    let f = Fixture::new("v2");
    for signal in ["INT", "TERM"] {
        let mut run = start(&f, &["backup", "--stdin"], true);
        run.stdin
            .as_mut()
            .unwrap()
            .write_all(b"some input")
            .unwrap();
        run.wait_until_locked();
        run.assert_stops_on(signal);
    }
}

#[test]
fn backup_stdin_ignores_hup_and_finishes() {
    let f = Fixture::new("v2");
    let count = || {
        f.cairn(["snapshots", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    let before = count();
    let mut run = start(&f, &["backup", "--stdin"], true);
    run.stdin
        .as_mut()
        .unwrap()
        .write_all(b"first part ")
        .unwrap();
    run.wait_until_locked();
    run.assert_ignores_hup();
    let mut stdin = run.stdin.take().unwrap();
    stdin.write_all(b"second part").unwrap();
    drop(stdin);
    let (status, _, stderr) = run.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(count(), before + 1);
    assert_eq!(lock_files(&f.repo), Vec::<String>::new());
}

#[test]
fn backup_of_a_tree() {
    let f = Fixture::new("v2");
    let src = f.scratch("src");
    for i in 0..4 {
        std::fs::write(
            src.join(format!("f{i}")),
            noise(256 << 10, 0x2545_f491_4f6c_dd1d),
        )
        .unwrap();
    }
    let src = src.to_str().unwrap();
    check_command(&f, &[SLOW_UP[0], SLOW_UP[1], "backup", src], None);
}

#[test]
fn check_read_data() {
    let f = Fixture::new("v2");
    check_command(
        &f,
        &[SLOW_DOWN[0], SLOW_DOWN[1], "check", "--read-data"],
        None,
    );
}

#[test]
fn prune() {
    let f = Fixture::new("v2");
    check_command(&f, &[SLOW_DOWN[0], SLOW_DOWN[1], "prune"], None);
}

#[test]
fn copy() {
    let f = Fixture::new("v2");
    let dest = f.dir.path().join("dest");
    let dest_str = dest.to_str().unwrap();
    f.cairn(["init", "--repo", dest_str]).ok();
    let password = f.password_file.to_str().unwrap();
    check_command(
        &f,
        &[
            SLOW_DOWN[0],
            SLOW_DOWN[1],
            "copy",
            "--repo",
            dest_str,
            "--password-file",
            password,
            "--from-repo",
            f.repo.to_str().unwrap(),
            "--from-password-file",
            password,
        ],
        Some(&dest),
    );
}

#[test]
fn dump_ls_find() {
    let f = Fixture::new("v2");
    for args in [
        vec!["dump", "--archive", "tar", "latest", "/"],
        vec!["ls", "latest"],
        vec!["find", "*"],
    ] {
        let mut all = SLOW_DOWN.to_vec();
        all.extend(args);
        check_command(&f, &all, None);
    }
}

/// Restore stops on the interrupt flag (or, failing that, the forced exit
/// after the grace period, which also removes the lock).
#[test]
fn restore() {
    let f = Fixture::new("v2");
    for (i, hup_first) in [false, true].into_iter().enumerate() {
        let target = f.scratch(&format!("target{i}"));
        let mut run = start(
            &f,
            &[
                SLOW_DOWN[0],
                SLOW_DOWN[1],
                "restore",
                "latest",
                "--target",
                target.to_str().unwrap(),
            ],
            false,
        );
        run.wait_until_locked();
        run.assert_stops(hup_first);
    }
}

/// A second Ctrl-C ends the process at once; its lock still goes.
#[test]
fn a_second_interrupt_exits_at_once_and_removes_the_lock() {
    let f = Fixture::new("v2");
    let mut run = start(
        &f,
        &[SLOW_DOWN[0], SLOW_DOWN[1], "check", "--read-data"],
        false,
    );
    run.wait_until_locked();
    run.signal("INT");
    std::thread::sleep(Duration::from_millis(20));
    run.assert_stops_on("INT");
}

/// `cairn serve` keeps its own SIGHUP meaning (reload the htpasswd file,
/// as rest-server) and shuts down cleanly on SIGTERM.
#[test]
fn serve_reloads_on_hup_and_shuts_down_cleanly_on_term() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".htpasswd"), "").unwrap();
    let port = free_port();
    let child = serve_command(dir.path(), port)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run = Running {
        child,
        stdin: None,
        repos: Vec::new(),
        what: "cairn serve".into(),
    };
    wait_for_port(port, "cairn serve");
    run.assert_ignores_hup();
    run.signal("TERM");
    let (status, _, stderr) = run.wait_exit(Duration::from_secs(15));
    assert!(stderr.contains("Reloaded htpasswd file"), "{stderr}");
    assert!(!stderr.contains("signal interrupt"), "{stderr}");
    assert!(stderr.contains("shutdown cleanly"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}

/// A panic, on the main thread (with the lock guard leaked) or on any
/// other, removes the lock and exits with restic's crash code 2.
#[test]
fn a_panic_on_any_thread_removes_the_lock_and_exits_2() {
    let f = Fixture::new("v2");
    for (place, args) in [
        ("main", vec!["ls", "latest"]),
        ("thread", vec!["ls", "latest"]),
        ("main", vec!["backup", "--stdin"]),
        ("thread", vec!["backup", "--stdin"]),
    ] {
        let out = f
            .command(Tool::Cairn)
            .args(&args)
            .env("CAIRN_TEST_CRASH_WITH_LOCK", place)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("{args:?} panicking on {place}: {}\n{stderr}", out.status);
        assert_eq!(out.status.code(), Some(2), "{what}");
        assert!(stderr.contains("crash requested"), "{what}");
        assert_eq!(
            lock_files(&f.repo),
            Vec::<String>::new(),
            "lock left: {what}"
        );
    }
}
