//! `cairn list`.

use crate::global::GlobalOptions;
use anyhow::{bail, Result};
use cairn::FileType;

/// Arguments of `list`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// One of blobs, packs, index, snapshots, keys, locks
    #[arg(value_name = "type")]
    pub kind: String,
}

/// Prints the IDs of every file of a type, or every blob.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let file_type = match args.kind.as_str() {
        "blobs" => {
            let (repo, _lock) = global.open_with_index()?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for loc in repo.index().iter() {
                use std::io::Write;
                writeln!(out, "{} {}", loc.blob_type, loc.id)?;
            }
            return Ok(());
        }
        "packs" => FileType::Pack,
        "index" => FileType::Index,
        "snapshots" => FileType::Snapshot,
        "keys" => FileType::Key,
        "locks" => FileType::Lock,
        other => bail!("invalid type {other:?}"),
    };
    // Listing locks must work while the repository is locked.
    let (repo, _lock) = if file_type == FileType::Lock {
        (global.open_repository()?, None)
    } else {
        global.open_shared()?
    };
    for (id, _) in repo.list_ids(file_type)? {
        println!("{id}");
    }
    Ok(())
}
