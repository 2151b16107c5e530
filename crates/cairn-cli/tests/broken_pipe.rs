//! A closed standard output (`cairn ls latest | head -1`) ends a command
//! quietly, as it ends restic (killed by SIGPIPE: exit status 141 in a
//! shell), but unlike restic never leaves a lock behind; and a socket the
//! server closes is an ordinary I/O error with a one-line message, never
//! a silent death by SIGPIPE.

mod common;

use common::process::{noise, CairnServer};
use common::{Fixture, Tool};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};

/// Runs `cairn ARGS` with stdout a pipe whose reading end is already
/// closed (the most abrupt `| head`): every write fails with EPIPE.
fn into_closed_pipe(f: &Fixture, args: &[&str]) -> (ExitStatus, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = f
        .command(Tool::Cairn)
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The quiet end: died of SIGPIPE like restic, said nothing, left no lock.
fn assert_quiet_end(f: &Fixture, args: &[&str]) {
    let (status, stderr) = into_closed_pipe(f, args);
    let what = format!("cairn {}: {status}, stderr:\n{stderr}", args.join(" "));
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{what}");
    assert!(!stderr.contains("panicked"), "{what}");
    assert!(!stderr.contains("Fatal"), "{what}");
    assert_eq!(
        f.repo_files("locks"),
        Vec::<std::path::PathBuf>::new(),
        "{what}"
    );
}

/// A file of the latest snapshot (its path as `dump` takes it).
fn some_file(f: &Fixture) -> String {
    let run = f.cairn(["ls", "--json", "latest"]).ok();
    run.json_lines()
        .into_iter()
        .find(|n| n["type"] == "file")
        .and_then(|n| n["path"].as_str().map(str::to_owned))
        .expect("the fixture's latest snapshot has a file")
}

#[test]
fn ls_find_cat_dump_into_a_closed_pipe_end_quietly_without_a_lock() {
    let f = Fixture::new("v2");
    let file = some_file(&f);
    let pack = f.cairn(["list", "packs"]).ok().stdout_str();
    let pack = pack
        .lines()
        .next()
        .expect("the fixture has packs")
        .to_owned();
    for args in [
        vec!["ls", "latest"],
        vec!["ls", "--json", "latest"],
        vec!["find", "*"],
        vec!["cat", "pack", &pack],
        vec!["dump", "latest", &file],
        vec!["dump", "--archive", "tar", "latest", "/"],
        vec!["dump", "--archive", "zip", "latest", "/"],
    ] {
        assert_quiet_end(&f, &args);
    }
}

#[test]
fn println_output_into_a_closed_pipe_ends_quietly_without_a_lock() {
    // These commands print with `println!`, which panics on EPIPE.
    let f = Fixture::new("v2");
    for args in [vec!["snapshots"], vec!["list", "blobs"], vec!["stats"]] {
        assert_quiet_end(&f, &args);
    }
}

/// Runs `cairn -r URL ARGS`; returns its status and stderr.
fn cairn_on(repo_url: &str, args: &[&str]) -> (ExitStatus, String) {
    let cache = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(Tool::Cairn.program())
        .arg("-r")
        .arg(repo_url)
        .arg("--cache-dir")
        .arg(cache.path())
        .args(args)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_PASSWORD_FILE")
        .env("RESTIC_PASSWORD", "pw")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Not killed by a signal, failed, no panic, and one line of error: the
/// last line is the one `Fatal:` line; any line before it is a retry notice
/// (restic's "... returned error, retrying after ..."), since whether the
/// server's answer or the broken socket is seen first is a race.
fn assert_one_line_error(status: ExitStatus, stderr: &str, what: &str) {
    let what = format!("{what}: {status}, stderr:\n{stderr}");
    assert_eq!(status.signal(), None, "killed by a signal: {what}");
    assert_ne!(status.code(), Some(0), "{what}");
    assert_ne!(status.code(), Some(141), "{what}");
    assert!(!stderr.contains("panicked"), "{what}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let (last, before) = lines.split_last().expect("no error line");
    assert!(
        last.starts_with("Fatal: "),
        "last line is not the error: {what}"
    );
    for line in before {
        assert!(line.contains("retrying after"), "not one line: {what}");
    }
}

#[test]
fn an_upload_the_server_refuses_midway_is_a_one_line_error_not_sigpipe() {
    // A small `--max-size`: the server refuses an upload that would exceed
    // the quota before reading its body and closes the connection while
    // the client is still sending.
    let server = CairnServer::start_with(&["--max-size", &(2u64 << 20).to_string()]);
    let url = format!("rest:http://127.0.0.1:{}/", server.port);
    let (status, stderr) = cairn_on(&url, &["init"]);
    assert!(status.success(), "init: {status}\n{stderr}");
    // 8 MiB that do not compress: the first pack exceeds the quota.
    let src = tempfile::tempdir().unwrap();
    let big = noise(8 << 20, 0x9e37_79b9_7f4a_7c15);
    std::fs::write(src.path().join("big"), &big).unwrap();
    let (status, stderr) = cairn_on(&url, &["backup", "-q", src.path().to_str().unwrap()]);
    assert_one_line_error(status, &stderr, "backup over the quota");
}

#[test]
fn https_to_a_plain_http_port_is_a_one_line_error_not_sigpipe() {
    let server = CairnServer::start_with(&["--max-size", "0"]);
    let url = format!("rest:https://127.0.0.1:{}/", server.port);
    let (status, stderr) = cairn_on(&url, &["init"]);
    assert_one_line_error(status, &stderr, "init over https to plain http");
}
