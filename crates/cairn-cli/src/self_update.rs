//! `cairn self-update`: restic's command to replace its binary with the
//! newest restic release. Cairn is not restic's binary, so it refuses
//! (one line, exit 1) and says how Cairn is updated instead.

use anyhow::{bail, Result};
use std::path::PathBuf;

/// Arguments of `self-update` (restic's, accepted and unused).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Save the downloaded file as filename (default: running binary itself)
    #[arg(long, value_name = "filename")]
    pub output: Option<PathBuf>,
}

/// Always fails: restic's releases must not replace a cairn binary.
pub fn run(_args: Args) -> Result<()> {
    bail!(
        "self-update is not available: cairn is not updated from restic's releases; update cairn the way it was installed (e.g. `cargo install cairn-cli` or your package manager)"
    )
}
