//! `cairn check`: restic's flags, messages and exit codes over
//! [`cairn::Repository::check`].

use crate::confirming_lock::ConfirmingLock;
use crate::global::GlobalOptions;
use crate::output::JsonObject;
use anyhow::{anyhow, bail, Result};
use cairn::check::{CheckIssue, CheckPhase, Stage};
use cairn::{CheckOptions, CheckProgress, Id, ReadDataSubset, SnapshotFilter};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// Arguments of `check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Check only these snapshots (IDs, unique prefixes or "latest"; default: all matching the filters)
    #[arg(value_name = "snapshot ID")]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub filter: super::FilterArgs,
    /// Read all data blobs
    #[arg(long)]
    pub read_data: bool,
    /// Read a subset of data packs, specified as 'n/t' for specific part, or either 'x%' or 'x.y%' or a size in bytes with suffixes k/K, m/M, g/G, t/T for a random subset
    #[arg(long, value_name = "subset")]
    pub read_data_subset: Option<String>,
    /// Find unused blobs
    #[arg(long)]
    pub check_unused: bool,
    /// Use the cache
    #[arg(long)]
    pub with_cache: bool,
}

/// Checks the repository and prints what restic prints; fails with
/// "repository contains errors" (exit 1) when damage was found.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let read_data = match (&args.read_data_subset, args.read_data) {
        (Some(_), true) => {
            bail!("check flags --read-data and --read-data-subset cannot be used together")
        }
        (Some(s), false) => Some(s.parse::<ReadDataSubset>()?),
        (None, true) => Some(ReadDataSubset::All),
        (None, false) => None,
    };
    let filter = args.filter.filter();
    let filtered = !args.ids.is_empty() || filter != SnapshotFilter::default();
    let mut printer = Printer::new(global, read_data.clone());
    printer.filtered = filtered;
    let cache = TempCache::create(global, &args, &printer);
    let repo = cache.options(global).open_repository()?;
    if !global.no_lock {
        printer.say("create exclusive lock for repository");
    }
    // The check reads only, so it starts while the lock's second look for
    // conflicting locks is pending; a conflict found then stops it.
    let lock = if global.no_lock {
        None
    } else {
        Some(ConfirmingLock::start(global, &repo, true)?)
    };
    let snapshots = if filtered {
        match chosen_snapshots(&repo, &args.ids, &filter)? {
            Ok(ids) => Some(ids),
            Err(message) => {
                // restic reports the failed selection twice (once as
                // collected, once as returned) and checks no tree.
                printer.early_errors = vec![message.clone(), message];
                Some(Vec::new())
            }
        }
    } else {
        None
    };
    let opts = CheckOptions {
        read_data,
        check_unused: args.check_unused,
        seed: None,
        // Ctrl-C stops it through the process-wide flag every token reports.
        cancel: cairn::Cancel::new(),
        snapshots,
    };
    let report = repo.check(&opts, &printer);
    if let Some(lock) = &lock {
        lock.confirmed()?;
    }
    let report = report?;
    crate::metrics::add(cairn::metrics::check_figures(
        &report,
        printer.early_errors.len(),
    ));
    if global.json {
        let mut o = JsonObject::default();
        o.set("message_type", "summary");
        o.set(
            "num_errors",
            report.errors.len() + printer.early_errors.len(),
        );
        let broken: Vec<String> = report.broken_packs().iter().map(Id::to_hex).collect();
        if broken.is_empty() {
            o.set("broken_packs", serde_json::Value::Null);
        } else {
            o.set("broken_packs", broken);
        }
        o.set("suggest_repair_index", report.suggest_repair_index());
        o.set("suggest_prune", report.suggest_prune());
        println!("{}", o.to_json());
    }
    if !report.is_ok() || !printer.early_errors.is_empty() {
        return Err(anyhow!("repository contains errors"));
    }
    printer.say("no errors were found");
    Ok(())
}

/// The snapshots a limited check walks, chosen as restic 0.19's checker
/// does: every snapshot passing the filter, or the named ones (`latest`
/// through the filter). The first that cannot be found (or filters given
/// beside explicit IDs, or a snapshot that cannot be loaded) fails the
/// whole selection with restic's message: then no tree is checked.
fn chosen_snapshots(
    repo: &cairn::Repository,
    ids: &[String],
    filter: &SnapshotFilter,
) -> Result<std::result::Result<Vec<Id>, String>> {
    if ids.is_empty() {
        let (snaps, problems) = repo.snapshots()?;
        if let Some(p) = problems.first() {
            return Ok(Err(p.to_string()));
        }
        return Ok(Ok(snaps
            .into_iter()
            .filter(|s| filter.matches(&s.snapshot))
            .map(|s| s.id)
            .collect()));
    }
    let mut chosen = Vec::new();
    let mut used_filter = false;
    for spec in ids {
        let (id, sub) = super::split_snapshot_spec(spec);
        let found = if spec == "latest" {
            if used_filter {
                continue;
            }
            used_filter = true;
            repo.find_snapshot(spec, filter)
                .map_err(|_| super::no_latest_message(filter))
        } else if sub.is_some() {
            Err("<snapshot>:<subfolder> syntax not allowed".to_string())
        } else {
            repo.find_snapshot(id, &SnapshotFilter::default())
                .map_err(|e| e.to_string())
        };
        match found {
            Ok(s) => chosen.push(s.id),
            Err(message) => return Ok(Err(message)),
        }
    }
    if !used_filter && *filter != SnapshotFilter::default() {
        return Ok(Err("explicit snapshot ids are given".into()));
    }
    Ok(Ok(chosen))
}

/// restic's check uses a fresh cache in a temporary directory, removed
/// afterwards, unless `--with-cache` or `--no-cache` is given.
struct TempCache(Option<PathBuf>);

impl TempCache {
    /// The global options with the temporary cache as the cache directory.
    fn options(&self, global: &GlobalOptions) -> GlobalOptions {
        let mut opts = global.clone();
        if let Some(dir) = &self.0 {
            opts.cache_dir = Some(dir.clone());
        }
        opts
    }

    fn create(global: &GlobalOptions, args: &Args, printer: &Printer) -> TempCache {
        if args.with_cache || global.no_cache {
            return TempCache(None);
        }
        let parent = global.cache_dir.clone().unwrap_or_else(std::env::temp_dir);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            ^ std::process::id();
        for attempt in 0..100u32 {
            let n = seed.wrapping_mul(2_654_435_761).wrapping_add(attempt) % 1_000_000_000;
            let dir = parent.join(format!("restic-check-cache-{n}"));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    printer.say(&format!("using temporary cache in {}", dir.display()));
                    return TempCache(Some(dir));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    printer.warn(&format!("unable to create temporary directory for cache during check, disabling cache: {e}"));
                    break;
                }
            }
        }
        TempCache(None)
    }
}

impl Drop for TempCache {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Mutable printing state shared between the check's threads.
#[derive(Default)]
struct State {
    phase: Option<CheckPhase>,
    started: Option<Instant>,
    done: u64,
    /// Tree whose "error for tree" line was printed last.
    last_tree: Option<Id>,
    duplicate_packs: usize,
    mixed_packs: usize,
    orphaned_packs: usize,
    errors: usize,
}

/// Prints restic's lines as the check goes: messages and progress on
/// standard output, errors on standard error (JSON lines with `--json`).
struct Printer {
    verbosity: u8,
    json: bool,
    subset: Option<ReadDataSubset>,
    /// The check is limited to some snapshots ("filtered" in messages).
    filtered: bool,
    /// Errors of the snapshot selection, printed when the structure check
    /// starts, as restic does.
    early_errors: Vec<String>,
    state: Mutex<State>,
}

impl Printer {
    fn new(global: &GlobalOptions, subset: Option<ReadDataSubset>) -> Printer {
        let verbosity = if global.quiet { 0 } else { 1 + global.verbose };
        Printer {
            verbosity,
            json: global.json,
            subset,
            filtered: false,
            early_errors: Vec::new(),
            state: Mutex::default(),
        }
    }

    /// A message restic prints with `Verbosef` (hidden by `--quiet`).
    fn say(&self, msg: &str) {
        if self.verbosity >= 1 && !self.json {
            println!("{msg}");
        }
    }

    /// A warning on standard error (a JSON error line with `--json`).
    fn warn(&self, msg: &str) {
        if self.json {
            let mut o = JsonObject::default();
            o.set("message_type", "error");
            o.set("message", msg.trim_end());
            eprintln!("{}", o.to_json());
        } else {
            eprintln!("{msg}");
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("printer state poisoned")
    }

    /// restic's final progress line, `[0:00] 100.00%  5 / 5 snapshots`,
    /// followed by an empty line.
    fn progress_line(&self, st: &State, total: u64, what: &str) {
        if self.verbosity == 0 || self.json {
            return;
        }
        let secs = st.started.map(|s| s.elapsed().as_secs()).unwrap_or(0);
        let elapsed = if secs >= 3600 {
            format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
        } else {
            format!("{}:{:02}", secs / 60, secs % 60)
        };
        let line = if total == 0 {
            format!("[{elapsed}]          {} {what}", st.done)
        } else {
            let pct = (100.0 * st.done as f64 / total as f64).min(100.0);
            format!("[{elapsed}] {pct:.2}%  {} / {total} {what}", st.done)
        };
        println!("{line}\n");
    }

    fn read_data_message(&self, selected: u64, total: u64) -> String {
        // restic 0.19 says "filtered" when the check is limited.
        let what = if self.filtered { "filtered " } else { "" };
        match &self.subset {
            Some(ReadDataSubset::Bucket { n, t }) => format!(
                "read group #{n} of {selected} {what}data packs (out of total {total} packs in {t} groups)"
            ),
            Some(ReadDataSubset::Percent(p)) => format!("read {p:.1}% of {what}data packs"),
            Some(ReadDataSubset::Bytes(b)) => format!("read {b} bytes of {what}data packs"),
            _ => format!("read all {what}data"),
        }
    }
}

impl CheckProgress for Printer {
    fn phase(&self, phase: CheckPhase) {
        let mut st = self.state();
        st.phase = Some(phase);
        st.started = Some(Instant::now());
        st.done = 0;
        drop(st);
        match phase {
            CheckPhase::LoadIndex => self.say("load indexes"),
            CheckPhase::Packs => self.say("check all packs"),
            CheckPhase::Structure { .. } => {
                self.say("check snapshots, trees and blobs");
                for e in &self.early_errors {
                    self.warn(&format!("error: {e}"));
                }
            }
            CheckPhase::Unused => {}
            CheckPhase::ReadData { selected, total } => {
                self.say(&self.read_data_message(selected, total))
            }
        }
    }

    fn advance(&self) {
        self.state().done += 1;
    }

    fn phase_done(&self) {
        let st = self.state();
        match st.phase {
            Some(CheckPhase::LoadIndex) => {
                if st.duplicate_packs > 0 {
                    self.say(
                        "This is non-critical, you can run `restic rebuild-index' to correct this",
                    );
                }
                if st.mixed_packs > 0 {
                    self.say("Mixed packs with tree and data blobs are non-critical, you can run `restic prune` to correct this.");
                }
            }
            Some(CheckPhase::Packs) if st.orphaned_packs > 0 && st.errors == 0 => {
                self.say(&format!(
                    "{} additional files were found in the repo, which likely contain duplicate data.\nThis is non-critical, you can run `restic prune` to correct this.",
                    st.orphaned_packs
                ));
            }
            Some(CheckPhase::Structure { snapshots }) => {
                self.progress_line(&st, snapshots, "snapshots")
            }
            Some(CheckPhase::ReadData { selected, .. }) => {
                self.progress_line(&st, selected, "packs")
            }
            _ => {}
        }
    }

    fn pack_read(&self, id: &Id) {
        if self.verbosity >= 2 && !self.json {
            println!("read pack {id}");
        }
    }

    fn issue(&self, issue: &CheckIssue, error: bool) {
        let mut st = self.state();
        if !error {
            if issue.message.contains("several indexes") {
                st.duplicate_packs += 1;
                drop(st);
                self.say(&issue.message);
            } else if issue.message.contains("mix of tree and data") {
                st.mixed_packs += 1;
                drop(st);
                self.say(&issue.message);
            } else {
                st.orphaned_packs += 1;
                drop(st);
                self.say(&issue.message);
            }
            return;
        }
        st.errors += 1;
        match issue.stage {
            Stage::Index | Stage::Snapshots => self.warn(&format!("error: {issue}")),
            Stage::Trees => {
                let tree = issue.tree.unwrap_or_default();
                if self.json {
                    self.warn(&issue.message);
                } else {
                    if st.last_tree != Some(tree) {
                        eprintln!("error for tree {}:", tree.short());
                        st.last_tree = Some(tree);
                    }
                    eprintln!("  {issue}");
                }
            }
            Stage::Unused => {
                drop(st);
                self.say(&issue.message);
            }
            Stage::Packs | Stage::ReadData => self.warn(&issue.message),
        }
    }
}
