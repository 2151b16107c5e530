//! `cairn` and restic 0.14 sharing a repository on a REST server
//! (`rclone serve restic` on 127.0.0.1): each writes, the other reads and
//! checks. Also: an unreachable server and wrong credentials give one
//! clear error line and a non-zero exit, quickly, without the password.
//!
//! Needs `rclone` and `restic` (or `$CAIRN_TEST_RESTIC`) installed.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

/// A running `rclone serve restic`, killed on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("rclone")
            .args(["serve", "restic", "--addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rclone must be installed (apt-get install rclone)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rclone serve restic did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            child,
            port,
            _dir: dir,
        }
    }

    fn url(&self, userinfo: &str) -> String {
        format!("rest:http://{userinfo}127.0.0.1:{}/repo/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn restic_bin() -> PathBuf {
    std::env::var_os("CAIRN_TEST_RESTIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("restic"))
}

fn run(program: &Path, repo: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(program);
    cmd.arg("-r")
        .arg(repo)
        .arg("--cache-dir")
        .arg(cache.path())
        .args(args)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_REPOSITORY_FILE")
        .env_remove("RESTIC_PASSWORD_FILE")
        .env_remove("RESTIC_PASSWORD_COMMAND")
        .env_remove("RESTIC_REST_USERNAME")
        .env_remove("RESTIC_REST_PASSWORD")
        .env("RESTIC_PASSWORD", PASSWORD)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cairn() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cairn"))
}

/// A small tree with a large file (several packs' worth of chunks would
/// take long; a few MiB spans many blobs), small files and folders.
fn make_source(root: &Path) -> PathBuf {
    let src = root.join("src");
    fs::create_dir_all(src.join("sub/deeper")).unwrap();
    let mut big = Vec::with_capacity(6 << 20);
    let mut x: u64 = 0x9e3779b97f4a7c15;
    while big.len() < (6 << 20) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(src.join("big.bin"), &big).unwrap();
    fs::write(src.join("hello.txt"), b"hello over REST\n").unwrap();
    fs::write(src.join("sub/empty"), b"").unwrap();
    for i in 0..20 {
        fs::write(src.join(format!("sub/deeper/f{i}")), format!("file {i}\n")).unwrap();
    }
    src
}

/// Asserts that `restored` holds the same folders and file contents.
fn same_tree(src: &Path, restored: &Path) {
    let mut n = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(src.join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let rel = rel.join(entry.file_name());
            let (a, b) = (src.join(&rel), restored.join(&rel));
            if entry.file_type().unwrap().is_dir() {
                assert!(b.is_dir(), "{} missing", b.display());
                stack.push(rel);
            } else {
                assert_eq!(
                    fs::read(&a).unwrap(),
                    fs::read(&b).unwrap(),
                    "{}",
                    rel.display()
                );
                n += 1;
            }
        }
    }
    assert_eq!(n, 23);
}

fn restored_path(target: &Path, src: &Path) -> PathBuf {
    target.join(src.strip_prefix("/").unwrap())
}

#[test]
fn cairn_writes_restic_reads_over_rest() {
    let server = Server::start(&[]);
    let repo = server.url("");
    let work = tempfile::tempdir().unwrap();
    let src = make_source(work.path());

    ok(run(&cairn(), &repo, &["init"], &[]), "cairn init");
    ok(
        run(&cairn(), &repo, &["backup", src.to_str().unwrap()], &[]),
        "cairn backup",
    );
    let t1 = work.path().join("t1");
    ok(
        run(
            &cairn(),
            &repo,
            &["restore", "latest", "--target", t1.to_str().unwrap()],
            &[],
        ),
        "cairn restore",
    );
    same_tree(&src, &restored_path(&t1, &src));

    ok(
        run(&restic_bin(), &repo, &["check", "--read-data"], &[]),
        "restic check --read-data",
    );
    let t2 = work.path().join("t2");
    ok(
        run(
            &restic_bin(),
            &repo,
            &["restore", "latest", "--target", t2.to_str().unwrap()],
            &[],
        ),
        "restic restore",
    );
    same_tree(&src, &restored_path(&t2, &src));
}

#[test]
fn restic_writes_cairn_reads_over_rest_with_credentials_from_the_environment() {
    let server = Server::start(&["--user", "bob", "--pass", "hunter2-xyz"]);
    let repo = server.url("");
    let creds = [
        ("RESTIC_REST_USERNAME", "bob"),
        ("RESTIC_REST_PASSWORD", "hunter2-xyz"),
    ];
    let work = tempfile::tempdir().unwrap();
    let src = make_source(work.path());
    // restic 0.14 does not read RESTIC_REST_*: give it the URL form.
    let with_creds = server.url("bob:hunter2-xyz@");
    ok(
        run(&restic_bin(), &with_creds, &["init"], &[]),
        "restic init",
    );
    ok(
        run(
            &restic_bin(),
            &with_creds,
            &["backup", src.to_str().unwrap()],
            &[],
        ),
        "restic backup",
    );

    let out = ok(
        run(&cairn(), &repo, &["snapshots", "--json"], &creds),
        "cairn snapshots",
    );
    let snaps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snaps.as_array().map(Vec::len), Some(1), "{snaps}");
    ok(
        run(&cairn(), &with_creds, &["check", "--read-data"], &[]),
        "cairn check --read-data",
    );
    let t = work.path().join("t");
    ok(
        run(
            &cairn(),
            &repo,
            &["restore", "latest", "--target", t.to_str().unwrap()],
            &creds,
        ),
        "cairn restore",
    );
    same_tree(&src, &restored_path(&t, &src));
}

/// The lines on stderr that are not empty.
fn error_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn an_unreachable_server_fails_quickly_with_one_line() {
    let port = free_port(); // nothing listens there any more
    let repo = format!("rest:http://user:topsecret-pw@127.0.0.1:{port}/");
    let start = Instant::now();
    let out = run(&cairn(), &repo, &["snapshots"], &[]);
    let took = start.elapsed();
    assert!(!out.status.success());
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(!lines[0].contains("topsecret"), "{}", lines[0]);
    assert!(
        lines[0].to_lowercase().contains("connect"),
        "should say the connection failed: {}",
        lines[0]
    );
}

#[test]
fn wrong_credentials_fail_clearly_without_the_password() {
    let server = Server::start(&["--user", "carol", "--pass", "right-pw-123"]);
    ok(
        run(&cairn(), &server.url("carol:right-pw-123@"), &["init"], &[]),
        "cairn init",
    );
    for (repo, env) in [
        (server.url("carol:wrong-pw-456@"), vec![]),
        (
            server.url(""),
            vec![
                ("RESTIC_REST_USERNAME", "carol"),
                ("RESTIC_REST_PASSWORD", "wrong-pw-456"),
            ],
        ),
    ] {
        let start = Instant::now();
        let out = run(&cairn(), &repo, &["snapshots"], &env);
        assert!(!out.status.success());
        assert!(start.elapsed() < Duration::from_secs(10));
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("authentication failed"), "{}", lines[0]);
        assert!(!lines[0].contains("wrong-pw"), "{}", lines[0]);
        assert!(!lines[0].contains("right-pw"), "{}", lines[0]);
    }
}

#[test]
fn unknown_extended_options_and_unsupported_schemes_are_refused() {
    let out = run(
        &cairn(),
        "rest:http://127.0.0.1:1/",
        &["-o", "rest.bogus=1", "snapshots"],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("option rest.bogus is not known"));
    let out = run(&cairn(), "gs:bucket:/prefix", &["snapshots"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gs backend is not supported yet"));
    let out = run(&cairn(), "foo:bar", &["snapshots"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`local:` prefix"));
}
