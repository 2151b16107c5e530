//! `restore`'s progress and messages, as restic 0.19's `ui/restore`
//! prints them: the status line by bytes, JSON `status`,
//! `verbose_status`, `error` and `summary` lines, the `-vv` item lines
//! and the closing "Summary: Restored ..." line.

use super::{format_duration, format_percent, Status, Ticker};
use crate::output::{format_bytes, JsonObject};
use cairn::restore::{ItemAction, RestoreError, RestoreProgress, RestoreSummary};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The counters (restic's restore `State`) and the display.
struct State {
    json: bool,
    verbosity: u8,
    started: Instant,
    status: Status,
    files_total: AtomicU64,
    files_finished: AtomicU64,
    files_skipped: AtomicU64,
    files_deleted: AtomicU64,
    bytes_total: AtomicU64,
    bytes_written: AtomicU64,
    bytes_skipped: AtomicU64,
}

/// Restore progress and messages; see the module documentation.
pub struct RestoreOutput {
    state: Arc<State>,
    ticker: Option<Ticker>,
}

/// The counts shown, at one moment.
struct Counts {
    total: u64,
    finished: u64,
    skipped: u64,
    deleted: u64,
    bytes_total: u64,
    written: u64,
    bytes_skipped: u64,
}

impl RestoreOutput {
    /// Shows status every `interval` (if any) in JSON or text, and the
    /// messages restic prints at `verbosity` (0 quiet ... 3 `-vv`).
    pub fn new(json: bool, verbosity: u8, interval: Option<Duration>) -> Self {
        let state = Arc::new(State {
            json,
            verbosity,
            started: Instant::now(),
            status: Status::new(),
            files_total: AtomicU64::new(0),
            files_finished: AtomicU64::new(0),
            files_skipped: AtomicU64::new(0),
            files_deleted: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            bytes_skipped: AtomicU64::new(0),
        });
        let ticker = interval.map(|i| {
            let state = state.clone();
            Ticker::start(i, move || state.update())
        });
        RestoreOutput { state, ticker }
    }

    /// Prints a message line in text mode at `level` (restic's `P`/`V`).
    pub fn message(&self, level: u8, line: &str) {
        if !self.state.json && self.state.verbosity >= level {
            self.state.status.print(line);
        }
    }

    /// Stops the status display and prints restic's summary of what the
    /// restore did: the "Summary: Restored ..." line, or the JSON
    /// `summary` object.
    pub fn finish(&mut self, summary: &RestoreSummary) {
        if let Some(mut t) = self.ticker.take() {
            t.stop();
        }
        let s = &self.state;
        s.status.clear();
        let complete = summary.errors.is_empty();
        let c = Counts {
            total: summary.items(),
            finished: summary.items().saturating_sub(summary.skipped),
            skipped: summary.skipped,
            deleted: summary.deleted,
            bytes_total: summary.bytes,
            written: if complete {
                summary.bytes
            } else {
                s.bytes_written.load(Relaxed)
            },
            bytes_skipped: summary.skipped_bytes,
        };
        let elapsed = s.started.elapsed();
        if s.json {
            let mut o = JsonObject::default();
            o.set("message_type", "summary");
            c.set_nonzero(&mut o, elapsed, None);
            // The bytes restored are the ones actually written.
            o.remove("bytes_restored");
            if summary.bytes_written > 0 {
                o.set("bytes_restored", summary.bytes_written);
            }
            let order = [
                "message_type",
                "seconds_elapsed",
                "total_files",
                "files_restored",
                "files_skipped",
                "files_deleted",
                "total_bytes",
                "bytes_restored",
                "bytes_skipped",
            ];
            o.0.sort_by_key(|(k, _)| order.iter().position(|x| *x == k.as_str()));
            println!("{}", o.to_json());
        } else if s.verbosity >= 1 {
            let mut line = if complete {
                format!(
                    "Summary: Restored {} files/dirs ({}) in {}",
                    c.total,
                    format_bytes(c.bytes_total),
                    format_duration(elapsed)
                )
            } else {
                format!(
                    "Summary: Restored {} / {} files/dirs ({} / {}) in {}",
                    c.finished,
                    c.total,
                    format_bytes(c.written),
                    format_bytes(c.bytes_total),
                    format_duration(elapsed)
                )
            };
            c.push_skipped_deleted(&mut line);
            s.status.print(&line);
        }
    }
}

impl Counts {
    /// restic's fields with `omitempty`: zeros are left out.
    fn set_nonzero(&self, o: &mut JsonObject, elapsed: Duration, percent: Option<f64>) {
        if elapsed.as_secs() > 0 {
            o.set("seconds_elapsed", elapsed.as_secs());
        }
        if let Some(p) = percent {
            o.set("percent_done", p);
        }
        for (k, v) in [
            ("total_files", self.total),
            ("files_restored", self.finished),
            ("files_skipped", self.skipped),
            ("files_deleted", self.deleted),
            ("total_bytes", self.bytes_total),
            ("bytes_restored", self.written),
            ("bytes_skipped", self.bytes_skipped),
        ] {
            if v != 0 {
                o.set(k, v);
            }
        }
    }

    fn push_skipped_deleted(&self, line: &mut String) {
        if self.skipped > 0 {
            line.push_str(&format!(
                ", skipped {} files/dirs {}",
                self.skipped,
                format_bytes(self.bytes_skipped)
            ));
        }
        if self.deleted > 0 {
            line.push_str(&format!(", deleted {} files/dirs", self.deleted));
        }
    }
}

impl State {
    fn counts(&self) -> Counts {
        Counts {
            total: self.files_total.load(Relaxed),
            finished: self.files_finished.load(Relaxed),
            skipped: self.files_skipped.load(Relaxed),
            deleted: self.files_deleted.load(Relaxed),
            bytes_total: self.bytes_total.load(Relaxed),
            written: self.bytes_written.load(Relaxed),
            bytes_skipped: self.bytes_skipped.load(Relaxed),
        }
    }

    fn update(&self) {
        let c = self.counts();
        let elapsed = self.started.elapsed();
        if self.json {
            let mut o = JsonObject::default();
            o.set("message_type", "status");
            let percent = if c.bytes_total > 0 {
                c.written as f64 / c.bytes_total as f64
            } else {
                0.0
            };
            c.set_nonzero(&mut o, elapsed, Some(percent));
            println!("{}", o.to_json());
            return;
        }
        let mut line = format!(
            "[{}] {}  {} files/dirs {}, total {} files/dirs {}",
            format_duration(elapsed),
            format_percent(c.written, c.bytes_total),
            c.finished,
            format_bytes(c.written),
            c.total,
            format_bytes(c.bytes_total)
        );
        c.push_skipped_deleted(&mut line);
        self.status.set(vec![line]);
    }

    /// An item line: text at `-vv`, `verbose_status` JSON at `-vv`.
    fn item_line(&self, action: &str, item: &str, size: Option<u64>) {
        if self.verbosity < 3 {
            return;
        }
        if self.json {
            let mut o = JsonObject::default();
            o.set("message_type", "verbose_status");
            o.set("action", action);
            o.set("item", item);
            o.set("size", size.unwrap_or(0));
            println!("{}", o.to_json());
        } else {
            match size {
                Some(size) => self.status.print(&format!(
                    "{action:<9} {item} with size {}",
                    format_bytes(size)
                )),
                None => self.status.print(&format!("{action:<9} {item}")),
            }
        }
    }
}

impl Drop for RestoreOutput {
    fn drop(&mut self) {
        if let Some(mut t) = self.ticker.take() {
            t.stop();
        }
        self.state.status.clear();
    }
}

impl RestoreProgress for RestoreOutput {
    fn start(&self, total_files: u64, total_bytes: u64) {
        self.state.files_total.store(total_files, Relaxed);
        self.state.bytes_total.store(total_bytes, Relaxed);
    }

    fn bytes_done(&self, bytes: u64) {
        self.state.bytes_written.fetch_add(bytes, Relaxed);
    }

    fn file_done(&self, _bytes: u64) {
        self.state.files_finished.fetch_add(1, Relaxed);
    }

    fn item(&self, location: &[u8], action: ItemAction, size: u64) {
        let s = &self.state;
        let item = String::from_utf8_lossy(location);
        match action {
            ItemAction::DirRestored | ItemAction::OtherRestored => {
                s.files_finished.fetch_add(1, Relaxed);
                s.item_line("restored", &item, None);
            }
            ItemAction::FileRestored => s.item_line("restored", &item, Some(size)),
            ItemAction::FileUpdated => s.item_line("updated", &item, Some(size)),
            ItemAction::FileUnchanged => s.item_line("unchanged", &item, Some(size)),
            ItemAction::Skipped => {
                s.files_skipped.fetch_add(1, Relaxed);
                s.bytes_skipped.fetch_add(size, Relaxed);
                // restic reports a skipped file as unchanged.
                s.item_line("unchanged", &item, Some(size));
            }
        }
    }

    fn deleted(&self, path: &Path) {
        self.state.files_deleted.fetch_add(1, Relaxed);
        self.state
            .item_line("deleted", &path.to_string_lossy(), None);
    }

    fn error(&self, error: &RestoreError) {
        let s = &self.state;
        let item = String::from_utf8_lossy(&error.location).into_owned();
        if s.json {
            let mut o = JsonObject::default();
            o.set("message_type", "error");
            o.set(
                "error",
                serde_json::json!({ "message": error.error.to_string() }),
            );
            o.set("during", "restore");
            o.set("item", item);
            s.status.eprint(&o.to_json());
        } else {
            s.status.eprint(&format!("ignoring error for {error}"));
        }
    }
}
