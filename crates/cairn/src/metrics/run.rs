//! One run of a command: what identifies it, when it ran, how it ended,
//! and its figures; turned into a [`MetricSet`].

use super::{
    MetricKind, MetricSet, Sample, DURATION, END, EXIT_CODE, LAST_SUCCESS, START, SUCCESS,
};
use std::time::{SystemTime, UNIX_EPOCH};

/// The labels that identify a run: a new run replaces the series of the
/// previous run with the same values of all of them (absent = empty).
pub const IDENTITY_LABELS: [&str; 5] = ["command", "repository", "host", "paths", "tags"];

/// One figure a command reported: a gauge with optional extra labels
/// (e.g. `state="new"`).
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Metric name (`cairn_backup_files`).
    pub name: &'static str,
    /// Its help text.
    pub help: &'static str,
    /// Labels besides the run's identity.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

impl Figure {
    /// A figure without extra labels.
    pub fn new(name: &'static str, help: &'static str, value: f64) -> Figure {
        Figure {
            name,
            help,
            labels: Vec::new(),
            value,
        }
    }

    /// The same figure with one more label.
    pub fn with_label(mut self, name: &'static str, value: &str) -> Figure {
        self.labels.push((name, value.to_string()));
        self
    }
}

/// What one run of a command did, as metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandRun {
    /// The identity labels ([`IDENTITY_LABELS`] that have a value), in
    /// that order.
    pub identity: Vec<(&'static str, String)>,
    /// When the run started.
    pub start: SystemTime,
    /// When it ended (equal to `start` until [`CommandRun::finish`]).
    pub end: SystemTime,
    /// Its exit code (restic's: 0 success, 1 fatal, 3 partial backup, 10
    /// no repository, 11 lock failed, 12 wrong password, 130
    /// interrupted).
    pub exit_code: i32,
    /// The command's own figures.
    pub figures: Vec<Figure>,
}

impl CommandRun {
    /// A run of `command` on `repository` (a location; passwords and the
    /// query string are removed with [`redact_location`]) from `host`.
    pub fn new(command: &str, repository: &str, host: &str, start: SystemTime) -> CommandRun {
        CommandRun {
            identity: vec![
                ("command", command.to_string()),
                ("repository", redact_location(repository)),
                ("host", host.to_string()),
            ],
            start,
            end: start,
            exit_code: 0,
            figures: Vec::new(),
        }
    }

    /// Sets the backup set's paths (sorted, joined with `,`) and tags
    /// (sorted, joined with `,`); empty lists are left out.
    pub fn set_backup_set(&mut self, paths: &[String], tags: &[String]) {
        self.identity.retain(|(k, _)| *k != "paths" && *k != "tags");
        for (name, list) in [("paths", paths), ("tags", tags)] {
            let mut list = list.to_vec();
            list.sort();
            list.dedup();
            if !list.is_empty() {
                self.identity.push((name, list.join(",")));
            }
        }
    }

    /// Sets the host label (e.g. the `--host` a backup is recorded with).
    pub fn set_host(&mut self, host: &str) {
        for (k, v) in &mut self.identity {
            if *k == "host" {
                *v = host.to_string();
            }
        }
    }

    /// Records the end of the run and its exit code.
    pub fn finish(&mut self, end: SystemTime, exit_code: i32) {
        self.end = end;
        self.exit_code = exit_code;
    }

    /// The identity label `name`'s value, or `""`.
    pub fn identity_label(&self, name: &str) -> &str {
        self.identity
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// True if `sample` belongs to a run with this run's identity.
    pub fn same_identity(&self, sample: &Sample) -> bool {
        IDENTITY_LABELS
            .iter()
            .all(|name| sample.label(name) == self.identity_label(name))
    }

    fn labels(&self, extra: &[(&'static str, String)]) -> Vec<(String, String)> {
        self.identity
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// The run's series: success, exit code, times, duration, the last
    /// success time (this run's end if it succeeded, else
    /// `previous_success` if known) and the figures.
    pub fn to_metrics(&self, previous_success: Option<f64>) -> MetricSet {
        let secs = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_millis() as f64 / 1000.0)
        };
        let duration = self
            .end
            .duration_since(self.start)
            .map_or(0.0, |d| d.as_millis() as f64 / 1000.0);
        let success = self.exit_code == 0;
        let last_success = if success {
            Some(secs(self.end))
        } else {
            previous_success
        };
        let mut set = MetricSet::default();
        let mut add = |name: &str, help: &str, extra: &[(&'static str, String)], value: f64| {
            let sample = Sample {
                labels: self.labels(extra),
                value,
            };
            set.add(name, help, MetricKind::Gauge, sample);
        };
        let general = [
            (
                SUCCESS,
                "1 if the latest run of the command succeeded, 0 if not.",
                f64::from(u8::from(success)),
            ),
            (
                EXIT_CODE,
                "Exit code of the latest run of the command (restic's codes).",
                f64::from(self.exit_code),
            ),
            (
                START,
                "Start time of the latest run of the command (Unix seconds).",
                secs(self.start),
            ),
            (
                END,
                "End time of the latest run of the command (Unix seconds).",
                secs(self.end),
            ),
            (
                DURATION,
                "Duration of the latest run of the command in seconds.",
                duration,
            ),
        ];
        for (name, help, value) in general {
            add(name, help, &[], value);
        }
        if let Some(t) = last_success {
            add(
                LAST_SUCCESS,
                "End time of the latest successful run of the command (Unix seconds).",
                &[],
                t,
            );
        }
        for f in &self.figures {
            add(f.name, f.help, &f.labels, f.value);
        }
        set
    }
}

/// A repository location without secrets, for labels and push URLs: the
/// password of a URL's user information is removed (the user name kept),
/// and the query string and fragment are left out (they may hold keys or
/// signatures). Other locations are returned unchanged.
pub fn redact_location(location: &str) -> String {
    let Some(scheme_end) = location.find("://") else {
        return location.to_string();
    };
    let (head, after) = location.split_at(scheme_end + 3);
    let after = after.split(['?', '#']).next().unwrap_or("");
    let auth_end = after.find('/').unwrap_or(after.len());
    let (authority, path) = after.split_at(auth_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if user.is_empty() {
                host.to_string()
            } else {
                format!("{user}@{host}")
            }
        }
        None => authority.to_string(),
    };
    format!("{head}{authority}{path}")
}
