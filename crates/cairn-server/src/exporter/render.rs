//! The Prometheus text exposition format (version 0.0.4) of what the
//! exporter knows about its repositories, written by the library's
//! [`cairn::metrics`] (the renderer `--metrics-file` uses too).

use cairn::metrics::{MetricKind, MetricSet, Sample};
use cairn::monitor::SnapshotGroup;

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

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

type GroupValue = fn(&SnapshotGroup) -> Option<f64>;

const GROUP_FAMILIES: [(&str, &str, GroupValue); 4] = [
    (
        "cairn_repository_snapshots",
        "Number of snapshots of the host, paths and tags.",
        |g| Some(g.count as f64),
    ),
    (
        "cairn_repository_newest_snapshot_timestamp_seconds",
        "Time of the newest snapshot of the host, paths and tags (Unix seconds).",
        |g| {
            let t = &g.newest.snapshot.time;
            Some(t.unix_secs as f64 + f64::from(t.nanos) / 1e9)
        },
    ),
    (
        "cairn_repository_newest_snapshot_size_bytes",
        "Bytes processed by the newest snapshot's backup (from its summary).",
        |g| {
            let s = g.newest.snapshot.summary.as_ref()?;
            Some(s.total_bytes_processed as f64)
        },
    ),
    (
        "cairn_repository_newest_snapshot_files",
        "Files processed by the newest snapshot's backup (from its summary).",
        |g| {
            let s = g.newest.snapshot.summary.as_ref()?;
            Some(s.total_files_processed as f64)
        },
    ),
];

type RepoValue = fn(&RepositoryReport) -> f64;

const REPOSITORY_FAMILIES: [(&str, &str, RepoValue); 4] = [
    (
        "cairn_repository_locks",
        "Lock files present in the repository.",
        |r| r.locks as f64,
    ),
    (
        "cairn_repository_oldest_lock_age_seconds",
        "Age of the oldest lock in seconds (0 when there is none).",
        |r| r.oldest_lock_age_seconds,
    ),
    (
        "cairn_repository_size_bytes",
        "Total size of the repository's pack files in bytes.",
        |r| r.size_bytes as f64,
    ),
    (
        "cairn_repository_packs",
        "Number of pack files in the repository.",
        |r| r.packs as f64,
    ),
];

/// Renders every family that has samples, each with its HELP and TYPE
/// lines and the samples of every repository.
pub(crate) fn render(reports: &[RepositoryReport]) -> String {
    let mut set = MetricSet::default();
    let mut add = |name: &str, help: &str, kind: MetricKind, pairs: &[(&str, &str)], value: f64| {
        set.add(
            name,
            help,
            kind,
            Sample {
                labels: labels(pairs),
                value,
            },
        );
    };
    for r in reports.iter().filter(|r| r.up) {
        for g in &r.groups {
            let paths = g.paths.join(",");
            let tags = g.tags.join(",");
            let pairs = [
                ("repository", r.label.as_str()),
                ("host", g.host.as_str()),
                ("paths", paths.as_str()),
                ("tags", tags.as_str()),
            ];
            for (name, help, value) in GROUP_FAMILIES {
                if let Some(v) = value(g) {
                    add(name, help, MetricKind::Gauge, &pairs, v);
                }
            }
        }
        for (name, help, value) in REPOSITORY_FAMILIES {
            add(
                name,
                help,
                MetricKind::Gauge,
                &[("repository", &r.label)],
                value(r),
            );
        }
    }
    for r in reports {
        let repo = [("repository", r.label.as_str())];
        add(
            "cairn_repository_up",
            "1 if the repository's last refresh succeeded, else 0.",
            MetricKind::Gauge,
            &repo,
            if r.up { 1.0 } else { 0.0 },
        );
        add(
            "cairn_scrape_duration_seconds",
            "How long the repository's last refresh took.",
            MetricKind::Gauge,
            &repo,
            r.scrape_duration_seconds,
        );
        add(
            "cairn_scrape_errors_total",
            "Failed refreshes and unreadable snapshot or lock files.",
            MetricKind::Counter,
            &repo,
            r.scrape_errors_total as f64,
        );
    }
    set.render()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(text.matches("# TYPE ").count(), 3);
        assert_eq!(text.matches("# HELP ").count(), 3);
        assert!(text.contains("# TYPE cairn_scrape_errors_total counter\n"));
    }
}
