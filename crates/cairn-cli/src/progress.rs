//! Progress bars on a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// A byte-counting bar for restore, hidden when progress is off.
pub struct RestoreBar {
    bar: ProgressBar,
}

impl RestoreBar {
    /// A bar that draws only when `visible`.
    pub fn new(visible: bool) -> Self {
        let bar = if visible {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {percent:>3}%  {pos}/{len} files  {msg}",
            )
            .expect("static template is valid"),
        );
        RestoreBar { bar }
    }

    /// Removes the bar from the screen.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl cairn::restore::RestoreProgress for RestoreBar {
    fn start(&self, total_files: u64, total_bytes: u64) {
        self.bar.set_length(total_files);
        self.bar.set_message(format!(
            "{} total",
            crate::output::format_bytes(total_bytes)
        ));
    }

    fn file_done(&self, _bytes: u64) {
        self.bar.inc(1);
    }
}

/// Lets an action through at most once per interval, whichever of the
/// threads reporting progress asks; times are nanoseconds since a start.
struct Throttle {
    /// The earliest time the action may run again.
    next_due: std::sync::atomic::AtomicU64,
    interval: u64,
}

impl Throttle {
    /// First due at `first_due` after the start, then every `interval`.
    fn new(first_due: std::time::Duration, interval: std::time::Duration) -> Self {
        Throttle {
            next_due: Self::nanos(first_due).into(),
            interval: Self::nanos(interval),
        }
    }

    /// `d` in nanoseconds, saturating (after some 584 years).
    fn nanos(d: std::time::Duration) -> u64 {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    /// True if the action is due at `now` (since the start); the one
    /// caller that gets true moves the next time on.
    fn ready(&self, now: std::time::Duration) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let now = Self::nanos(now);
        let due = self.next_due.load(Relaxed);
        now >= due
            && self
                .next_due
                .compare_exchange(due, now.saturating_add(self.interval), Relaxed, Relaxed)
                .is_ok()
    }
}

/// How often the backup bar's message is rebuilt. Every chunk and every
/// file report progress, tens of thousands of times a second for small
/// files; formatting the message each time cost about 1 % of a backup's
/// CPU. The spinner redraws every 250 ms anyway.
const MESSAGE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// How often restic's JSON status lines are printed.
const STATUS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Backup progress: a bar on a terminal, or restic's JSON status lines
/// (at most one a second) with `--json`.
pub struct BackupBar {
    bar: ProgressBar,
    json: bool,
    /// Whether anything is shown at all (a bar or JSON status lines).
    shown: bool,
    /// The message is rebuilt at once, then every [`MESSAGE_INTERVAL`].
    message: Throttle,
    /// JSON status lines: one a second, the first after a second.
    status: Throttle,
    started: std::time::Instant,
    files: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
    total_files: std::sync::atomic::AtomicU64,
    total_bytes: std::sync::atomic::AtomicU64,
}

impl BackupBar {
    /// A bar shown when `visible`; JSON status lines when `json`.
    pub fn new(visible: bool, json: bool) -> Self {
        let bar = if visible && !json {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {msg}")
                .expect("static template is valid"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        let now = std::time::Instant::now();
        BackupBar {
            bar,
            json,
            shown: visible || json,
            message: Throttle::new(std::time::Duration::ZERO, MESSAGE_INTERVAL),
            status: Throttle::new(STATUS_INTERVAL, STATUS_INTERVAL),
            started: now,
            files: Default::default(),
            bytes: Default::default(),
            errors: Default::default(),
            total_files: Default::default(),
            total_bytes: Default::default(),
        }
    }

    /// Whether progress is shown at all: the scanner that counts totals
    /// for it is only worth running then.
    pub fn shown(&self) -> bool {
        self.shown
    }

    /// True at most once per [`MESSAGE_INTERVAL`] (for one caller among
    /// threads racing), and never when nothing is shown.
    fn message_due(&self) -> bool {
        self.shown && self.message.ready(self.started.elapsed())
    }

    fn update(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.message_due() {
            return;
        }
        let (files, bytes) = (self.files.load(Relaxed), self.bytes.load(Relaxed));
        let (total_files, total_bytes) = (
            self.total_files.load(Relaxed),
            self.total_bytes.load(Relaxed),
        );
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = bytes as f64 / secs;
        // ETA from the byte rate so far, once the scanner has a total.
        let eta = (total_bytes > bytes && rate > 0.0)
            .then(|| ((total_bytes - bytes) as f64 / rate) as u64);
        let percent = if total_bytes > 0 {
            (bytes as f64 / total_bytes as f64).min(1.0)
        } else {
            0.0
        };
        let mut msg = format!(
            "{:.2}%  {files} files {}, total {total_files} files {}, {}/s, {} errors",
            percent * 100.0,
            crate::output::format_bytes(bytes),
            crate::output::format_bytes(total_bytes),
            crate::output::format_bytes(rate as u64),
            self.errors.load(Relaxed)
        );
        if let Some(eta) = eta {
            msg.push_str(&format!(", ETA {}:{:02}", eta / 60, eta % 60));
        }
        self.bar.set_message(msg);
        if self.json && self.status.ready(self.started.elapsed()) {
            let mut o = crate::output::JsonObject::default();
            o.set("message_type", "status");
            o.set("seconds_elapsed", self.started.elapsed().as_secs());
            if let Some(eta) = eta {
                o.set("seconds_remaining", eta);
            }
            o.set("percent_done", percent);
            o.set("total_files", total_files);
            o.set("files_done", files);
            o.set("total_bytes", total_bytes);
            o.set("bytes_done", bytes);
            o.set("error_count", self.errors.load(Relaxed));
            println!("{}", o.to_json());
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl cairn::backup::BackupProgress for BackupBar {
    fn scanned(&self, files: u64, bytes: u64, _done: bool) {
        self.total_files
            .store(files, std::sync::atomic::Ordering::Relaxed);
        self.total_bytes
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    fn bytes_done(&self, n: u64) {
        self.bytes
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        self.update();
    }

    fn file_done(&self, _path: &std::path::Path, size: u64, read: bool) {
        self.files
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !read {
            self.bytes
                .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        }
        self.update();
    }

    fn error(&self, path: &std::path::Path, error: &cairn::Error) {
        self.errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.json {
            let mut o = crate::output::JsonObject::default();
            o.set("message_type", "error");
            o.set("error", serde_json::json!({ "message": error.to_string() }));
            o.set("during", "archival");
            o.set("item", path.to_string_lossy().into_owned());
            eprintln!("{}", o.to_json());
        } else {
            self.bar.suspend(|| eprintln!("error: {error}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_one_call_through_per_interval() {
        let ms = std::time::Duration::from_millis;
        let status = Throttle::new(ms(1000), ms(1000));
        assert!(!status.ready(ms(0)), "not due before its first time");
        assert!(!status.ready(ms(999)));
        assert!(status.ready(ms(1000)));
        assert!(!status.ready(ms(1000)), "one caller per due time");
        assert!(!status.ready(ms(1999)));
        assert!(status.ready(ms(2500)));
        assert!(
            !status.ready(ms(3400)),
            "the interval counts from the last run"
        );
        assert!(status.ready(ms(3500)));
    }

    #[test]
    fn hidden_progress_never_builds_a_message() {
        let bar = BackupBar::new(false, false);
        assert!(!bar.shown());
        assert!(!bar.message_due());
    }

    #[test]
    fn messages_are_rebuilt_at_most_once_per_interval() {
        let bar = BackupBar::new(false, true);
        assert!(bar.shown());
        assert!(bar.message_due(), "the first update is shown");
        assert!(!bar.message_due(), "an update right after it is not");
        std::thread::sleep(MESSAGE_INTERVAL + std::time::Duration::from_millis(20));
        assert!(bar.message_due(), "one after the interval is");
    }
}
