//! `cairn cache`: list and clean the local cache directories, and opening
//! the cache for a repository (`--cache-dir`, `--no-cache`,
//! `--cleanup-cache`), over [`cairn::cache`].

use crate::global::GlobalOptions;
use crate::output::{format_bytes, print_table};
use anyhow::{bail, Result};
use cairn::cache::{Cache, CacheDirInfo, MAX_CACHE_AGE};
use cairn::Repository;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Arguments of `cache`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove old cache directories
    #[arg(long)]
    pub cleanup: bool,
    /// Max age in `days` for cache directories to be considered old
    #[arg(long, value_name = "days", default_value_t = 30)]
    pub max_age: u32,
    /// Do not output the size of the cache directories
    #[arg(long)]
    pub no_size: bool,
    #[arg(hide = true)]
    pub rest: Vec<String>,
}

/// The base cache directory: `--cache-dir` (or `$RESTIC_CACHE_DIR`), else
/// the default one.
fn base_dir(global: &GlobalOptions) -> Result<PathBuf> {
    match &global.cache_dir {
        Some(dir) => Ok(dir.clone()),
        None => Ok(cairn::cache::default_dir()?),
    }
}

/// Lists the cache directories in restic's table, or removes old ones.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    if !args.rest.is_empty() {
        bail!("the cache command expects no arguments, only options - please see `cairn help cache` for usage and flags");
    }
    if global.no_cache {
        bail!("Refusing to do anything, the cache is disabled");
    }
    let base = base_dir(global)?;
    let max_age = Duration::from_secs(u64::from(args.max_age) * 24 * 60 * 60);
    let verbose = |msg: String| {
        if !global.quiet {
            println!("{msg}");
        }
    };
    if args.cleanup || global.cleanup_cache {
        let report = cairn::cache::cleanup(&base, max_age)?;
        if report.removed.is_empty() && report.failed.is_empty() {
            verbose("no old cache dirs found".into());
            return Ok(());
        }
        let n = report.removed.len() + report.failed.len();
        verbose(format!("remove {n} old cache directories"));
        report_failures(report);
        return Ok(());
    }
    let mut dirs = cairn::cache::list_dirs(&base)?;
    if dirs.is_empty() {
        println!("no cache dirs found, basedir is {}", base.display());
        return Ok(());
    }
    dirs.sort_by_key(|d| d.modified);
    let mut header = vec!["Repo ID", "Last Used", "Old"];
    if !args.no_size {
        header.push("Size");
    }
    let mut rows = Vec::new();
    for dir in &dirs {
        rows.push(row(dir, max_age, !args.no_size)?);
    }
    print_table(&header, &rows, None);
    println!("{} cache dirs in {}", dirs.len(), base.display());
    Ok(())
}

fn row(dir: &CacheDirInfo, max_age: Duration, with_size: bool) -> Result<Vec<String>> {
    let name = if dir.name.starts_with("restic-check-cache-") {
        dir.name.clone()
    } else {
        dir.name[..10].to_string()
    };
    let age = SystemTime::now()
        .duration_since(dir.modified)
        .unwrap_or_default();
    let mut row = vec![
        name,
        format!("{} days ago", age.as_secs() / (24 * 60 * 60)),
        if dir.is_old(max_age) { "yes" } else { "" }.to_string(),
    ];
    if with_size {
        let size = cairn::cache::dir_size(&dir.path)?;
        row.push(format!("{:>11}", format_bytes(size)));
    }
    Ok(row)
}

/// Puts the repository's cache in use unless `--no-cache` is given, as
/// restic does when opening a repository: a cache that cannot be opened is
/// a warning, and old cache directories are removed with
/// `--cleanup-cache` or else pointed out.
pub fn attach(global: &GlobalOptions, repo: &mut Repository) {
    if global.no_cache {
        return;
    }
    let opened = base_dir(global).and_then(|base| Ok(Cache::open(&base, &repo.config().id)?));
    let cache = match opened {
        Ok(cache) => Arc::new(cache),
        Err(e) => {
            eprintln!("unable to open cache: {e}");
            return;
        }
    };
    let terminal = std::io::stdout().is_terminal();
    let talk = terminal && !global.json && !global.quiet;
    if cache.created() && talk {
        println!("created new cache in {}", cache.base().display());
    }
    repo.use_cache(cache.clone());
    remove_or_mention_old(global, cache.base(), talk);
}

fn remove_or_mention_old(global: &GlobalOptions, base: &Path, talk: bool) {
    let old: Vec<CacheDirInfo> = match cairn::cache::list_dirs(base) {
        Ok(dirs) => dirs
            .into_iter()
            .filter(|d| d.is_old(MAX_CACHE_AGE))
            .collect(),
        Err(e) => {
            eprintln!("unable to find old cache directories: {e}");
            return;
        }
    };
    if old.is_empty() {
        return;
    }
    if !global.cleanup_cache {
        if std::io::stdout().is_terminal() && !global.quiet {
            println!(
                "found {} old cache directories in {}, run `cairn cache --cleanup` to remove them",
                old.len(),
                base.display()
            );
        }
        return;
    }
    if talk {
        println!(
            "removing {} old cache dirs from {}",
            old.len(),
            base.display()
        );
    }
    match cairn::cache::cleanup(base, MAX_CACHE_AGE) {
        Ok(report) => report_failures(report),
        Err(e) => eprintln!("unable to remove old cache directories: {e}"),
    }
}

fn report_failures(report: cairn::cache::CleanupReport) {
    for (dir, e) in report.failed {
        eprintln!("unable to remove {}: {e}", dir.display());
    }
}
