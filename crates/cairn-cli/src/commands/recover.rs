//! `cairn recover`: a snapshot of the trees no snapshot refers to.

use super::prune::verbosity;
use crate::global::GlobalOptions;
use anyhow::Result;
use cairn::recover::{RecoverOptions, RecoverPhase, RecoverProgress};
use cairn::Id;

/// Arguments of `recover` (none but the global ones).
#[derive(clap::Args, Debug)]
pub struct Args {}

/// restic 0.14's messages.
struct Printer {
    level: u8,
}

impl RecoverProgress for Printer {
    fn phase(&self, phase: RecoverPhase) {
        if self.level == 0 {
            return;
        }
        match phase {
            RecoverPhase::LoadingTrees(n) => println!("load {n} trees"),
            RecoverPhase::LoadingSnapshots => println!("load snapshots"),
            RecoverPhase::Done => println!("done"),
        }
    }

    fn warn(&self, message: &str) {
        eprintln!("{message}");
    }

    fn root(&self, id: &Id) {
        // restic 0.14's `Verboseff`: shown from `-v` on.
        if self.level >= 2 {
            println!("found root tree {}", id.short());
        }
    }
}

/// Finds the lost trees and saves a snapshot of them, under a shared lock
/// as restic 0.14 does.
pub fn run(global: &GlobalOptions, _args: Args) -> Result<()> {
    let level = verbosity(global);
    let mut repo = global.open_repository()?;
    // `--no-lock` runs without one, as restic 0.14 does.
    let lock = global
        .lock(&repo, false)?
        .unwrap_or_else(|| cairn::LockGuard::unlocked(&repo));
    let opts = RecoverOptions {
        write: super::write_options(global)?,
        ..RecoverOptions::default()
    };
    if level > 0 {
        println!("load index files");
    }
    let report = repo.recover(&lock, &opts, &Printer { level })?;
    println!("\nfound {} unreferenced roots", report.roots.len());
    match report.snapshot {
        Some(id) => println!("saved new snapshot {}", id.short()),
        None if level > 0 => println!("no snapshot to write."),
        None => {}
    }
    lock.release()?;
    Ok(())
}
