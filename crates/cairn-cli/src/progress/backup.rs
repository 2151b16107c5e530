//! `backup`'s progress and messages, as restic 0.19's `ui/backup` prints
//! them: the status line with the files being read, JSON `status`,
//! `verbose_status` and `error` lines, the `-v`/`-vv` text lines.

use super::{format_duration, format_percent, format_seconds, Status, Ticker};
use crate::output::{format_bytes, JsonObject};
use cairn::backup::{BackupProgress, ItemDone};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Below this rate (bytes a second) restic shows no ETA.
const TOO_SLOW_FOR_ETA: f64 = 1024.0;

/// The counters and the display, shared with the ticker thread.
struct State {
    json: bool,
    verbosity: u8,
    started: Instant,
    status: Status,
    /// Whether to say which parent snapshot is used (not for `--stdin`).
    tell_parent: AtomicBool,
    /// `-v` lines restic prints after the parent snapshot's line.
    after_parent: Mutex<Vec<String>>,
    /// Whether anything has happened that a status line can show.
    started_work: AtomicBool,
    scan_finished: AtomicBool,
    files: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    total_files: AtomicU64,
    total_bytes: AtomicU64,
    /// Files being read now (only kept when status is shown).
    current: Option<Mutex<BTreeSet<String>>>,
    /// Per target, its absolute path and the folder its place in the
    /// snapshot is relative to (`/`, or the working directory for a
    /// relative target), to name items as restic does.
    bases: Mutex<Vec<(PathBuf, PathBuf)>>,
}

/// Backup progress and messages; see the module documentation.
pub struct BackupOutput {
    state: Arc<State>,
    ticker: Option<Ticker>,
}

impl BackupOutput {
    /// Shows status every `interval` (if any) in JSON or text, and the
    /// messages restic prints at `verbosity` (0 quiet, 1 normal, 2 `-v`,
    /// 3 `-vv`).
    pub fn new(json: bool, verbosity: u8, interval: Option<Duration>) -> Self {
        let state = Arc::new(State {
            json,
            verbosity,
            started: Instant::now(),
            status: Status::new(),
            tell_parent: AtomicBool::new(true),
            after_parent: Mutex::new(Vec::new()),
            started_work: AtomicBool::new(false),
            scan_finished: AtomicBool::new(false),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            total_files: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            current: interval.map(|_| Mutex::new(BTreeSet::new())),
            bases: Mutex::new(Vec::new()),
        });
        let ticker = interval.map(|i| {
            let state = state.clone();
            Ticker::start(i, move || state.update())
        });
        BackupOutput { state, ticker }
    }

    /// Whether status is shown at all: the scanner that counts totals
    /// for it is only worth running then (or for `-v`'s "scan finished").
    pub fn wants_scan(&self) -> bool {
        self.ticker.is_some() || self.state.verbosity >= 2
    }

    /// The backup's targets (as given), so that items are named by their
    /// place in the snapshot (`/src/a` for a relative `src`), as restic
    /// names them.
    pub fn set_targets(&self, targets: &[PathBuf]) {
        let mut bases = Vec::new();
        for t in targets {
            let (Ok(abs), Ok(place)) = (
                cairn::backup::absolute_path(t),
                cairn::backup::snapshot_path(t),
            ) else {
                continue;
            };
            let depth = Path::new(&place).components().count().saturating_sub(1);
            let mut base = abs.clone();
            for _ in 0..depth {
                base.pop();
            }
            bases.push((abs, base));
        }
        *self.state.bases.lock().expect("lock poisoned") = bases;
    }

    /// Whether to say which parent snapshot is used (restic does not for
    /// `--stdin`).
    pub fn tell_parent(&self, tell: bool) {
        self.state.tell_parent.store(tell, Relaxed);
    }

    /// A `-v` line (restic's `V`) to print once the parent snapshot is
    /// chosen, after the line that names it ("start scan on [...]").
    pub fn verbose_after_parent(&self, line: String) {
        self.state
            .after_parent
            .lock()
            .expect("lock poisoned")
            .push(line);
    }

    /// Prints a message line (restic's `P`/`V`/`VV` at `level`) in text
    /// mode.
    pub fn message(&self, level: u8, line: &str) {
        if !self.state.json && self.state.verbosity >= level {
            self.state.status.print(line);
        }
    }

    /// Prints a warning on standard error, above the status lines.
    pub fn warn(&self, line: &str) {
        self.state.status.eprint(line);
    }

    /// Stops the status display and removes it from the screen.
    pub fn finish(&mut self) {
        if let Some(mut t) = self.ticker.take() {
            t.stop();
        }
        self.state.status.clear();
    }
}

impl Drop for BackupOutput {
    fn drop(&mut self) {
        self.finish();
    }
}

impl State {
    /// `path`'s name in the snapshot: `/` and its path below the folder
    /// its target is placed relative to.
    fn item_name(&self, path: &Path) -> String {
        let bases = self.bases.lock().expect("lock poisoned");
        let base = bases
            .iter()
            .find(|(abs, _)| path.starts_with(abs) || abs.starts_with(path))
            .map(|(_, base)| base.as_path());
        match base.and_then(|b| path.strip_prefix(b).ok()) {
            Some(rest) => format!("/{}", rest.to_string_lossy()),
            None => path.to_string_lossy().into_owned(),
        }
    }

    fn forget_current(&self, path: &Path) {
        if let Some(current) = &self.current {
            let name = path.to_string_lossy();
            current.lock().expect("lock poisoned").remove(name.as_ref());
        }
    }

    fn eta(&self, bytes: u64, total_bytes: u64) -> u64 {
        if !self.scan_finished.load(Relaxed) {
            return 0;
        }
        let rate = bytes as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        if rate <= TOO_SLOW_FOR_ETA {
            return 0;
        }
        (total_bytes.saturating_sub(bytes) as f64 / rate) as u64
    }

    /// One status update: a JSON `status` line or the text status lines.
    fn update(&self) {
        if !self.started_work.load(Relaxed) {
            return;
        }
        let (files, bytes, errors) = (
            self.files.load(Relaxed),
            self.bytes.load(Relaxed),
            self.errors.load(Relaxed),
        );
        let (total_files, total_bytes) = (
            self.total_files.load(Relaxed),
            self.total_bytes.load(Relaxed),
        );
        let eta = self.eta(bytes, total_bytes);
        let current: Vec<String> = match &self.current {
            Some(c) => c.lock().expect("lock poisoned").iter().cloned().collect(),
            None => Vec::new(),
        };
        let elapsed = self.started.elapsed();
        if self.json {
            let mut o = JsonObject::default();
            o.set("message_type", "status");
            let mut nonzero = |k: &str, v: u64| {
                if v != 0 {
                    o.set(k, v);
                }
            };
            nonzero("seconds_elapsed", elapsed.as_secs());
            nonzero("seconds_remaining", eta);
            let percent = if total_bytes > 0 {
                bytes as f64 / total_bytes as f64
            } else {
                0.0
            };
            o.set("percent_done", percent);
            for (k, v) in [
                ("total_files", total_files),
                ("files_done", files),
                ("total_bytes", total_bytes),
                ("bytes_done", bytes),
                ("error_count", errors),
            ] {
                if v != 0 {
                    o.set(k, v);
                }
            }
            if !current.is_empty() {
                o.set("current_files", current);
            }
            println!("{}", o.to_json());
            return;
        }
        let line = if total_files == 0 && !self.scan_finished.load(Relaxed) {
            format!(
                "[{}] {files} files, {}, {errors} errors",
                format_duration(elapsed),
                format_bytes(bytes)
            )
        } else {
            let (mut percent, mut eta_text) = (String::new(), String::new());
            if eta > 0 && bytes < total_bytes {
                eta_text = format!(" ETA {}", format_seconds(eta));
                percent = format!("{}  ", format_percent(bytes, total_bytes));
            }
            format!(
                "[{}] {percent}{files} files {}, total {total_files} files {}, {errors} errors{eta_text}",
                format_duration(elapsed),
                format_bytes(bytes),
                format_bytes(total_bytes),
            )
        };
        let mut lines = vec![line];
        lines.extend(current);
        self.status.set(lines);
    }
}

impl BackupProgress for BackupOutput {
    fn parent_chosen(&self, parent: Option<&cairn::Id>) {
        if self.state.tell_parent.load(Relaxed) {
            match parent {
                Some(id) => self.message(1, &format!("using parent snapshot {}", id.short())),
                None => self.message(1, "no parent snapshot found, will read all files"),
            }
        }
        let lines = std::mem::take(&mut *self.state.after_parent.lock().expect("lock poisoned"));
        for line in lines {
            self.message(2, &line);
        }
    }

    fn scanned(&self, files: u64, bytes: u64, done: bool) {
        let s = &self.state;
        s.total_files.store(files, Relaxed);
        s.total_bytes.store(bytes, Relaxed);
        s.started_work.store(true, Relaxed);
        if !done || s.scan_finished.swap(true, Relaxed) {
            return;
        }
        let secs = s.started.elapsed().as_secs_f64();
        if s.json {
            if s.verbosity >= 2 {
                let mut o = verbose_json("scan_finished", "");
                o.set("duration", secs);
                o.set("data_size", bytes);
                o.set("total_files", files);
                println!("{}", o.to_json());
            }
        } else if s.verbosity >= 2 {
            s.status.print(&format!(
                "scan finished in {secs:.3}s: {files} files, {}",
                format_bytes(bytes)
            ));
        }
    }

    fn bytes_done(&self, n: u64) {
        self.state.bytes.fetch_add(n, Relaxed);
        self.state.started_work.store(true, Relaxed);
    }

    fn file_started(&self, path: &Path) {
        if let Some(current) = &self.state.current {
            let name = path.to_string_lossy().into_owned();
            current.lock().expect("lock poisoned").insert(name);
        }
    }

    fn file_done(&self, path: &Path, size: u64, read: bool) {
        let s = &self.state;
        s.files.fetch_add(1, Relaxed);
        if !read {
            s.bytes.fetch_add(size, Relaxed);
        }
        s.started_work.store(true, Relaxed);
        s.forget_current(path);
    }

    fn item_done(&self, item: &ItemDone<'_>) {
        let s = &self.state;
        let mut path = s.item_name(item.path);
        if item.is_dir && !path.ends_with('/') {
            path.push('/');
        }
        let action = item.change.as_str();
        let unchanged = item.change == cairn::backup::ItemChange::Unchanged;
        if s.json {
            if s.verbosity < 2 {
                return;
            }
            let mut o = verbose_json(action, &path);
            if !unchanged {
                o.set("duration", item.duration.as_secs_f64());
                o.set("data_size", item.data_size);
                o.set("data_size_in_repo", item.data_size_in_repo);
                if item.is_dir {
                    o.set("metadata_size", item.tree_size);
                    o.set("metadata_size_in_repo", item.tree_size_in_repo);
                }
            }
            println!("{}", o.to_json());
            return;
        }
        if s.verbosity < 3 {
            return;
        }
        let line = if unchanged {
            format!("unchanged {path}")
        } else {
            let mut line = format!(
                "{action:<9} {path}, saved in {:.3}s ({} added, {} stored",
                item.duration.as_secs_f64(),
                format_bytes(item.data_size),
                format_bytes(item.data_size_in_repo)
            );
            if item.is_dir {
                line.push_str(&format!(
                    ", {} metadata",
                    format_bytes(item.tree_size_in_repo)
                ));
            }
            line.push(')');
            line
        };
        s.status.print(&line);
    }

    fn error(&self, path: &Path, error: &cairn::Error) {
        let s = &self.state;
        s.errors.fetch_add(1, Relaxed);
        s.started_work.store(true, Relaxed);
        s.forget_current(path);
        if s.json {
            let mut o = JsonObject::default();
            o.set("message_type", "error");
            o.set("error", serde_json::json!({ "message": error.to_string() }));
            o.set("during", "archival");
            o.set("item", path.to_string_lossy().into_owned());
            s.status.eprint(&o.to_json());
        } else {
            s.status.eprint(&format!("error: {error}"));
        }
    }
}

/// A `verbose_status` object with every field restic always writes.
fn verbose_json(action: &str, item: &str) -> JsonObject {
    let mut o = JsonObject::default();
    o.set("message_type", "verbose_status");
    o.set("action", action);
    o.set("item", item);
    o.set("duration", 0.0);
    o.set("data_size", 0u64);
    o.set("data_size_in_repo", 0u64);
    o.set("metadata_size", 0u64);
    o.set("metadata_size_in_repo", 0u64);
    o.set("total_files", 0u64);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_status_before_anything_happened() {
        let out = BackupOutput::new(true, 1, None);
        assert!(!out.state.started_work.load(Relaxed));
        out.bytes_done(5);
        assert!(out.state.started_work.load(Relaxed));
        assert!(!out.wants_scan());
        assert!(BackupOutput::new(false, 2, None).wants_scan());
    }

    #[test]
    fn files_being_read_are_tracked_while_status_is_shown() {
        let mut out = BackupOutput::new(false, 1, Some(Duration::from_secs(3600)));
        out.file_started(Path::new("/a"));
        out.file_started(Path::new("/b"));
        out.file_done(Path::new("/a"), 1, true);
        let current = out.state.current.as_ref().unwrap().lock().unwrap().clone();
        assert_eq!(current.into_iter().collect::<Vec<_>>(), ["/b"]);
        out.finish();
    }

    #[test]
    fn items_are_named_by_their_place_in_the_snapshot() {
        let out = BackupOutput::new(false, 1, None);
        let cwd = std::env::current_dir().unwrap();
        out.set_targets(&[PathBuf::from("rel/dir"), PathBuf::from("/abs/x")]);
        let s = &out.state;
        assert_eq!(s.item_name(&cwd.join("rel/dir/f")), "/rel/dir/f");
        assert_eq!(
            s.item_name(&cwd.join("rel")),
            "/rel",
            "an intermediate folder"
        );
        assert_eq!(s.item_name(Path::new("/abs/x/y")), "/abs/x/y");
    }
}
