//! `cairn copy`: restic's flags and messages over
//! [`cairn::copy::copy_snapshots`].
//!
//! As in restic 0.14, the repository named by `-r` is the destination and
//! `--from-repo` names the source. The source password is resolved first
//! (file, command, `RESTIC_FROM_PASSWORD`, prompt), then both repositories
//! are opened, the source locked shared (unless `--no-lock`) and the
//! destination locked shared (always).

use super::init::SecondaryRepo;
use super::FilterArgs;
use crate::global::GlobalOptions;
use crate::output::go_time_string;
use anyhow::Result;
use cairn::copy::{copy_snapshots, CopyOptions, CopyProgress};
use cairn::{Id, StoredSnapshot};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Arguments of `copy`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub from: SecondaryRepo,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Snapshots to copy (default: all that pass the filter)
    #[arg(value_name = "snapshotID")]
    pub snapshots: Vec<String>,
}

/// Copies the snapshots and prints restic's lines.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    crate::secondary_repo::warn_deprecated(std::env::args());
    let other = args.from.resolve("destination")?;
    // `--from-*` names the source; the old `--repo2` names the destination.
    let (mut src, mut dst) = if other.is_from_repo {
        let src = other.open(global)?;
        (src, global.open_repository()?)
    } else {
        let src = global.open_repository()?;
        (src, other.open(global)?)
    };
    let _src_lock = global.lock(&src, false)?;
    let dst_lock = global.lock_always(&dst, false)?;

    let mut opts = CopyOptions {
        snapshots: args.snapshots,
        filter: args.filter.filter(),
        ..CopyOptions::default()
    };
    opts.write.compression = global.compression.parse()?;
    if let Some(mib) = global.pack_size {
        opts.write.pack_size = u64::from(mib) << 20;
    }
    let printer = Printer {
        verbosity: if global.quiet { 0 } else { 1 + global.verbose },
        packs: AtomicU64::new(0),
        started: Mutex::new((Instant::now(), 0)),
    };
    let report = copy_snapshots(&mut src, &mut dst, &dst_lock, &opts, &printer)?;
    crate::metrics::add(cairn::metrics::copy_figures(&report));
    Ok(())
}

/// Prints what restic prints: messages at verbosity 1 (hidden by
/// `--quiet`), warnings on standard error, and the "packs copied" count
/// when each snapshot's blobs are done.
struct Printer {
    verbosity: u8,
    packs: AtomicU64,
    /// When the current copy started, and how many packs it has.
    started: Mutex<(Instant, u64)>,
}

impl Printer {
    fn say(&self, msg: &str) {
        if self.verbosity >= 1 {
            println!("{msg}");
        }
    }
}

impl CopyProgress for Printer {
    fn warning(&self, message: &str) {
        eprintln!("{message}");
    }

    fn snapshot(&self, source: &StoredSnapshot) {
        let sn = &source.snapshot;
        self.say(&format!(
            "\nsnapshot {} of [{}] at {})",
            source.id.short(),
            sn.paths.join(" "),
            go_time_string(&sn.time)
        ));
    }

    fn skipped(&self, source: &StoredSnapshot, existing: &Id) {
        self.say(&format!(
            "skipping source snapshot {}, was already copied to snapshot {}",
            source.id.short(),
            existing.short()
        ));
    }

    fn copy_started(&self, _source: &StoredSnapshot) {
        self.say("  copy started, this may take a while...");
    }

    fn packs(&self, packs: u64) {
        self.packs.store(0, Ordering::Relaxed);
        *self.started.lock().expect("printer poisoned") = (Instant::now(), packs);
    }

    fn pack_copied(&self) {
        self.packs.fetch_add(1, Ordering::Relaxed);
    }

    fn copy_finished(&self) {
        if self.verbosity == 0 {
            return;
        }
        let (started, total) = *self.started.lock().expect("printer poisoned");
        let done = self.packs.load(Ordering::Relaxed);
        println!(
            "{}\n",
            counter_line(started.elapsed(), done, total, "packs copied")
        );
    }

    fn saved(&self, _source: &StoredSnapshot, new_id: &Id) {
        self.say(&format!("snapshot {} saved", new_id.short()));
    }
}

/// restic's final counter line: `[0:01] 100.00%  5 / 5 what`, or
/// `[0:01]          5 what` without a total.
pub(crate) fn counter_line(
    elapsed: std::time::Duration,
    done: u64,
    total: u64,
    what: &str,
) -> String {
    let secs = elapsed.as_secs();
    let time = if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    };
    if total == 0 {
        format!("[{time}]          {done} {what}")
    } else {
        let pct = 100.0 * done as f64 / total as f64;
        format!("[{time}] {pct:.2}%  {done} / {total} {what}")
    }
}
