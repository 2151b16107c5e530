//! `cairn repair`: repair parts of a damaged repository. Each kind of
//! repair is one subcommand; `index` is here, others join the
//! [`RepairCommand`] enum with their own argument struct and a match arm
//! in [`run`].

use super::prune::verbosity;
use super::rewrite::{rewrite_all, Printer as RewritePrinter};
use super::FilterArgs;
use crate::global::GlobalOptions;
use anyhow::{bail, Context, Result};
use cairn::repair_packs::{RepairPacksPhase, RepairPacksProgress};
use cairn::repair_snapshots::RepairSnapshotsOptions;
use cairn::{FileType, Id, RepairIndexPhase, RepairIndexProgress, Repository, StoredSnapshot};
use std::collections::BTreeSet;
use std::io::Write;

/// Arguments of `repair`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to repair
    #[command(subcommand)]
    pub command: RepairCommand,
}

/// The repairs.
#[derive(clap::Subcommand, Debug)]
pub enum RepairCommand {
    /// Build a new index
    Index(IndexArgs),
    /// Repair snapshots
    Snapshots(SnapshotsArgs),
    /// Salvage damaged pack files
    Packs(PacksArgs),
}

/// Arguments of `repair snapshots`.
#[derive(clap::Args, Debug)]
pub struct SnapshotsArgs {
    /// Snapshots to repair (default: all matching the filters)
    #[arg(value_name = "snapshot ID")]
    pub ids: Vec<String>,
    /// Remove original snapshots after creating new ones
    #[arg(long)]
    pub forget: bool,
    /// Do not do anything, just print what would be done
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Arguments of `repair packs`.
#[derive(clap::Args, Debug)]
pub struct PacksArgs {
    /// The damaged pack files (full IDs)
    #[arg(value_name = "packIDs")]
    pub ids: Vec<String>,
}

/// Arguments of `repair index` (and of the old `rebuild-index`).
#[derive(clap::Args, Debug)]
pub struct IndexArgs {
    /// Read all pack files to generate new index from scratch
    #[arg(long)]
    pub read_all_packs: bool,
}

/// Runs one repair.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    match args.command {
        RepairCommand::Index(a) => run_index(global, a),
        RepairCommand::Snapshots(a) => run_snapshots(global, a),
        RepairCommand::Packs(a) => run_packs(global, a),
    }
}

/// restic's messages for `repair index`.
struct Printer {
    level: u8,
}

impl RepairIndexProgress for Printer {
    fn phase(&self, phase: RepairIndexPhase) {
        if self.level == 0 {
            return;
        }
        match phase {
            RepairIndexPhase::LoadingIndexes => println!("loading indexes..."),
            RepairIndexPhase::ListingPacks => println!("getting pack files to read..."),
            RepairIndexPhase::ReadingPacks(_) => println!("reading pack files"),
            RepairIndexPhase::RebuildingIndex => println!("rebuilding index"),
            RepairIndexPhase::DeletingIndexFiles(_) => println!("deleting obsolete index files"),
        }
    }

    fn warn(&self, message: &str) {
        eprintln!("{message}");
    }
}

/// `repair index [--read-all-packs]`: rebuild the index from the packs,
/// under an exclusive lock.
pub fn run_index(global: &GlobalOptions, args: IndexArgs) -> Result<()> {
    let level = verbosity(global);
    let mut repo = global.open_repository()?;
    let lock = global.lock_always(&repo, true)?;
    repo.repair_index_with(
        &lock,
        args.read_all_packs,
        &Printer { level },
        &cairn::Cancel::new(),
    )?;
    if level > 0 {
        println!("done");
    }
    lock.release()?;
    Ok(())
}

/// True for errors that mean a snapshot file exists but cannot be read.
fn unreadable(e: &cairn::Error) -> bool {
    matches!(
        e,
        cairn::Error::BadFile { .. }
            | cairn::Error::Decrypt { .. }
            | cairn::Error::HashMismatch { .. }
    )
}

/// The snapshots to repair. Unreadable snapshot files named on the command
/// line are removed with `--forget` (counted in the second value); any
/// other unreadable one is an error, as in restic.
fn select_for_repair(
    repo: &Repository,
    args: &SnapshotsArgs,
    printer: &RewritePrinter,
) -> Result<(Vec<StoredSnapshot>, usize)> {
    let filter = args.filter.filter();
    let hint = |id: &str, e: &cairn::Error| {
        anyhow::anyhow!(
            "snapshot file {id} is unreadable, use `restic repair snapshots --forget {id}` to remove it. Original error: {e}"
        )
    };
    if args.ids.is_empty() {
        let (snaps, problems) = repo.snapshots()?;
        if let Some(p) = problems.first() {
            let name = match p {
                cairn::Error::BadFile { name, .. }
                | cairn::Error::Decrypt { name, .. }
                | cairn::Error::HashMismatch { name, .. } => name.clone(),
                _ => String::new(),
            };
            return Err(hint(&name, p));
        }
        let snaps = snaps
            .into_iter()
            .filter(|s| filter.matches(&s.snapshot))
            .collect();
        return Ok((snaps, 0));
    }
    let mut found = Vec::new();
    let mut removed = 0;
    for spec in &args.ids {
        match repo.find_snapshot(spec, &filter) {
            Ok(s) => found.push(s),
            Err(e) if unreadable(&e) => {
                let id = repo.find_id(FileType::Snapshot, spec)?;
                if !args.forget {
                    return Err(hint(&id.to_hex(), &e));
                }
                if args.dry_run {
                    if printer.level > 0 {
                        println!("would remove unreadable snapshot {id}");
                    }
                } else {
                    repo.backend()
                        .remove(FileType::Snapshot, &id.to_hex())
                        .with_context(|| {
                            format!("unable to remove unreadable snapshot file {id}")
                        })?;
                    if printer.level > 0 {
                        println!("removed unreadable snapshot {id}");
                    }
                }
                removed += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((found, removed))
}

/// `repair snapshots`: rewrite snapshots without what is missing, under
/// an exclusive lock (none for `--dry-run`).
pub fn run_snapshots(global: &GlobalOptions, args: SnapshotsArgs) -> Result<()> {
    let printer = RewritePrinter {
        level: verbosity(global),
    };
    let opts = RepairSnapshotsOptions {
        forget: args.forget,
        dry_run: args.dry_run,
        write: super::write_options(global)?,
        // Ctrl-C stops it through the process-wide flag every token reports.
        cancel: cairn::Cancel::new(),
    };
    let mut repo = global.open_repository()?;
    // `--forget` deletes snapshots: every listing must be complete.
    repo.set_strict_listings(args.forget);
    // A dry run, or `--no-lock`, runs without a lock.
    let lock = if args.dry_run {
        None
    } else {
        global.lock(&repo, true)?
    }
    .unwrap_or_else(|| cairn::LockGuard::unlocked(&repo));
    cairn::rewrite::load_index_strictly(&mut repo)?;
    let (snaps, removed) = select_for_repair(&repo, &args, &printer)?;
    let mut repairer = repo.snapshot_repairer(&lock, &opts)?;
    rewrite_all(&mut repairer, &snaps, removed, args.dry_run, &printer)?;
    drop(repairer);
    lock.release()?;
    Ok(())
}

/// restic's messages for `repair packs`.
struct PacksPrinter {
    level: u8,
}

impl RepairPacksProgress for PacksPrinter {
    fn phase(&self, phase: RepairPacksPhase) {
        if self.level == 0 {
            return;
        }
        match phase {
            RepairPacksPhase::Salvaging(_) => {
                println!("salvaging intact data from specified pack files")
            }
            RepairPacksPhase::RebuildingIndex => println!("rebuilding index"),
            RepairPacksPhase::RemovingPacks(_) => println!("removing salvaged pack files"),
        }
    }

    fn warn(&self, message: &str) {
        eprintln!("{message}");
    }
}

/// `repair packs ID...`: keep a copy of each damaged pack in the current
/// directory, salvage its intact blobs and remove it, under an exclusive
/// lock.
pub fn run_packs(global: &GlobalOptions, args: PacksArgs) -> Result<()> {
    let mut ids = BTreeSet::new();
    for arg in &args.ids {
        ids.insert(Id::from_hex(arg).map_err(|_| anyhow::anyhow!("invalid ID {arg:?}"))?);
    }
    if ids.is_empty() {
        bail!("no ids specified");
    }
    let level = verbosity(global);
    let mut repo = global.open_repository()?;
    // `--no-lock` runs without one, as restic 0.14 does.
    let lock = global
        .lock(&repo, true)?
        .unwrap_or_else(|| cairn::LockGuard::unlocked(&repo));
    if level > 0 {
        println!("saving backup copies of pack files to current folder");
    }
    for id in &ids {
        let bytes = match repo.backend().read(FileType::Pack, &id.to_hex()) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("will remove packfile {id} due to failed download: {e}");
                continue;
            }
        };
        let name = format!("pack-{id}");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&name)
            .with_context(|| format!("open {name}"))?;
        file.write_all(&bytes)
            .and_then(|_| file.sync_all())
            .with_context(|| format!("write {name}"))?;
    }
    let write = super::write_options(global)?;
    repo.repair_packs(
        &lock,
        &ids,
        &write,
        &PacksPrinter { level },
        &cairn::Cancel::new(),
    )?;
    eprintln!("\nUse `restic repair snapshots --forget` to remove the corrupted data blobs from all snapshots");
    lock.release()?;
    Ok(())
}
