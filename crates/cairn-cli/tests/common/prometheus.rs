//! Helpers of the monitoring tests (exporter.rs, metrics_file.rs): a
//! running `cairn exporter`, plain HTTP GETs, a parser for the text
//! format's samples, and Prometheus' tools.

use crate::common::process::{free_port, wait_for_port};
use crate::common::Fixture;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `cairn exporter` on 127.0.0.1, killed on drop; its standard
/// error goes to `log`.
pub struct RunningExporter {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl RunningExporter {
    /// Starts it with the fixture's environment (repository and password)
    /// and `args` after `exporter --listen …`.
    pub fn start(f: &Fixture, log_name: &str, args: &[&str]) -> RunningExporter {
        let port = free_port();
        let log = f.dir.path().join(log_name);
        let child = f
            .command(crate::common::Tool::Cairn)
            .args(["exporter", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_for_port(port, "cairn exporter");
        RunningExporter { child, port, log }
    }

    /// One scrape of `/metrics`.
    pub fn metrics(&self) -> String {
        let (status, body) = http_get(self.port, "/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for RunningExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` from 127.0.0.1:`port` with HTTP/1.0: status and body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (status, body.to_string())
}

/// One sample: name, labels, value.
pub type Sample = (String, BTreeMap<String, String>, f64);

/// The samples of a text-format exposition (comments skipped).
pub fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = value.parse().expect("a number");
        let (name, mut rest) = match series.split_once('{') {
            Some((n, r)) => (n.to_string(), r),
            None => (series.to_string(), "}"),
        };
        let mut labels = BTreeMap::new();
        while !rest.starts_with('}') {
            let (key, after) = rest.split_once("=\"").expect("label=\"");
            let mut v = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                let (i, c) = chars.next().expect("closing quote");
                match c {
                    '\\' => match chars.next().expect("escape").1 {
                        'n' => v.push('\n'),
                        c => v.push(c),
                    },
                    '"' => break i,
                    c => v.push(c),
                }
            };
            labels.insert(key.to_string(), v);
            rest = after[end + 1..].trim_start_matches(',');
        }
        out.push((name, labels, value));
    }
    out
}

/// The samples named `name` whose labels include `with`.
pub fn values<'a>(all: &'a [Sample], name: &str, with: &[(&str, &str)]) -> Vec<&'a Sample> {
    all.iter()
        .filter(|(n, l, _)| {
            n == name
                && with
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The one sample named `name` with these labels.
pub fn value(all: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    let found = values(all, name, with);
    assert_eq!(found.len(), 1, "{name} {with:?} in {all:?}");
    found[0].2
}

/// Prometheus' program `name` (`prometheus`, `promtool`), or `None` (the
/// test then skips) unless `CAIRN_REQUIRE_PROMETHEUS=1`.
pub fn prometheus_tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CAIRN_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
            "{name} is not installed (Debian packages prometheus, prometheus-pushgateway) \
             and CAIRN_REQUIRE_PROMETHEUS=1"
        );
        eprintln!(
            "SKIPPED: {name} is not installed (Debian packages prometheus, \
             prometheus-pushgateway; scripts/install-deps.sh installs them)"
        );
    }
    found
}

/// Fails unless `promtool check metrics` accepts `text`.
pub fn promtool_check_metrics(promtool: &Path, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Calls `check` every 200 ms until it returns `Some`, for at most
/// `limit`; panics with `what` and the last state otherwise.
pub fn poll<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => panic!("{what}: gave up; last: {last}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
