//! `--metrics-file` and `--metrics-push` (issue 15): the metrics of
//! backup, forget, prune and check share one file, valid for `promtool
//! check metrics`, with the figures each command reports in `--json`;
//! failed runs write success 0 and restic's exit code; secrets stay out;
//! concurrent commands leave a parseable file with every series; a real
//! Pushgateway receives the push and a dead one only warns. The example
//! alert rules pass `promtool check rules` and their unit tests.
//!
//! promtool and prometheus-pushgateway come from Debian's `prometheus`
//! and `prometheus-pushgateway` packages (scripts/install-deps.sh);
//! without them these tests skip, unless CAIRN_REQUIRE_PROMETHEUS=1.

#[macro_use]
mod common;

use cairn::metrics::{parse_text, MetricSet, Sample};
use common::prometheus::{prometheus_tool, promtool_check_metrics};
use common::{Fixture, Tool};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn read_metrics(path: &Path) -> (String, MetricSet) {
    let text = std::fs::read_to_string(path).unwrap();
    let set = parse_text(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, set)
}

/// The one series of `name` whose labels include all of `labels`.
fn value(set: &MetricSet, name: &str, labels: &[(&str, &str)]) -> f64 {
    let family = set.family(name).unwrap_or_else(|| panic!("no {name}"));
    let found: Vec<&Sample> = family
        .samples
        .iter()
        .filter(|s| labels.iter().all(|(k, v)| s.label(k) == *v))
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0].value
}

/// A small source tree to back up.
fn source(f: &Fixture) -> PathBuf {
    let src = f.scratch("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    for i in 0..5 {
        std::fs::write(
            src.join(format!("f{i}")),
            format!("content {i}\n").repeat(100 + i),
        )
        .unwrap();
    }
    std::fs::write(src.join("sub/g"), "more").unwrap();
    src
}

fn repo_label(f: &Fixture) -> String {
    f.repo.to_string_lossy().into_owned()
}

#[test]
fn backup_forget_prune_check_share_one_valid_file() {
    let Some(promtool) = prometheus_tool("promtool") else {
        return;
    };
    let f = Fixture::new("v2");
    let src = source(&f);
    let file = f.dir.path().join("cairn.prom");
    let file_arg = file.to_str().unwrap();
    let backup = f
        .cairn([
            "--json",
            "--metrics-file",
            file_arg,
            "backup",
            "--tag",
            "t2,t1",
            src.to_str().unwrap(),
        ])
        .ok();
    let summary = backup
        .json_lines()
        .into_iter()
        .find(|v| v["message_type"] == "summary")
        .unwrap();
    let forget = f
        .cairn([
            "--json",
            "--metrics-file",
            file_arg,
            "forget",
            "--group-by=",
            "--keep-last",
            "2",
        ])
        .ok()
        .json();
    let prune = f
        .cairn(["--metrics-file", file_arg, "prune", "-v", "-v"])
        .ok();
    let check = f
        .cairn(["--json", "--metrics-file", file_arg, "check", "--read-data"])
        .ok()
        .json_lines();
    let (text, set) = read_metrics(&file);
    promtool_check_metrics(&promtool, &text);
    let repo = repo_label(&f);
    let host = cairn::host::hostname();
    let backup_labels = [
        ("command", "backup"),
        ("repository", repo.as_str()),
        ("host", host.as_str()),
        ("paths", src.to_str().unwrap()),
        ("tags", "t1,t2"),
    ];
    for cmd in ["backup", "forget", "prune", "check"] {
        let labels = [
            ("command", cmd),
            ("repository", repo.as_str()),
            ("host", host.as_str()),
        ];
        assert_eq!(value(&set, "cairn_command_success", &labels), 1.0, "{cmd}");
        assert_eq!(
            value(&set, "cairn_command_exit_code", &labels),
            0.0,
            "{cmd}"
        );
        let start = value(&set, "cairn_command_start_timestamp_seconds", &labels);
        let end = value(&set, "cairn_command_end_timestamp_seconds", &labels);
        let duration = value(&set, "cairn_command_duration_seconds", &labels);
        assert!(
            start > 1.7e9 && end >= start && (end - start - duration).abs() < 0.01,
            "{cmd}"
        );
    }
    // The backup's figures are those of its JSON summary.
    let n = |v: &Value| v.as_f64().unwrap();
    for (state, files, dirs) in [
        ("new", "files_new", "dirs_new"),
        ("changed", "files_changed", "dirs_changed"),
        ("unmodified", "files_unmodified", "dirs_unmodified"),
    ] {
        let mut labels = backup_labels.to_vec();
        labels.push(("state", state));
        assert_eq!(
            value(&set, "cairn_backup_files", &labels),
            n(&summary[files])
        );
        assert_eq!(value(&set, "cairn_backup_dirs", &labels), n(&summary[dirs]));
    }
    assert_eq!(
        value(&set, "cairn_backup_bytes_processed", &backup_labels),
        n(&summary["total_bytes_processed"])
    );
    assert_eq!(
        value(&set, "cairn_backup_bytes_added", &backup_labels),
        n(&summary["data_added"])
    );
    assert_eq!(
        value(&set, "cairn_backup_bytes_stored", &backup_labels),
        n(&summary["data_added_packed"])
    );
    assert_eq!(value(&set, "cairn_backup_errors", &backup_labels), 0.0);
    let snapshot_time = value(
        &set,
        "cairn_backup_snapshot_timestamp_seconds",
        &backup_labels,
    );
    let start = value(
        &set,
        "cairn_command_start_timestamp_seconds",
        &backup_labels,
    );
    assert!(
        (snapshot_time - start).abs() < 60.0,
        "{snapshot_time} vs {start}"
    );
    // forget: kept and removed as its JSON lists them.
    let count = |key: &str| -> f64 {
        forget
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g[key].as_array().map_or(0, Vec::len))
            .sum::<usize>() as f64
    };
    assert!(count("remove") > 0.0);
    assert_eq!(
        value(&set, "cairn_forget_snapshots", &[("action", "keep")]),
        count("keep")
    );
    assert_eq!(
        value(&set, "cairn_forget_snapshots", &[("action", "remove")]),
        count("remove")
    );
    // prune: the packs its statistics announce.
    let out = prune.stdout_str();
    let packs = |what: &str| -> f64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(what) && l.ends_with(" packs"))
            .unwrap();
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    assert_eq!(
        value(&set, "cairn_prune_packs", &[("action", "remove")]),
        packs("to delete:")
    );
    assert_eq!(
        value(&set, "cairn_prune_packs", &[("action", "repack")]),
        packs("to repack:")
    );
    // check: no errors, every pack read.
    let check_summary = check
        .iter()
        .find(|v| v["message_type"] == "summary")
        .unwrap();
    assert_eq!(
        value(&set, "cairn_check_errors", &[]),
        n(&check_summary["num_errors"])
    );
    let pack_bytes: u64 = f
        .repo_files("data")
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(
        value(&set, "cairn_check_bytes_read", &[]),
        pack_bytes as f64
    );
    let password = std::fs::read_to_string(&f.password_file).unwrap();
    assert!(
        !text.contains(password.trim()),
        "the password is in the metrics file"
    );
}

#[test]
fn failed_runs_write_success_0_and_their_exit_code() {
    let Some(promtool) = prometheus_tool("promtool") else {
        return;
    };
    let f = Fixture::new("v2");
    let src = source(&f);
    let file = f.dir.path().join("cairn.prom");
    let file_arg = file.to_str().unwrap();
    let src_arg = src.to_str().unwrap();
    // A successful backup first: its last-success time must survive.
    f.cairn(["--metrics-file", file_arg, "backup", src_arg])
        .ok();
    let (_, set) = read_metrics(&file);
    let last_ok = value(
        &set,
        "cairn_command_last_success_timestamp_seconds",
        &[("command", "backup")],
    );
    // Wrong password: exit 12.
    let wrong = f.dir.path().join("wrong-password");
    std::fs::write(&wrong, "not-the-password-s3cr3t\n").unwrap();
    let mut c = f.command(Tool::Cairn);
    c.env("CAIRN_METRICS_FILE", &file)
        .env("RESTIC_PASSWORD_FILE", &wrong)
        .args(["backup", src_arg]);
    assert_eq!(c.output().unwrap().status.code(), Some(12));
    let (text, set) = read_metrics(&file);
    promtool_check_metrics(&promtool, &text);
    let labels = [("command", "backup"), ("paths", src_arg)];
    assert_eq!(value(&set, "cairn_command_success", &labels), 0.0);
    assert_eq!(value(&set, "cairn_command_exit_code", &labels), 12.0);
    assert_eq!(
        value(
            &set,
            "cairn_command_last_success_timestamp_seconds",
            &labels
        ),
        last_ok
    );
    assert!(
        set.family("cairn_backup_files").is_none(),
        "the failed run replaced the figures"
    );
    assert!(!text.contains("s3cr3t"));
    // A repository that does not exist: exit 10, its own series.
    let missing = f.dir.path().join("no-repo");
    let r = f.cairn([
        "--metrics-file",
        file_arg,
        "-r",
        missing.to_str().unwrap(),
        "check",
    ]);
    assert_eq!(r.code, Some(10), "{}", r.stderr);
    let (_, set) = read_metrics(&file);
    let labels = [
        ("command", "check"),
        ("repository", missing.to_str().unwrap()),
    ];
    assert_eq!(value(&set, "cairn_command_success", &labels), 0.0);
    assert_eq!(value(&set, "cairn_command_exit_code", &labels), 10.0);
    // A source that cannot be found: partial backup, exit 3, figures kept.
    let gone = f.dir.path().join("gone");
    let r = f.cairn([
        "--metrics-file",
        file_arg,
        "backup",
        src_arg,
        gone.to_str().unwrap(),
    ]);
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    let (_, set) = read_metrics(&file);
    let mut paths = [src_arg.to_string(), gone.to_string_lossy().into_owned()];
    paths.sort();
    let joined = paths.join(",");
    let labels = [("command", "backup"), ("paths", joined.as_str())];
    assert_eq!(value(&set, "cairn_command_exit_code", &labels), 3.0);
    let files: f64 = ["new", "changed", "unmodified"]
        .iter()
        .map(|state| {
            value(
                &set,
                "cairn_backup_files",
                &[("paths", joined.as_str()), ("state", state)],
            )
        })
        .sum();
    assert_eq!(files, 6.0);
    // A REST URL with credentials that cannot be reached: no secret kept.
    let r = f.cairn([
        "--metrics-file",
        file_arg,
        "-r",
        "rest:http://alice:hunter2-secret@127.0.0.1:1/repo?token=tok-secret",
        "check",
    ]);
    assert_ne!(r.code, Some(0));
    let (text, set) = read_metrics(&file);
    assert!(
        !text.contains("hunter2") && !text.contains("tok-secret"),
        "{text}"
    );
    let labels = [
        ("command", "check"),
        ("repository", "rest:http://alice@127.0.0.1:1/repo"),
    ];
    assert_eq!(value(&set, "cairn_command_success", &labels), 0.0);
}

#[test]
fn concurrent_commands_leave_a_parseable_file_with_all_series() {
    let Some(promtool) = prometheus_tool("promtool") else {
        return;
    };
    let a = Fixture::new("v2");
    let b = Fixture::new("v1");
    // The check gets a repository of its own: a check beside a backup of
    // the same repository waits for the lock.
    let c = Fixture::new("v2-uncompressed");
    let src = source(&a);
    let file = a.dir.path().join("cairn.prom");
    for round in 0..3 {
        let spawn = |f: &Fixture, args: &[&str]| {
            f.command(Tool::Cairn)
                .env("CAIRN_METRICS_FILE", &file)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let children = [
            spawn(&a, &["backup", src.to_str().unwrap()]),
            spawn(&b, &["backup", src.to_str().unwrap()]),
            spawn(&c, &["check"]),
        ];
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (text, set) = read_metrics(&file);
        promtool_check_metrics(&promtool, &text);
        let runs = set.family("cairn_command_success").unwrap().samples.len();
        assert_eq!(runs, 3, "round {round}:\n{text}");
        for (f, cmd) in [(&a, "backup"), (&b, "backup"), (&c, "check")] {
            let repo = repo_label(f);
            value(
                &set,
                "cairn_command_end_timestamp_seconds",
                &[("command", cmd), ("repository", &repo)],
            );
        }
    }
}

/// A Pushgateway on a free port of 127.0.0.1, stopped on drop.
struct Pushgateway {
    child: std::process::Child,
    address: String,
}

impl Pushgateway {
    fn start(program: &Path) -> Pushgateway {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(program)
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let gw = Pushgateway { child, address };
        let deadline = Instant::now() + Duration::from_secs(20);
        while gw.get("/-/ready").is_none() {
            assert!(Instant::now() < deadline, "the Pushgateway did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        gw
    }

    /// The body of a GET of `path`, if it answered 200.
    fn get(&self, path: &str) -> Option<String> {
        let mut s = std::net::TcpStream::connect(&self.address).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.address).ok()?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).ok()?;
        let (head, body) = answer.split_once("\r\n\r\n")?;
        (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_string())
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_pushgateway_receives_the_push_and_a_dead_one_only_warns() {
    let Some(program) = prometheus_tool("prometheus-pushgateway") else {
        return;
    };
    let gw = Pushgateway::start(&program);
    let f = Fixture::new("v2");
    let url = format!("http://user:push-s3cret@{}/", gw.address);
    let r = f.cairn(["--metrics-push", &url, "check"]).ok();
    assert!(!r.stderr.contains("Warning"), "{}", r.stderr);
    let metrics = gw.get("/metrics").unwrap();
    let set = parse_text(&metrics).unwrap();
    let repo = repo_label(&f);
    let labels = [
        ("job", "cairn"),
        ("command", "check"),
        ("repository", repo.as_str()),
    ];
    assert_eq!(
        value(&set, "cairn_command_success", &labels),
        1.0,
        "{metrics}"
    );
    assert_eq!(value(&set, "cairn_check_errors", &labels), 0.0);
    assert!(!metrics.contains("push-s3cret"));
    // A failed run is pushed too (same group: replaced).
    let missing = f.dir.path().join("missing");
    let r = f.cairn([
        "--metrics-push",
        &url,
        "-r",
        missing.to_str().unwrap(),
        "check",
    ]);
    assert_eq!(r.code, Some(10));
    let set = parse_text(&gw.get("/metrics").unwrap()).unwrap();
    let labels = [
        ("command", "check"),
        ("repository", missing.to_str().unwrap()),
    ];
    assert_eq!(value(&set, "cairn_command_exit_code", &labels), 10.0);
    // Nobody listening: a warning, the command's own exit code.
    // (The port is free again once the listener is dropped.)
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = f.cairn([
        "--metrics-push",
        &format!("http://user:dead-s3cret@{dead}"),
        "check",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("Warning: metrics push failed"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("dead-s3cret"), "{}", r.stderr);
}

#[test]
fn the_example_alert_rules_pass_promtool() {
    let Some(promtool) = prometheus_tool("promtool") else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/prometheus");
    for args in [
        &["check", "rules", "cairn-alerts.yml"][..],
        &["test", "rules", "cairn-alerts.test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
