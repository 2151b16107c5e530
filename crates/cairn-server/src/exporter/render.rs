//! The Prometheus text exposition format (version 0.0.4) of what the
//! exporter knows about its repositories.

use cairn::monitor::SnapshotGroup;
use std::fmt::Write as _;

/// What one repository's last refresh found.
#[derive(Debug, Default, Clone)]
pub(crate) struct RepositoryReport {
    /// The `repository` label.
    pub label: String,
    /// The last refresh succeeded; the figures below are only set then.
    pub up: bool,
    /// Snapshot groups (host, paths, tags).
    pub groups: Vec<SnapshotGroup>,
    /// Non-empty lock files.
    pub locks: u64,
    /// Age of the oldest lock in seconds, 0 without locks.
    pub oldest_lock_age_seconds: f64,
    /// Total size of the pack files.
    pub size_bytes: u64,
    /// Number of pack files.
    pub packs: u64,
    /// How long the last refresh took.
    pub scrape_duration_seconds: f64,
    /// Failed refreshes and unreadable files since the exporter started.
    pub scrape_errors_total: u64,
}

/// Escapes a label value: backslash, double quote and line feed.
pub(crate) fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A float as the text format writes it.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// One metric family being written: its header, then its samples.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out, name }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: &str) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

type GroupValue = fn(&SnapshotGroup) -> Option<String>;

const GROUP_FAMILIES: [(&str, &str, GroupValue); 4] = [
    (
        "cairn_repository_snapshots",
        "Number of snapshots of the host, paths and tags.",
        |g| Some(g.count.to_string()),
    ),
    (
        "cairn_repository_newest_snapshot_timestamp_seconds",
        "Time of the newest snapshot of the host, paths and tags (Unix seconds).",
        |g| {
            let t = &g.newest.snapshot.time;
            Some(float(t.unix_secs as f64 + f64::from(t.nanos) / 1e9))
        },
    ),
    (
        "cairn_repository_newest_snapshot_size_bytes",
        "Bytes processed by the newest snapshot's backup (from its summary).",
        |g| {
            let s = g.newest.snapshot.summary.as_ref()?;
            Some(s.total_bytes_processed.to_string())
        },
    ),
    (
        "cairn_repository_newest_snapshot_files",
        "Files processed by the newest snapshot's backup (from its summary).",
        |g| {
            let s = g.newest.snapshot.summary.as_ref()?;
            Some(s.total_files_processed.to_string())
        },
    ),
];

type RepoValue = fn(&RepositoryReport) -> String;

const REPOSITORY_FAMILIES: [(&str, &str, RepoValue); 4] = [
    (
        "cairn_repository_locks",
        "Lock files present in the repository.",
        |r| r.locks.to_string(),
    ),
    (
        "cairn_repository_oldest_lock_age_seconds",
        "Age of the oldest lock in seconds (0 when there is none).",
        |r| float(r.oldest_lock_age_seconds),
    ),
    (
        "cairn_repository_size_bytes",
        "Total size of the repository's pack files in bytes.",
        |r| r.size_bytes.to_string(),
    ),
    (
        "cairn_repository_packs",
        "Number of pack files in the repository.",
        |r| r.packs.to_string(),
    ),
];

/// Renders every family, each with its HELP and TYPE lines and the
/// samples of every repository.
pub(crate) fn render(reports: &[RepositoryReport]) -> String {
    let mut out = String::new();
    for (name, help, value) in GROUP_FAMILIES {
        let mut family = Family::new(&mut out, name, "gauge", help);
        for r in reports.iter().filter(|r| r.up) {
            for g in &r.groups {
                let Some(v) = value(g) else { continue };
                let paths = g.paths.join(",");
                let tags = g.tags.join(",");
                family.sample(
                    &[
                        ("repository", &r.label),
                        ("host", &g.host),
                        ("paths", &paths),
                        ("tags", &tags),
                    ],
                    &v,
                );
            }
        }
    }
    for (name, help, value) in REPOSITORY_FAMILIES {
        let mut family = Family::new(&mut out, name, "gauge", help);
        for r in reports.iter().filter(|r| r.up) {
            family.sample(&[("repository", &r.label)], &value(r));
        }
    }
    let mut up = Family::new(
        &mut out,
        "cairn_repository_up",
        "gauge",
        "1 if the repository's last refresh succeeded, else 0.",
    );
    for r in reports {
        up.sample(&[("repository", &r.label)], if r.up { "1" } else { "0" });
    }
    let mut duration = Family::new(
        &mut out,
        "cairn_scrape_duration_seconds",
        "gauge",
        "How long the repository's last refresh took.",
    );
    for r in reports {
        duration.sample(
            &[("repository", &r.label)],
            &float(r.scrape_duration_seconds),
        );
    }
    let mut errors = Family::new(
        &mut out,
        "cairn_scrape_errors_total",
        "counter",
        "Failed refreshes and unreadable snapshot or lock files.",
    );
    for r in reports {
        errors.sample(
            &[("repository", &r.label)],
            &r.scrape_errors_total.to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("plain/ä,b"), "plain/ä,b");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }

    #[test]
    fn down_repository_has_only_up_duration_and_errors() {
        let reports = [RepositoryReport {
            label: "q\"uote".into(),
            scrape_errors_total: 2,
            ..RepositoryReport::default()
        }];
        let text = render(&reports);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            vec![
                r#"cairn_repository_up{repository="q\"uote"} 0"#,
                r#"cairn_scrape_duration_seconds{repository="q\"uote"} 0"#,
                r#"cairn_scrape_errors_total{repository="q\"uote"} 2"#,
            ]
        );
        assert_eq!(text.matches("# TYPE ").count(), 11);
        assert!(text.contains("# TYPE cairn_scrape_errors_total counter\n"));
    }
}
