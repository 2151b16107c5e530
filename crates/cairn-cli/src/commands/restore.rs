//! `cairn restore`.

use super::{split_snapshot_spec, FilterArgs};
use crate::exit::ExitCode;
use crate::global::GlobalOptions;
use crate::output::go_time_string;
use crate::progress::restore::RestoreOutput;
use anyhow::{bail, Result};
use cairn::filter::{read_pattern_file, PatternList};
use cairn::restore::{restore, Overwrite, RestoreOptions, XattrFilter};
use std::path::PathBuf;

/// Arguments of `restore`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshot ID or "latest", optionally with ":subfolder"
    #[arg(value_name = "snapshotID")]
    pub snapshot: String,
    /// Directory to extract data to
    #[arg(short = 't', long)]
    pub target: Option<PathBuf>,
    /// Include a pattern (can be specified multiple times)
    #[arg(short = 'i', long = "include")]
    pub include: Vec<String>,
    /// Same as --include but ignores the casing of filenames
    #[arg(long = "iinclude")]
    pub iinclude: Vec<String>,
    /// Read include patterns from a file (can be specified multiple times)
    #[arg(long = "include-file")]
    pub include_file: Vec<PathBuf>,
    /// Same as --include-file but ignores casing of filenames in patterns
    #[arg(long = "iinclude-file")]
    pub iinclude_file: Vec<PathBuf>,
    /// Exclude a pattern (can be specified multiple times)
    #[arg(short = 'e', long = "exclude")]
    pub exclude: Vec<String>,
    /// Same as --exclude but ignores the casing of filenames
    #[arg(long = "iexclude")]
    pub iexclude: Vec<String>,
    /// Read exclude patterns from a file (can be specified multiple times)
    #[arg(long = "exclude-file")]
    pub exclude_file: Vec<PathBuf>,
    /// Same as --exclude-file but ignores casing of filenames in patterns
    #[arg(long = "iexclude-file")]
    pub iexclude_file: Vec<PathBuf>,
    /// Only restore extended attributes matching this pattern
    #[arg(long = "include-xattr")]
    pub include_xattr: Vec<String>,
    /// Do not restore extended attributes matching this pattern
    #[arg(long = "exclude-xattr")]
    pub exclude_xattr: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Verify restored files content
    #[arg(long)]
    pub verify: bool,
    /// Do not write any data, just show what would be done
    #[arg(long)]
    pub dry_run: bool,
    /// Overwrite behavior, one of (always|if-changed|if-newer|never)
    #[arg(long, default_value = "always")]
    pub overwrite: String,
    /// Delete files from target directory if they do not exist in snapshot
    #[arg(long)]
    pub delete: bool,
    /// Restore files as sparse
    #[arg(long)]
    pub sparse: bool,
    /// Restore user/group ownership by name instead of uid/gid
    #[arg(long)]
    pub ownership_by_name: bool,
}

fn pattern_lists(
    inline: &[String],
    files: &[PathBuf],
    case_insensitive: bool,
) -> Result<Option<PatternList>> {
    let mut patterns: Vec<Vec<u8>> = inline.iter().map(|p| p.as_bytes().to_vec()).collect();
    for f in files {
        patterns.extend(read_pattern_file(f)?);
    }
    if patterns.is_empty() {
        return Ok(None);
    }
    Ok(Some(PatternList::new(patterns, case_insensitive)?))
}

/// Restores a snapshot into the target directory.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let Some(target) = args.target.clone() else {
        bail!("Please specify a directory to restore to (--target)");
    };
    let includes: Vec<PatternList> = [
        pattern_lists(&args.include, &args.include_file, false)?,
        pattern_lists(&args.iinclude, &args.iinclude_file, true)?,
    ]
    .into_iter()
    .flatten()
    .collect();
    let excludes: Vec<PatternList> = [
        pattern_lists(&args.exclude, &args.exclude_file, false)?,
        pattern_lists(&args.iexclude, &args.iexclude_file, true)?,
    ]
    .into_iter()
    .flatten()
    .collect();
    let xattrs = match (args.include_xattr.is_empty(), args.exclude_xattr.is_empty()) {
        (true, true) => XattrFilter::All,
        (false, true) => XattrFilter::Include(PatternList::new(&args.include_xattr, false)?),
        (true, false) => XattrFilter::Exclude(PatternList::new(&args.exclude_xattr, false)?),
        (false, false) => bail!("--exclude-xattr and --include-xattr are mutually exclusive"),
    };
    let opts = RestoreOptions {
        target: target.clone(),
        includes,
        excludes,
        xattrs,
        verify: args.verify,
        dry_run: args.dry_run,
        overwrite: args.overwrite.parse::<Overwrite>()?,
        delete: args.delete,
        sparse: args.sparse,
        threads: 0,
        ownership_by_name: args.ownership_by_name,
        // Ctrl-C stops it through the process-wide flag every token reports.
        cancel: cairn::Cancel::new(),
    };

    let (repo, _lock) = global.open_with_index()?;
    let (spec, sub) = split_snapshot_spec(&args.snapshot);
    let sn = repo.find_snapshot(spec, &args.filter.filter())?;
    let verbosity = crate::progress::verbosity(global);
    let mut out = RestoreOutput::new(global.json, verbosity, crate::progress::interval(global));
    if let Some(line) = crate::progress::repository_opened(global, &repo) {
        out.message(1, &line);
    }
    let s = &sn.snapshot;
    out.message(
        1,
        &format!(
            "restoring <Snapshot {} of [{}] at {} by {}@{}> to {}",
            sn.id.short(),
            s.paths.join(" "),
            go_time_string(&s.time),
            s.username,
            s.hostname,
            target.display()
        ),
    );
    let summary = restore(
        &repo,
        &sn.snapshot.tree,
        sub.map(str::as_bytes),
        &opts,
        &out,
    )?;
    out.finish(&summary);
    crate::metrics::add(cairn::metrics::restore_figures(&summary));
    if !summary.errors.is_empty() {
        return Err(ExitCode(
            crate::exit::FATAL,
            format!("Fatal: There were {} errors", summary.errors.len()),
        )
        .into());
    }
    Ok(())
}
