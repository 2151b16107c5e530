//! `cairn repair`: repair parts of a damaged repository. Each kind of
//! repair is one subcommand; `index` is here, others join the
//! [`RepairCommand`] enum with their own argument struct and a match arm
//! in [`run`].

use super::prune::verbosity;
use crate::global::GlobalOptions;
use anyhow::Result;
use cairn::{RepairIndexPhase, RepairIndexProgress};

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
    repo.repair_index_with(args.read_all_packs, &Printer { level })?;
    if level > 0 {
        println!("done");
    }
    lock.release()?;
    Ok(())
}
