//! `cairn dump`.

use super::FilterArgs;
use crate::global::GlobalOptions;
use anyhow::{bail, Context, Result};
use cairn::dump::{dump, ArchiveFormat};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `dump`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshot ID or "latest"
    #[arg(value_name = "snapshotID")]
    pub snapshot: String,
    /// Path of the file or directory inside the snapshot
    #[arg(value_name = "file")]
    pub file: std::ffi::OsString,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Set archive format as "tar" or "zip"
    #[arg(short = 'a', long, default_value = "tar")]
    pub archive: String,
    /// Write the output to target path instead of stdout
    #[arg(short = 't', long)]
    pub target: Option<PathBuf>,
}

/// Writes a file's content or a directory's archive to stdout or a file.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let format = match args.archive.as_str() {
        "tar" => ArchiveFormat::Tar,
        "zip" => ArchiveFormat::Zip,
        other => bail!("unknown archive format {other:?}"),
    };
    let (repo, _lock) = global.open_with_index()?;
    let sn = repo.find_snapshot(&args.snapshot, &args.filter.filter())?;
    use std::os::unix::ffi::OsStrExt;
    let mut raw = b"/".to_vec();
    raw.extend_from_slice(args.file.as_bytes());
    let path = cairn::filter::clean(&raw);
    match &args.target {
        Some(t) => {
            let f = std::fs::File::create(t)
                .with_context(|| format!("cannot create {}", t.display()))?;
            let mut w = std::io::BufWriter::new(f);
            dump(&repo, &sn.snapshot.tree, &path, format, &mut w)?;
            w.flush()?;
        }
        None => {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            dump(&repo, &sn.snapshot.tree, &path, format, &mut w)?;
            w.flush()?;
        }
    }
    Ok(())
}
