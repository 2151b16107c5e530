//! `cairn` and restic 0.14 sharing a repository on a REST server
//! (`rclone serve restic` on 127.0.0.1): each writes, the other reads and
//! checks. Also: an unreachable server and wrong credentials give one
//! clear error line and a non-zero exit, quickly, without the password.
//!
//! Needs `rclone` and `restic` (or `$CAIRN_TEST_RESTIC`) installed.

#[path = "remote_support/mod.rs"]
mod remote_support;

use remote_support::process::{free_port, wait_for_port};
use remote_support::{
    cairn, error_lines, make_source, ok, restic_bin, restored_path, run, same_tree,
};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `rclone serve restic`, killed on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
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
        wait_for_port(port, "rclone serve restic");
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

#[test]
fn cairn_writes_restic_reads_over_rest() {
    let server = Server::start(&[]);
    remote_support::cairn_writes_restic_reads(&server.url(""), &[]);
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
fn unknown_extended_options_and_unknown_schemes_are_refused() {
    let out = run(
        &cairn(),
        "rest:http://127.0.0.1:1/",
        &["-o", "rest.bogus=1", "snapshots"],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("option rest.bogus is not known"));
    let out = run(&cairn(), "foo:bar", &["snapshots"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`local:` prefix"));
}
