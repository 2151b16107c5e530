//! `cairn unlock`.

use crate::global::GlobalOptions;
use anyhow::Result;

/// Arguments of `unlock`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove all locks, even non-stale ones
    #[arg(long)]
    pub remove_all: bool,
}

/// Removes stale locks (or all of them) and says how many went. Takes no
/// lock itself, as in restic.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let repo = global.open_repository()?;
    let removed = repo.unlock(args.remove_all)?;
    if !removed.is_empty() && !global.quiet && !global.json {
        println!("successfully removed {} locks", removed.len());
    }
    Ok(())
}
