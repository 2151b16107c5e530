//! Prometheus metrics in the text exposition format.
//!
//! The counters have rest-server's names and labels
//! (`rest_server_blob_{read,write,delete}_total` and `…_bytes_total`,
//! labelled by user, repository folder and object type), so existing
//! dashboards keep working. Added: a request counter by method and status
//! (`cairn_server_http_requests_total`) and two gauges, the bytes used
//! under `--path` and the quota.

use crate::route::ObjectType;
use crate::space::Space;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// What happened to an object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Operation {
    Read,
    Write,
    Delete,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    count: u64,
    bytes: u64,
}

type Labels = (String, String, ObjectType);

/// Counters per (user, repository, type) and operation.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    counters: Mutex<BTreeMap<Labels, [Counter; 3]>>,
    requests: Mutex<BTreeMap<(String, u16), u64>>,
}

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts one operation of `bytes` bytes.
    pub(crate) fn record(
        &self,
        user: &str,
        repo: &str,
        tpe: ObjectType,
        op: Operation,
        bytes: u64,
    ) {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut map
            .entry((user.to_string(), repo.to_string(), tpe))
            .or_default()[op as usize];
        slot.count += 1;
        slot.bytes += bytes;
    }

    /// Counts one answered request.
    pub(crate) fn record_request(&self, method: &str, status: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((method.to_string(), status)).or_default() += 1;
    }

    /// The whole exposition text.
    pub(crate) fn render(&self, space: &Space) -> String {
        let map = self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut out = String::new();
        let families = [
            (Operation::Read, "read", "read from"),
            (Operation::Write, "write", "written to"),
            (Operation::Delete, "delete", "deleted from"),
        ];
        for (op, name, verb) in families {
            for (suffix, what) in [("total", "blobs"), ("bytes_total", "bytes")] {
                let metric = format!("rest_server_blob_{name}_{suffix}");
                let _ = writeln!(
                    out,
                    "# HELP {metric} Total number of {what} {verb} the repositories"
                );
                let _ = writeln!(out, "# TYPE {metric} counter");
                for ((user, repo, tpe), c) in &map {
                    let c = c[op as usize];
                    let v = if suffix == "total" { c.count } else { c.bytes };
                    let _ = writeln!(
                        out,
                        "{metric}{{repo=\"{}\",type=\"{}\",user=\"{}\"}} {v}",
                        escape(repo),
                        tpe.as_str(),
                        escape(user)
                    );
                }
            }
        }
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let _ = writeln!(
            out,
            "# HELP cairn_server_http_requests_total HTTP requests answered, by method and status"
        );
        let _ = writeln!(out, "# TYPE cairn_server_http_requests_total counter");
        for ((method, code), n) in requests {
            let _ = writeln!(
                out,
                "cairn_server_http_requests_total{{code=\"{code}\",method=\"{}\"}} {n}",
                escape(&method)
            );
        }
        let _ = writeln!(out, "# HELP cairn_server_space_used_bytes Bytes used by all repositories under the data directory");
        let _ = writeln!(out, "# TYPE cairn_server_space_used_bytes gauge");
        let _ = writeln!(out, "cairn_server_space_used_bytes {}", space.used());
        if let Some(max) = space.max() {
            let _ = writeln!(
                out,
                "# HELP cairn_server_space_max_bytes The --max-size quota"
            );
            let _ = writeln!(out, "# TYPE cairn_server_space_max_bytes gauge");
            let _ = writeln!(out, "cairn_server_space_max_bytes {max}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.record("al\"ice", "r", ObjectType::Data, Operation::Write, 10);
        m.record("al\"ice", "r", ObjectType::Data, Operation::Write, 5);
        m.record_request("GET", 404);
        let text = m.render(&Space::new(7, Some(9)));
        assert!(text.contains("cairn_server_http_requests_total{code=\"404\",method=\"GET\"} 1"));
        assert!(text.contains(
            "rest_server_blob_write_bytes_total{repo=\"r\",type=\"data\",user=\"al\\\"ice\"} 15"
        ));
        assert!(text.contains(
            "rest_server_blob_write_total{repo=\"r\",type=\"data\",user=\"al\\\"ice\"} 2"
        ));
        assert!(text.contains("cairn_server_space_used_bytes 7"));
        assert!(text.contains("cairn_server_space_max_bytes 9"));
    }
}
