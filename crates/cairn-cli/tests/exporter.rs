//! `cairn exporter`: what `/metrics` shows against `snapshots --json`,
//! locks, secrets, a failing repository beside a working one, and a real
//! Prometheus alerting on a stale backup.

mod common;

use cairn::format::{GoTime, Lock};
use cairn::FileType;
use common::process::{free_port, wait_for_port, CairnServer};
use common::prometheus::*;
use common::{copy_tree, open_fixture_repo, Fixture};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A directory with two small files to back up.
fn source(f: &Fixture, name: &str) -> String {
    let dir = f.scratch(name);
    std::fs::write(dir.join("a.txt"), b"first file\n").unwrap();
    std::fs::write(dir.join("b.txt"), vec![7u8; 5000]).unwrap();
    dir.to_str().unwrap().to_string()
}

fn unix_seconds(rfc3339: &str) -> f64 {
    let t = GoTime::parse(rfc3339).unwrap();
    t.unix_secs as f64 + f64::from(t.nanos) / 1e9
}

/// `(host, sorted paths, sorted tags)` of a snapshot as `snapshots --json`
/// shows it, joined as the labels are.
fn group_of(sn: &Value) -> (String, String, String) {
    let sorted = |key: &str| {
        let mut v: Vec<String> = sn[key]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        v.sort();
        v.join(",")
    };
    (
        sn["hostname"].as_str().unwrap().into(),
        sorted("paths"),
        sorted("tags"),
    )
}

#[test]
fn figures_equal_snapshots_json_and_pass_promtool() {
    let f = Fixture::new("v2");
    let src = source(&f, "src");
    f.cairn(["backup", "--host", "metrics-host", "--tag", "b,a", &src])
        .ok();
    // A lock left behind by a process that died an hour ago.
    let repo = open_fixture_repo(&f);
    let lock = Lock {
        time: GoTime::from_system_time(SystemTime::now() - Duration::from_secs(3600), 0),
        exclusive: false,
        hostname: "elsewhere".into(),
        username: "nobody".into(),
        pid: 4242,
        uid: 0,
        gid: 0,
    };
    repo.save_unpacked(FileType::Lock, &lock.to_json()).unwrap();

    let exporter = RunningExporter::start(&f, "exporter.log", &["--interval", "0s"]);
    let text = exporter.metrics();
    if let Some(promtool) = prometheus_tool("promtool") {
        promtool_check_metrics(&promtool, &text);
    }
    for name in [
        "cairn_repository_snapshots",
        "cairn_repository_newest_snapshot_timestamp_seconds",
        "cairn_repository_newest_snapshot_size_bytes",
        "cairn_repository_newest_snapshot_files",
        "cairn_repository_locks",
        "cairn_repository_oldest_lock_age_seconds",
        "cairn_repository_size_bytes",
        "cairn_repository_packs",
        "cairn_repository_up",
        "cairn_scrape_duration_seconds",
        "cairn_scrape_errors_total",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
    }
    let all = samples(&text);
    let label = f.repo.to_str().unwrap();
    let repo_label = [("repository", label)];
    assert_eq!(value(&all, "cairn_repository_up", &repo_label), 1.0);
    assert_eq!(value(&all, "cairn_scrape_errors_total", &repo_label), 0.0);

    // Per group: count and newest time as `snapshots --json` has them;
    // size and files only where the newest snapshot has a summary.
    let listed = f.cairn(["snapshots", "--json"]).ok().json();
    let mut groups: BTreeMap<(String, String, String), Vec<&Value>> = BTreeMap::new();
    for sn in listed.as_array().unwrap() {
        groups.entry(group_of(sn)).or_default().push(sn);
    }
    assert!(groups.len() >= 2);
    assert_eq!(
        values(&all, "cairn_repository_snapshots", &repo_label).len(),
        groups.len()
    );
    for ((host, paths, tags), snaps) in &groups {
        let labels = [
            ("repository", label),
            ("host", host.as_str()),
            ("paths", paths.as_str()),
            ("tags", tags.as_str()),
        ];
        let newest = snaps
            .iter()
            .max_by(|a, b| {
                unix_seconds(a["time"].as_str().unwrap())
                    .total_cmp(&unix_seconds(b["time"].as_str().unwrap()))
            })
            .unwrap();
        assert_eq!(
            value(&all, "cairn_repository_snapshots", &labels),
            snaps.len() as f64
        );
        let ts = value(
            &all,
            "cairn_repository_newest_snapshot_timestamp_seconds",
            &labels,
        );
        assert!((ts - unix_seconds(newest["time"].as_str().unwrap())).abs() < 1e-3);
        let size = values(&all, "cairn_repository_newest_snapshot_size_bytes", &labels);
        let files = values(&all, "cairn_repository_newest_snapshot_files", &labels);
        match newest.get("summary") {
            Some(summary) => {
                assert_eq!(
                    size[0].2,
                    summary["total_bytes_processed"].as_f64().unwrap()
                );
                assert_eq!(
                    files[0].2,
                    summary["total_files_processed"].as_f64().unwrap()
                );
            }
            None => assert!(size.is_empty() && files.is_empty(), "{host} {paths}"),
        }
    }
    let ours = [
        ("repository", label),
        ("host", "metrics-host"),
        ("tags", "a,b"),
    ];
    assert_eq!(
        value(&all, "cairn_repository_newest_snapshot_files", &ours),
        2.0
    );
    assert_eq!(
        value(&all, "cairn_repository_newest_snapshot_size_bytes", &ours),
        5011.0
    );

    // Repository figures: packs and their sizes, the lock and its age.
    let packs = f.repo_files("data");
    let bytes: u64 = packs.iter().map(|p| p.metadata().unwrap().len()).sum();
    assert_eq!(
        value(&all, "cairn_repository_packs", &repo_label),
        packs.len() as f64
    );
    assert_eq!(
        value(&all, "cairn_repository_size_bytes", &repo_label),
        bytes as f64
    );
    assert_eq!(value(&all, "cairn_repository_locks", &repo_label), 1.0);
    let age = value(
        &all,
        "cairn_repository_oldest_lock_age_seconds",
        &repo_label,
    );
    assert!((3600.0..3700.0).contains(&age), "{age}");

    // No lock: 0 locks and age 0; and the exporter never left one.
    for l in f.repo_files("locks") {
        std::fs::remove_file(l).unwrap();
    }
    let all = samples(&exporter.metrics());
    assert_eq!(value(&all, "cairn_repository_locks", &repo_label), 0.0);
    assert_eq!(
        value(
            &all,
            "cairn_repository_oldest_lock_age_seconds",
            &repo_label
        ),
        0.0
    );
    assert!(f.repo_files("locks").is_empty());
    let password = std::fs::read_to_string(&f.password_file).unwrap();
    assert!(!exporter.log_text().contains(password.trim()));
}

#[test]
fn failing_repository_beside_a_working_one_and_no_secrets() {
    let f = Fixture::new("v2");
    // A password of its own (the fixture's is also part of its paths).
    let password = "exporter-pw-9183";
    let password_file = f.dir.path().join("exporter-password");
    std::fs::write(&password_file, password).unwrap();
    f.cairn([
        "key".as_ref(),
        "add".as_ref(),
        "--new-password-file".as_ref(),
        password_file.as_os_str(),
    ])
    .ok();
    // The same repository served over REST, opened with a wrong password
    // and a URL that carries credentials.
    let server = CairnServer::start();
    copy_tree(&f.repo, &server.dir().join("b"));
    let url = format!(
        "rest:http://someone:url-secret-42@127.0.0.1:{}/b/",
        server.port
    );
    let config = f.dir.path().join("exporter.json");
    let entries = serde_json::json!({"repositories": [
        {"name": "good", "repository": f.repo, "password-file": password_file},
        {"repository": url, "password-env": "CAIRN_TEST_WRONG_PASSWORD"},
    ]});
    std::fs::write(&config, entries.to_string()).unwrap();
    let port = free_port();
    let log = f.dir.path().join("exporter.log");
    let _child = KillOnDrop(
        f.command(common::Tool::Cairn)
            .args(["exporter", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--repo-config")
            .arg(&config)
            .env("CAIRN_TEST_WRONG_PASSWORD", "wrong-password-77")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "cairn exporter");
    let (status, first) = http_get(port, "/metrics");
    assert_eq!(status, 200);
    let (_, second) = http_get(port, "/metrics");
    let all = samples(&second);
    let bad_label = format!("rest:http://someone@127.0.0.1:{}/b/", server.port);
    let bad = [("repository", bad_label.as_str())];
    let good = [("repository", "good")];
    assert_eq!(value(&all, "cairn_repository_up", &good), 1.0);
    assert_eq!(value(&all, "cairn_repository_up", &bad), 0.0);
    assert!(!values(&all, "cairn_repository_snapshots", &good).is_empty());
    assert!(values(&all, "cairn_repository_snapshots", &bad).is_empty());
    assert!(values(&all, "cairn_repository_packs", &bad).is_empty());
    assert_eq!(value(&all, "cairn_scrape_errors_total", &good), 0.0);
    // With the default interval the second scrape is served from the cache.
    assert_eq!(value(&all, "cairn_scrape_errors_total", &bad), 1.0);
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("wrong password"), "{log_text}");
    for text in [&first, &second, &log_text] {
        for secret in [password, "url-secret-42", "wrong-password-77"] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
    }
}

/// A child process killed on drop.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GETs a Prometheus API path and returns its `data`.
fn prometheus_api(port: u16, path: &str) -> Result<Value, String> {
    if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        return Err("not listening yet".into());
    }
    let (status, body) = http_get(port, path);
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 || v["status"] != "success" {
        return Err(body);
    }
    Ok(v["data"].clone())
}

/// The state of alert `name` (`pending`, `firing`) or `None` when inactive.
fn alert_state(port: u16, name: &str) -> Result<Option<String>, String> {
    let data = prometheus_api(port, "/api/v1/alerts")?;
    let alerts = data["alerts"].as_array().ok_or("no alerts array")?;
    Ok(alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .map(|a| a["state"].as_str().unwrap_or("").to_string()))
}

#[test]
fn prometheus_alerts_on_a_stale_backup_and_clears_after_a_new_one() {
    let (Some(prometheus), Some(promtool)) =
        (prometheus_tool("prometheus"), prometheus_tool("promtool"))
    else {
        return;
    };
    let f = Fixture::new("v2");
    let src = source(&f, "src");
    let backup = || {
        f.cairn(["backup", "--host", "alert-host", &src]).ok();
    };
    backup();
    let exporter = RunningExporter::start(&f, "exporter.log", &["--interval", "1s"]);

    let dir = f.scratch("prometheus");
    let rules = dir.join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n- name: cairn\n  rules:\n  - alert: CairnBackupTooOld\n    expr: \
         time() - cairn_repository_newest_snapshot_timestamp_seconds{host=\"alert-host\"} > 6\n",
    )
    .unwrap();
    let check = Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n- {}\n\
             scrape_configs:\n- job_name: cairn\n  static_configs:\n  - targets: ['127.0.0.1:{}']\n",
            rules.display(),
            exporter.port
        ),
    )
    .unwrap();
    let port = free_port();
    let prom_log = dir.join("prometheus.log");
    let _prometheus = KillOnDrop(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&prom_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let limit = Duration::from_secs(60);
    let prom_log_text = || std::fs::read_to_string(&prom_log).unwrap_or_default();

    // The series arrives first, while the backup is still fresh.
    poll(limit, "Prometheus scraping the exporter", || {
        let q = "/api/v1/query?query=cairn_repository_newest_snapshot_timestamp_seconds%7Bhost%3D%22alert-host%22%7D";
        let data = prometheus_api(port, q)?;
        match data["result"].as_array().map(Vec::len) {
            Some(1) => Ok(()),
            _ => Err(format!("{data}\n{}", prom_log_text())),
        }
    });
    // Backups stop: the alert fires.
    poll(limit, "the alert firing", || {
        match alert_state(port, "CairnBackupTooOld")? {
            Some(s) if s == "firing" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    // A new backup: the exporter refreshes, the alert clears.
    backup();
    let cleared_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    poll(limit, "the alert clearing", || {
        match alert_state(port, "CairnBackupTooOld")? {
            None => Ok(()),
            other => Err(format!("{other:?} since {cleared_at:?}")),
        }
    });
    assert!(f.repo_files("locks").is_empty());
    drop(exporter);
}
