//! `cairn backup`.

use super::find::parse_local_time;
use crate::confirming_lock::ConfirmingLock;
use crate::exit::ExitCode;
use crate::global::GlobalOptions;
use crate::output::{format_bytes, JsonObject};
use crate::progress::backup::BackupOutput;
use crate::progress::format_duration;
use anyhow::{bail, Context, Result};
use cairn::backup::{
    backup, BackupOptions, ChunkerChoice, ExcludeOptions, NodeOptions, ParentChoice, StdinSource,
};
use cairn::filter::{read_pattern_file, PatternList};
use cairn::format::GoTime;
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `backup`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files and directories to back up (or the command for --stdin-from-command)
    #[arg(value_name = "FILE/DIR")]
    pub paths: Vec<std::ffi::OsString>,
    /// Read backup from stdin
    #[arg(long)]
    pub stdin: bool,
    /// Filename to use when reading from stdin
    #[arg(long, default_value = "stdin")]
    pub stdin_filename: String,
    /// Interpret arguments as command to execute and store its stdout
    #[arg(long)]
    pub stdin_from_command: bool,
    /// Read the files to backup from file (can be combined with file args; can be specified multiple times)
    #[arg(long)]
    pub files_from: Vec<PathBuf>,
    /// Read the files to backup from file (can be combined with file args; can be specified multiple times)
    #[arg(long)]
    pub files_from_verbatim: Vec<PathBuf>,
    /// Read the files to backup from file (can be combined with file args; can be specified multiple times)
    #[arg(long)]
    pub files_from_raw: Vec<PathBuf>,
    /// Exclude a pattern (can be specified multiple times)
    #[arg(short = 'e', long)]
    pub exclude: Vec<String>,
    /// Same as --exclude pattern but ignores the casing of filenames
    #[arg(long)]
    pub iexclude: Vec<String>,
    /// Read exclude patterns from a file (can be specified multiple times)
    #[arg(long)]
    pub exclude_file: Vec<PathBuf>,
    /// Same as --exclude-file but ignores casing of filenames in patterns
    #[arg(long)]
    pub iexclude_file: Vec<PathBuf>,
    /// Takes filename or filename:header, exclude contents of directories containing filename (except filename itself) if header of that file is as provided (can be specified multiple times)
    #[arg(long)]
    pub exclude_if_present: Vec<String>,
    /// Excludes cache directories that are marked with a CACHEDIR.TAG file
    #[arg(long)]
    pub exclude_caches: bool,
    /// Max size of the files to be backed up (allowed suffixes: k/K, m/M, g/G, t/T)
    #[arg(long)]
    pub exclude_larger_than: Option<String>,
    /// Exclude other file systems, don't cross filesystem boundaries and subvolumes
    #[arg(short = 'x', long)]
    pub one_file_system: bool,
    /// Add tags for the new snapshot in the format `tag[,tag,...]` (can be specified multiple times)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Set the hostname for the snapshot manually (an empty value means this host's name)
    #[arg(short = 'H', long, env = "RESTIC_HOST")]
    pub host: Option<String>,
    /// Deprecated: use --host
    #[arg(long, hide = true)]
    pub hostname: Option<String>,
    /// Group snapshots by host, paths and/or tags, separated by comma (disable grouping with ''); the parent is the latest snapshot of the new snapshot's group
    #[arg(short = 'g', long = "group-by", value_name = "group", default_value = "host,paths", value_parser = super::parse_group_by)]
    pub group_by: cairn::forget::GroupBy,
    /// Time of the backup (ex. '2012-11-01 22:08:41') (default: now)
    #[arg(long)]
    pub time: Option<String>,
    /// Use this parent snapshot (default: latest snapshot in the group determined by --group-by and not newer than the timestamp determined by --time)
    #[arg(long)]
    pub parent: Option<String>,
    /// Force re-reading the source files/directories (overrides the "parent" flag)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Ignore inode number and ctime changes when checking for modified files
    #[arg(long)]
    pub ignore_inode: bool,
    /// Ignore ctime changes when checking for modified files
    #[arg(long)]
    pub ignore_ctime: bool,
    /// Store the atime for all files and directories
    #[arg(long)]
    pub with_atime: bool,
    /// Skip snapshot creation if identical to parent snapshot
    #[arg(long)]
    pub skip_if_unchanged: bool,
    /// Read n files concurrently (default: $RESTIC_READ_CONCURRENCY or 2)
    #[arg(
        long,
        env = "RESTIC_READ_CONCURRENCY",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub read_concurrency: usize,
    /// Do not upload or write any data, just show what would be done
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Do not run scanner to estimate size of backup
    #[arg(long)]
    pub no_scan: bool,
    /// Chunker: rabin (restic's, deduplicates with restic) or fastcdc (faster, does not deduplicate with restic's backups)
    #[arg(long, default_value = "rabin")]
    pub chunker: String,
}

/// A child process's standard output that fails at its end if the
/// process failed, so that no snapshot is saved from a failed command.
struct CommandOutput {
    child: std::process::Child,
    stdout: crate::interruptible_read::InterruptibleRead<std::process::ChildStdout>,
}

impl Read for CommandOutput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let status = self.child.wait()?;
            if !status.success() {
                return Err(std::io::Error::other(format!("command failed: {status}")));
            }
        }
        Ok(n)
    }
}

/// The pattern list of `--exclude`-style flags and pattern files (shared
/// with `rewrite`).
pub(crate) fn patterns(
    inline: &[String],
    files: &[PathBuf],
    ci: bool,
) -> Result<Option<PatternList>> {
    let mut all: Vec<Vec<u8>> = inline.iter().map(|p| p.as_bytes().to_vec()).collect();
    for f in files {
        all.extend(read_pattern_file(f)?);
    }
    Ok((!all.is_empty())
        .then(|| PatternList::new(all, ci))
        .transpose()?)
}

fn files_from(args: &Args) -> Result<Vec<PathBuf>> {
    use std::os::unix::ffi::OsStringExt;
    let mut out = Vec::new();
    for f in &args.files_from {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("unable to read {}", f.display()))?;
        for line in text.lines().map(str::trim_end) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let matches: Vec<PathBuf> = glob::glob(line)
                .map(|g| g.flatten().collect())
                .unwrap_or_default();
            // restic 0.19 drops a pattern that matches nothing (it is
            // not a missing source).
            if matches.is_empty() {
                eprintln!("pattern {line:?} does not match any files, skipping");
            }
            out.extend(matches);
        }
    }
    for f in &args.files_from_verbatim {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("unable to read {}", f.display()))?;
        out.extend(text.lines().filter(|l| !l.is_empty()).map(PathBuf::from));
    }
    for f in &args.files_from_raw {
        let raw = std::fs::read(f).with_context(|| format!("unable to read {}", f.display()))?;
        out.extend(
            raw.split(|&b| b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| PathBuf::from(std::ffi::OsString::from_vec(p.to_vec()))),
        );
    }
    Ok(out)
}

/// Builds the library options from the flags.
fn options(global: &GlobalOptions, args: &Args) -> Result<BackupOptions> {
    let mut opts = BackupOptions::default();
    let excludes: Vec<PatternList> = [
        patterns(&args.exclude, &args.exclude_file, false)?,
        patterns(&args.iexclude, &args.iexclude_file, true)?,
    ]
    .into_iter()
    .flatten()
    .collect();
    // restic records only the --exclude patterns in the snapshot.
    opts.recorded_excludes = args.exclude.clone();
    opts.exclude = ExcludeOptions {
        excludes,
        exclude_if_present: args.exclude_if_present.clone(),
        exclude_caches: args.exclude_caches,
        exclude_larger_than: args
            .exclude_larger_than
            .as_deref()
            .map(cairn::backup::exclude::parse_size)
            .transpose()?,
        one_file_system: args.one_file_system,
    };
    opts.tags = args
        .tags
        .iter()
        .flat_map(|t| cairn::SnapshotFilter::parse_tag_list(t))
        .collect();
    // restic 0.19: `--hostname` (deprecated) sets the same value as
    // `--host`; an empty one (`--host ""` over RESTIC_HOST) means this
    // host's name.
    if args.hostname.is_some() {
        eprintln!("Flag --hostname has been deprecated, use --host");
    }
    opts.host = args
        .hostname
        .clone()
        .or_else(|| args.host.clone())
        .filter(|h| !h.is_empty());
    opts.parent_group_by = args.group_by;
    if let Some(t) = &args.time {
        opts.time = Some(GoTime {
            unix_secs: parse_local_time(t)?,
            nanos: 0,
            offset_secs: GoTime::now_local().offset_secs,
        });
    }
    opts.parent = match (&args.parent, args.force) {
        (_, true) => ParentChoice::None,
        (Some(p), false) => ParentChoice::Snapshot(p.clone()),
        (None, false) => ParentChoice::Latest,
    };
    opts.node = NodeOptions {
        with_atime: args.with_atime,
    };
    opts.ignore_inode = args.ignore_inode;
    opts.ignore_ctime = args.ignore_ctime || args.ignore_inode;
    opts.skip_if_unchanged = args.skip_if_unchanged;
    opts.scan = !args.no_scan;
    opts.chunker = match args.chunker.as_str() {
        "rabin" => ChunkerChoice::Rabin,
        "fastcdc" => ChunkerChoice::FastCdc,
        other => bail!("unknown chunker {other:?} (rabin|fastcdc)"),
    };
    opts.write.compression = global.compression.parse()?;
    if let Some(mib) = global.pack_size {
        opts.write.pack_size = u64::from(mib) << 20;
    }
    opts.write.dry_run = args.dry_run;
    if args.stdin_from_command {
        let (cmd, rest) = args
            .paths
            .split_first()
            .context("--stdin-from-command needs a command")?;
        let mut child = std::process::Command::new(cmd)
            .args(rest)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", cmd.to_string_lossy()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdout = crate::interruptible_read::InterruptibleRead::new(stdout);
        opts.stdin = Some(StdinSource {
            filename: args.stdin_filename.clone(),
            reader: Box::new(CommandOutput { child, stdout }),
        });
    } else if args.stdin {
        if !args.paths.is_empty() {
            bail!("--stdin was specified and files/dirs were listed as arguments");
        }
        opts.stdin = Some(StdinSource {
            filename: args.stdin_filename.clone(),
            // Waiting for input must not outlast an interrupt.
            reader: Box::new(
                crate::interruptible_read::stdin().context("cannot read standard input")?,
            ),
        });
    } else {
        opts.paths = args.paths.iter().map(PathBuf::from).collect();
        opts.paths.extend(files_from(args)?);
    }
    Ok(opts)
}

/// restic's `filterExisting`: warns about each source that does not exist
/// (or cannot be looked at) and leaves it out. `Ok(true)` if some were
/// left out (the backup then ends with exit code 3), an error if none is
/// left.
fn drop_missing_sources(paths: &mut Vec<PathBuf>) -> Result<bool> {
    if paths.is_empty() {
        return Ok(false);
    }
    let before = paths.len();
    paths.retain(|p| match std::fs::symlink_metadata(p) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("{} does not exist, skipping", p.display());
            false
        }
        Err(_) => {
            eprintln!("{} cannot be accessed, skipping", p.display());
            false
        }
    });
    if paths.is_empty() {
        bail!("all source directories/files do not exist");
    }
    Ok(paths.len() < before)
}

/// Go's `%v` of a string slice: `[a b c]`.
fn go_list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    format!("[{}]", names.join(" "))
}

/// Backs up, prints restic's messages and summary (text or JSON), exits
/// 3 if some sources or files could not be read.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let mut opts = options(global, &args)?;
    let set_paths = match &opts.stdin {
        Some(stdin) => vec![PathBuf::from("/").join(&stdin.filename)],
        None => opts.paths.clone(),
    };
    crate::metrics::set_backup_set(opts.host.as_deref(), &set_paths, &opts.tags);
    let verbosity = crate::progress::verbosity(global);
    let interval = crate::progress::interval(global);
    let sources_missing = if opts.stdin.is_none() {
        drop_missing_sources(&mut opts.paths)?
    } else {
        false
    };
    if verbosity >= 2 && !global.json {
        println!("open repository");
    }
    let mut repo = global.open_repository()?;
    // Progress counts from here, as restic's does.
    let mut out = BackupOutput::new(global.json, verbosity, interval);
    out.set_targets(&opts.paths);
    out.tell_parent(!args.stdin);
    if let Some(line) = crate::progress::repository_opened(global, &repo) {
        out.message(1, &line);
    }
    // The lock's second look for conflicting locks is made on its own
    // thread while the backup starts; the backup waits for it before it
    // commits anything (and stops early if it fails).
    let lock = if args.dry_run {
        None
    } else {
        Some(ConfirmingLock::start(global, &repo, false)?)
    };
    if let Some(lock) = &lock {
        opts.before_commit = Some(Box::new(lock.commit_check()));
    }
    out.message(2, "load index files");
    for problem in repo.load_index()? {
        out.warn(&format!("Warning: {problem}"));
    }
    let started = Instant::now();
    // The scanner only feeds the totals of the progress display (and
    // -v's "scan finished"): without them it would walk and stat the
    // whole tree a second time for nothing (about 5 % of a fresh
    // backup's CPU).
    opts.scan &= out.wants_scan();
    if opts.stdin.is_some() {
        out.verbose_after_parent("read data from stdin".into());
    } else {
        if opts.scan {
            out.verbose_after_parent(format!("start scan on {}", go_list(&opts.paths)));
        }
        out.verbose_after_parent(format!("start backup on {}", go_list(&opts.paths)));
    }
    // --read-concurrency N: N threads read (and chunk) files; without it,
    // one worker per CPU (at least restic's default of 2).
    let threads = match args.read_concurrency {
        0 => 2.max(std::thread::available_parallelism().map_or(2, |n| n.get())),
        n => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("cannot start worker threads")?;
    // A dry run writes nothing and takes no lock.
    let unlocked;
    let guard = match &lock {
        Some(lock) => lock.guard(),
        None => {
            unlocked = cairn::LockGuard::unlocked(&repo);
            &unlocked
        }
    };
    let result = pool.install(|| backup(&mut repo, guard, opts, &out));
    if let Some(lock) = &lock {
        lock.confirmed()?;
    }
    let summary = result?;
    crate::metrics::add(cairn::metrics::backup_figures(&summary));
    out.finish();
    print_summary(global, &args, &summary, started.elapsed(), verbosity);
    if !summary.errors.is_empty() || sources_missing {
        return Err(ExitCode(
            crate::exit::PARTIAL,
            "Warning: at least one source file could not be read".into(),
        )
        .into());
    }
    Ok(())
}

/// restic's closing lines: the JSON `summary`, or the text summary
/// (Data/Tree Blobs lines at `-v`).
fn print_summary(
    global: &GlobalOptions,
    args: &Args,
    summary: &cairn::backup::BackupSummary,
    elapsed: std::time::Duration,
    verbosity: u8,
) {
    let sn = &summary.snapshot;
    let s = sn.summary.as_ref().expect("backup fills the summary");
    if global.json {
        let mut o = JsonObject::default();
        o.set("message_type", "summary");
        o.set("files_new", s.files_new);
        o.set("files_changed", s.files_changed);
        o.set("files_unmodified", s.files_unmodified);
        o.set("dirs_new", s.dirs_new);
        o.set("dirs_changed", s.dirs_changed);
        o.set("dirs_unmodified", s.dirs_unmodified);
        o.set("data_blobs", s.data_blobs);
        o.set("tree_blobs", s.tree_blobs);
        o.set("data_added", s.data_added);
        o.set("data_added_packed", s.data_added_packed);
        o.set("total_files_processed", s.total_files_processed);
        o.set("total_bytes_processed", s.total_bytes_processed);
        o.set("total_duration", elapsed.as_secs_f64());
        o.set("backup_start", s.backup_start.to_rfc3339_nano());
        o.set("backup_end", s.backup_end.to_rfc3339_nano());
        if let Some(id) = summary.snapshot_id {
            o.set("snapshot_id", id.to_hex());
        }
        if args.dry_run {
            o.set("dry_run", true);
        }
        println!("{}", o.to_json());
        return;
    }
    if verbosity < 1 {
        return;
    }
    println!();
    println!(
        "Files:       {:5} new, {:5} changed, {:5} unmodified",
        s.files_new, s.files_changed, s.files_unmodified
    );
    println!(
        "Dirs:        {:5} new, {:5} changed, {:5} unmodified",
        s.dirs_new, s.dirs_changed, s.dirs_unmodified
    );
    if verbosity >= 2 {
        println!("Data Blobs:  {:5} new", s.data_blobs);
        println!("Tree Blobs:  {:5} new", s.tree_blobs);
    }
    let verb = if args.dry_run { "Would add" } else { "Added" };
    println!(
        "{verb} to the repository: {:<5} ({:<5} stored)",
        format_bytes(s.data_added),
        format_bytes(s.data_added_packed)
    );
    println!();
    println!(
        "processed {} files, {} in {}",
        s.total_files_processed,
        format_bytes(s.total_bytes_processed),
        format_duration(elapsed)
    );
    match summary.snapshot_id {
        Some(id) => println!("snapshot {} saved", id.short()),
        None if args.dry_run => {}
        None => println!("skipped creating snapshot"),
    }
}
