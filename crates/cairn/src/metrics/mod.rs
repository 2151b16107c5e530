//! Prometheus metrics of a command run: the figures a command returned
//! (backup summary, forget result, prune statistics, check report, copy
//! and restore summaries), rendered in Prometheus's text format, merged
//! into a metrics file (for node_exporter's textfile collector) and
//! pushed to a Pushgateway.
//!
//! A [`CommandRun`] holds what one run of a command did: its name, the
//! labels that identify it (repository, host, and for backups the paths
//! and tags of the backup set), its times, exit code and [`Figure`]s.
//! [`write_metrics_file`] merges it into a file that keeps the latest run
//! of every command (and of every backup set), atomically and under a
//! lock so that concurrent commands serialize.
//!
//! ```no_run
//! use cairn::metrics::{CommandRun, write_metrics_file};
//! use std::time::SystemTime;
//!
//! let start = SystemTime::now();
//! let mut run = CommandRun::new("check", "/srv/restic-repo", "myhost", start);
//! run.finish(SystemTime::now(), 0);
//! write_metrics_file("/var/lib/node_exporter/cairn.prom".as_ref(), &run)?;
//! # Ok::<(), cairn::Error>(())
//! ```

mod figures;
mod file;
#[cfg(feature = "rest")]
mod push;
mod run;
#[cfg(test)]
mod tests;
mod text;

pub use figures::{
    backup_figures, check_figures, copy_figures, forget_figures, prune_figures, restore_figures,
};
pub use file::{merge_run, write_metrics_file, MAX_METRICS_FILE_SIZE};
#[cfg(feature = "rest")]
pub use push::{push_to_gateway, pushgateway_url, PUSH_JOB, PUSH_TIMEOUT};
pub use run::{redact_location, CommandRun, Figure, IDENTITY_LABELS};
pub use text::{escape_label_value, parse_text, ParseError};

/// `cairn_command_success`: 1 if the run succeeded (exit code 0).
pub const SUCCESS: &str = "cairn_command_success";
/// `cairn_command_exit_code`: the run's exit code (restic's codes).
pub const EXIT_CODE: &str = "cairn_command_exit_code";
/// `cairn_command_start_timestamp_seconds`: when the run started.
pub const START: &str = "cairn_command_start_timestamp_seconds";
/// `cairn_command_end_timestamp_seconds`: when the run ended.
pub const END: &str = "cairn_command_end_timestamp_seconds";
/// `cairn_command_duration_seconds`: how long the run took.
pub const DURATION: &str = "cairn_command_duration_seconds";
/// `cairn_command_last_success_timestamp_seconds`: when the latest
/// successful run of this command (same labels) ended; kept over failed
/// runs, so that "no successful backup for a day" can be alerted on.
pub const LAST_SUCCESS: &str = "cairn_command_last_success_timestamp_seconds";

/// The type of a metric family (Prometheus's `# TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A value that can go up and down (every figure of a run is one).
    Gauge,
    /// A monotonically increasing count.
    Counter,
    /// Anything else (also families without a `# TYPE` line).
    Untyped,
}

impl MetricKind {
    /// The name in the text format.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
            MetricKind::Untyped => "untyped",
        }
    }
}

/// One series and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Its labels, in the order they are written.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, or `""` (Prometheus's empty = absent).
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A metric family: one name, its help and type, its series.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// The metric name.
    pub name: String,
    /// Its `# HELP` text.
    pub help: String,
    /// Its `# TYPE`.
    pub kind: MetricKind,
    /// Its series.
    pub samples: Vec<Sample>,
}

/// A set of metric families, kept sorted by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSet {
    /// The families, sorted by name, none empty.
    pub families: Vec<Family>,
}

impl MetricSet {
    /// The family `name`, if present.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// Adds one series to family `name` (created with `help` and `kind`
    /// if new; an existing family keeps its help and type).
    pub fn add(&mut self, name: &str, help: &str, kind: MetricKind, sample: Sample) {
        match self
            .families
            .binary_search_by(|f| f.name.as_str().cmp(name))
        {
            Ok(i) => self.families[i].samples.push(sample),
            Err(i) => self.families.insert(
                i,
                Family {
                    name: name.to_string(),
                    help: help.to_string(),
                    kind,
                    samples: vec![sample],
                },
            ),
        }
    }

    /// Removes every series for which `drop` is true, then empty families.
    pub fn remove_samples(&mut self, drop: impl Fn(&Sample) -> bool) {
        for f in &mut self.families {
            f.samples.retain(|s| !drop(s));
        }
        self.families.retain(|f| !f.samples.is_empty());
    }

    /// All series of `other` added to this set.
    pub fn extend(&mut self, other: &MetricSet) {
        for f in &other.families {
            for s in &f.samples {
                self.add(&f.name, &f.help, f.kind, s.clone());
            }
        }
    }

    /// The set in Prometheus's text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        text::render(self)
    }
}
