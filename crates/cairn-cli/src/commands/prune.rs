//! `cairn prune`: remove data no snapshot needs, with restic's flags and
//! output.

use crate::confirming_lock::ConfirmingLock;
use crate::global::GlobalOptions;
use crate::output::format_bytes;
use anyhow::Result;
use cairn::prune::{PrunePhase, PruneProgress};
use cairn::{MaxUnused, PruneOptions, PruneStats, Repository};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Arguments of `prune`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not modify the repository, just print what would be done
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub repack: RepackFlags,
    /// UNSAFE, READ THE DOCUMENTATION BEFORE USING! Try to recover a repository stuck with no free space. Do not use without trying out 'prune --max-repack-size 0' first.
    #[arg(
        long,
        value_name = "string",
        default_value = "",
        hide_default_value = true
    )]
    pub unsafe_recover_no_free_space: String,
}

/// The flags that choose what prune removes and repacks (shared with
/// `forget --prune`).
#[derive(clap::Args, Debug, Clone)]
pub struct RepackFlags {
    /// Tolerate given limit of unused data (absolute value in bytes with suffixes k/K, m/M, g/G, t/T, a value in % or the word 'unlimited')
    #[arg(long, value_name = "limit", default_value = "5%")]
    pub max_unused: String,
    /// Maximum size to repack (allowed suffixes: k/K, m/M, g/G, t/T)
    #[arg(long, value_name = "size")]
    pub max_repack_size: Option<String>,
    /// Only repack packs which are cacheable
    #[arg(long)]
    pub repack_cacheable_only: bool,
    /// Repack pack files below 80% of target pack size
    #[arg(long)]
    pub repack_small: bool,
    /// Repack all uncompressed data
    #[arg(long)]
    pub repack_uncompressed: bool,
    /// Pack below-limit packfiles (allowed suffixes: k/K, m/M)
    #[arg(long, value_name = "below-limit")]
    pub repack_smaller_than: Option<String>,
}

impl Args {
    /// The library options these flags (and the global ones) describe.
    pub fn options(&self, global: &GlobalOptions) -> Result<PruneOptions> {
        let r = &self.repack;
        let size = |flag: &str, s: &str| -> Result<u64> {
            cairn::backup::exclude::parse_size(s)
                .map_err(|e| anyhow::anyhow!("invalid number of bytes {s:?} for {flag}: {e}"))
        };
        let mut opts = PruneOptions {
            dry_run: self.dry_run,
            max_unused: MaxUnused::parse(&r.max_unused)?,
            max_repack_bytes: r
                .max_repack_size
                .as_deref()
                .map(|s| size("--max-repack-size", s))
                .transpose()?,
            repack_cacheable_only: r.repack_cacheable_only,
            repack_small: r.repack_small,
            repack_smaller_than: r
                .repack_smaller_than
                .as_deref()
                .map(|s| size("--repack-smaller-than", s))
                .transpose()?,
            repack_uncompressed: r.repack_uncompressed,
            ..PruneOptions::default()
        };
        if opts.repack_smaller_than.is_some() {
            opts.repack_small = true;
        }
        opts.write = super::write_options(global)?;
        Ok(opts)
    }
}

/// restic's verbosity: 0 with `--quiet`, 1 by default, more per `-v`.
pub fn verbosity(global: &GlobalOptions) -> u8 {
    if global.quiet {
        0
    } else {
        1 + global.verbose
    }
}

/// Prints the steps as restic does (standard output) and warnings
/// (standard error).
struct Printer {
    level: u8,
    /// Lines held back while a prune plans before it may print (see
    /// [`plan`]): `(to stderr, text)`. `None` once printing directly.
    held: Mutex<Option<Vec<(bool, String)>>>,
}

impl Printer {
    fn new(level: u8, hold: bool) -> Printer {
        Printer {
            level,
            held: Mutex::new(hold.then(Vec::new)),
        }
    }

    /// Prints `text` on stdout (or stderr), or holds it.
    fn line(&self, to_stderr: bool, text: String) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.as_mut() {
            Some(lines) => lines.push((to_stderr, text)),
            None if to_stderr => eprintln!("{text}"),
            None => println!("{text}"),
        }
    }

    /// Prints what was held, in order, and prints directly from now on.
    fn release(&self) {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
        for (to_stderr, text) in held.into_iter().flatten() {
            self.line(to_stderr, text);
        }
    }
}

impl PruneProgress for Printer {
    fn phase(&self, phase: PrunePhase) {
        if self.level == 0 {
            return;
        }
        let line = match phase {
            PrunePhase::LoadingSnapshots => "loading all snapshots...".to_string(),
            PrunePhase::FindingUsedBlobs(n) => {
                format!("finding data that is still in use for {n} snapshots")
            }
            PrunePhase::SearchingUsedPacks => "searching used packs...".to_string(),
            PrunePhase::CollectingPacks => {
                "collecting packs for deletion and repacking".to_string()
            }
            PrunePhase::DeletingUnreferenced(_) => "deleting unreferenced packs".to_string(),
            PrunePhase::Repacking(_) => "repacking packs".to_string(),
            PrunePhase::RebuildingIndex => "rebuilding index".to_string(),
            PrunePhase::DeletingIndexFiles(_) => "deleting obsolete index files".to_string(),
            PrunePhase::DeletingAllIndexFiles(_) => "deleting index files".to_string(),
            PrunePhase::RemovingPacks(n) => format!("removing {n} old packs"),
        };
        self.line(false, line);
    }

    fn warn(&self, message: &str) {
        self.line(true, message.to_string());
    }
}

/// restic's `FormatPercent`.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return String::new();
    }
    let p = (100.0 * part as f64 / whole as f64).min(100.0);
    format!("{p:3.2}%")
}

/// The statistics block, as restic prints it at `level`.
pub fn stats_text(stats: &PruneStats, level: u8) -> String {
    let mut out = String::new();
    let mut line = |min: u8, text: String| {
        if level >= min {
            out.push_str(&text);
            out.push('\n');
        }
    };
    let total = stats.total();
    let unused = stats.unused_bytes();
    line(2, String::new());
    line(
        2,
        format!(
            "used:         {:>10} blobs / {}",
            stats.used.blobs,
            format_bytes(stats.used.bytes)
        ),
    );
    if stats.duplicate.blobs > 0 {
        line(
            2,
            format!(
                "duplicates:   {:>10} blobs / {}",
                stats.duplicate.blobs,
                format_bytes(stats.duplicate.bytes)
            ),
        );
    }
    line(
        2,
        format!(
            "unused:       {:>10} blobs / {}",
            stats.unused.blobs,
            format_bytes(stats.unused.bytes)
        ),
    );
    if stats.unreferenced_bytes > 0 {
        line(
            2,
            format!(
                "unreferenced:                    {}",
                format_bytes(stats.unreferenced_bytes)
            ),
        );
    }
    line(
        2,
        format!(
            "total:        {:>10} blobs / {}",
            total.blobs,
            format_bytes(total.bytes)
        ),
    );
    line(
        2,
        format!(
            "unused size: {} of total size",
            percent(unused, total.bytes)
        ),
    );
    line(1, String::new());
    line(
        1,
        format!(
            "to repack:    {:>10} blobs / {}",
            stats.repack.blobs,
            format_bytes(stats.repack.bytes)
        ),
    );
    line(
        1,
        format!(
            "this removes: {:>10} blobs / {}",
            stats.repack_remove.blobs,
            format_bytes(stats.repack_remove.bytes)
        ),
    );
    line(
        1,
        format!(
            "to delete:    {:>10} blobs / {}",
            stats.remove.blobs,
            format_bytes(stats.remove.bytes + stats.unreferenced_bytes)
        ),
    );
    let prune = stats.total_prune();
    line(
        1,
        format!(
            "total prune:  {:>10} blobs / {}",
            prune.blobs,
            format_bytes(prune.bytes)
        ),
    );
    if stats.uncompressed_bytes > 0 {
        line(
            1,
            format!(
                "not yet compressed:              {}",
                format_bytes(stats.uncompressed_bytes)
            ),
        );
    }
    let remaining = total.bytes - prune.bytes;
    line(
        1,
        format!(
            "remaining:    {:>10} blobs / {}",
            total.blobs - prune.blobs,
            format_bytes(remaining)
        ),
    );
    let after = stats.unused_after();
    line(
        1,
        format!(
            "unused size after prune: {} ({} of remaining size)",
            format_bytes(after),
            percent(after, remaining)
        ),
    );
    line(1, String::new());
    line(2, format!("totally used packs: {:>10}", stats.packs_used));
    line(
        2,
        format!("partly used packs:  {:>10}", stats.packs_partly_used),
    );
    line(
        2,
        format!("unused packs:       {:>10}\n", stats.packs_unused),
    );
    line(2, format!("to keep:      {:>10} packs", stats.packs_keep));
    line(2, format!("to repack:    {:>10} packs", stats.packs_repack));
    line(2, format!("to delete:    {:>10} packs", stats.packs_remove));
    if stats.packs_unreferenced > 0 {
        line(
            2,
            format!(
                "to delete:    {:>10} unreferenced packs\n",
                stats.packs_unreferenced
            ),
        );
    }
    out
}

/// restic's notation for a set of IDs: `{1a2b3c4d 5e6f7a8b}`.
fn id_set(ids: &BTreeSet<cairn::Id>) -> String {
    let short: Vec<String> = ids.iter().map(|id| id.short()).collect();
    format!("{{{}}}", short.join(" "))
}

/// Opens and exclusively locks the repository, then prunes it with
/// [`run_with_repo`].
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let mut opts = args.options(global)?;
    let mut repo = global.open_repository()?;
    opts.validate(repo.config().version)?;
    // The second look for other locks runs while the prune plans.
    let lock = ConfirmingLock::start(global, &repo, true)?;
    let recover = &args.unsafe_recover_no_free_space;
    if !recover.is_empty() {
        // restic insists on the full repository ID: the mode is unsafe.
        let id = &repo.config().id;
        if recover != id {
            anyhow::bail!("must pass id '{id}' to --unsafe-recover-no-free-space");
        }
        opts.unsafe_recovery = true;
    }
    run_with_repo(global, &mut repo, lock.guard(), &|| lock.confirmed(), &opts)?;
    lock.release()
}

/// Plans the prune, prints restic's statistics, then carries it out, on a
/// repository the caller has opened and exclusively locked. `confirmed`
/// is called once the plan is made, before anything is printed or
/// changed: the lock's second look for other locks
/// ([`ConfirmingLock::confirmed`]), which may run while the plan is made.
pub fn run_with_repo(
    global: &GlobalOptions,
    repo: &mut Repository,
    lock: &cairn::LockGuard,
    confirmed: &dyn Fn() -> Result<()>,
    opts: &PruneOptions,
) -> Result<()> {
    let pending = plan(global, repo, opts, false)?;
    confirmed()?;
    finish(global, repo, lock, pending, opts)
}

/// A prune planned, with what it printed meanwhile held if asked.
pub struct PendingPrune {
    plan: cairn::Result<cairn::prune::PrunePlan>,
    printer: Printer,
}

/// Plans a prune of `repo` with `opts`. With `hold`, what it prints is
/// held until [`finish`] (`forget --prune` plans its prune while its lock
/// is being confirmed and before it prints its own tables). A failed plan
/// is reported by [`finish`], after what came before it.
pub fn plan(
    global: &GlobalOptions,
    repo: &mut Repository,
    opts: &PruneOptions,
    hold: bool,
) -> Result<PendingPrune> {
    let level = verbosity(global);
    opts.validate(repo.config().version)?;
    let printer = Printer::new(level, hold);
    if global.no_cache && level > 0 {
        printer.line(
            false,
            "warning: running prune without a cache, this may be very slow!".into(),
        );
    }
    if level > 0 {
        printer.line(false, "loading indexes...".into());
    }
    let plan = repo.plan_prune(opts, &printer);
    Ok(PendingPrune { plan, printer })
}

/// Prints what [`plan`] held and restic's statistics, then carries the
/// prune out under `lock` (exclusive, confirmed).
pub fn finish(
    global: &GlobalOptions,
    repo: &mut Repository,
    lock: &cairn::LockGuard,
    pending: PendingPrune,
    opts: &PruneOptions,
) -> Result<()> {
    let level = verbosity(global);
    let PendingPrune { plan, printer } = pending;
    printer.release();
    let plan = plan?;
    crate::metrics::add(cairn::metrics::prune_figures(&plan.stats));
    if opts.dry_run && level > 0 {
        println!("\nWould have made the following changes:");
    }
    print!("{}", stats_text(&plan.stats, level));
    if opts.dry_run && level >= 2 {
        if !plan.remove_first.is_empty() {
            println!(
                "Would have removed the following unreferenced packs:\n{}\n",
                id_set(&plan.remove_first)
            );
        }
        println!(
            "Would have repacked and removed the following packs:\n{}\n",
            id_set(&plan.repack)
        );
        println!(
            "Would have removed the following no longer used packs:\n{}\n",
            id_set(&plan.remove)
        );
    }
    let report = repo.execute_prune(lock, plan, &printer)?;
    for failure in &report.delete_failures {
        eprintln!("{failure}");
    }
    if report.temp_files_removed > 0 && level > 0 {
        println!(
            "{} {} temporary files left by interrupted writes ({} bytes, older than {} hours)",
            if report.dry_run {
                "would remove"
            } else {
                "removed"
            },
            report.temp_files_removed,
            report.temp_bytes_removed,
            cairn::prune::TEMP_FILE_MIN_AGE.as_secs() / 3600
        );
    }
    if !report.dry_run && level > 0 {
        println!("done");
    }
    Ok(())
}
