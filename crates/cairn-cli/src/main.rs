//! `cairn`: a restic-compatible command line over the `cairn` library.
//!
//! This binary only parses arguments, opens the repository and prints
//! results; all work is done by library functions.

mod argv;
mod commands;
mod confirming_lock;
mod exit;
mod global;
mod interruptible_read;
mod metrics;
mod output;
mod panics;
mod password;
mod progress;
mod secondary_repo;
mod self_update;
mod signals;

use clap::{CommandFactory, Parser, Subcommand};

/// Fast, safe backups in restic repositories.
#[derive(Parser, Debug)]
#[command(name = "cairn", version, about, disable_version_flag = true)]
struct Cli {
    #[command(flatten)]
    global: global::GlobalOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new backup of files and/or directories
    Backup(Box<commands::backup::Args>),
    /// Operate on local cache directories
    Cache(commands::cache::Args),
    /// Print internal objects to stdout
    Cat(commands::cat::Args),
    /// Check the repository for errors
    Check(commands::check::Args),
    /// Copy snapshots from one repository to another
    Copy(commands::copy::Args),
    /// Show differences between two snapshots
    Diff(commands::diff::Args),
    /// Print the contents of a file or directory of a snapshot
    Dump(commands::dump::Args),
    /// Serve Prometheus metrics about repositories on /metrics
    Exporter(commands::exporter::Args),
    /// Print list of feature flags
    Features(commands::features::Args),
    /// Find files in snapshots
    Find(commands::find::Args),
    /// Remove snapshots from the repository
    Forget(Box<commands::forget::Args>),
    /// Generate manual pages and auto-completion files (bash, fish, zsh, powershell)
    Generate(commands::generate::Args),
    /// Initialize a new repository
    Init(commands::init::Args),
    /// Manage keys (passwords)
    Key(commands::key::Args),
    /// List objects in the repository
    List(commands::list::Args),
    /// List files in a snapshot
    Ls(commands::ls::Args),
    /// Apply migrations
    Migrate(commands::migrate::Args),
    /// Mount the repository
    Mount(commands::mount::Args),
    /// Print list of extended options
    Options(commands::options::Args),
    /// Remove unneeded data from the repository
    Prune(Box<commands::prune::Args>),
    /// Recover data from the repository not referenced by snapshots
    Recover(commands::recover::Args),
    /// Repair a repository
    Repair(commands::repair::Args),
    /// Build a new index (the old name of `repair index`)
    #[command(name = "rebuild-index", hide = true)]
    RebuildIndex(commands::repair::IndexArgs),
    /// Extract the data from a snapshot
    Restore(Box<commands::restore::Args>),
    /// Rewrite snapshots to exclude files or change metadata
    Rewrite(Box<commands::rewrite::Args>),
    /// Update the restic binary (not available: cairn is updated as it was installed)
    #[command(name = "self-update")]
    SelfUpdate(self_update::Args),
    /// Serve repositories over HTTP like rest-server
    Serve(Box<commands::serve::Args>),
    /// List all snapshots
    Snapshots(commands::snapshots::Args),
    /// Scan the repository and show basic statistics
    Stats(commands::stats::Args),
    /// Modify tags on snapshots
    Tag(commands::tag::Args),
    /// Remove locks other processes created
    Unlock(commands::unlock::Args),
    /// Print version information
    Version,
}

fn main() {
    signals::ignore_sighup();
    drop_empty_restic_variables();
    apply_restic_features();
    let cli = parse_command_line();
    let serve = matches!(cli.command, Command::Serve(_) | Command::Exporter(_));
    // `cairn serve` and `cairn exporter` handle their own signals (graceful
    // shutdown, SIGHUP reload) and keep serving when one request panics;
    // `cairn mount` unmounts on a signal and ends normally, as restic's does.
    if !serve && !matches!(cli.command, Command::Mount(_)) {
        signals::install_interrupt_handler();
    }
    panics::install_hook(!serve);
    metrics::start(&cli.global, command_name(&cli.command));
    let code = panics::run(|| run(cli));
    // Written on every outcome, with the exit code the command ends with.
    metrics::finish(code, true);
    // Normally nothing is held by now; a guard leaked by a thread that
    // outlives the command is released here.
    signals::release_locks();
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Backup(a) => commands::backup::run(&cli.global, *a),
        Command::Cache(a) => commands::cache::run(&cli.global, a),
        Command::Cat(a) => commands::cat::run(&cli.global, a),
        Command::Check(a) => commands::check::run(&cli.global, a),
        Command::Copy(a) => commands::copy::run(&cli.global, a),
        Command::Diff(a) => commands::diff::run(&cli.global, a),
        Command::Dump(a) => commands::dump::run(&cli.global, a),
        Command::Exporter(a) => commands::exporter::run(&cli.global, a),
        Command::Features(a) => commands::features::run(a),
        Command::Find(a) => commands::find::run(&cli.global, a),
        Command::Forget(a) => commands::forget::run(&cli.global, *a),
        Command::Generate(a) => commands::generate::run(a, Cli::command()),
        Command::Init(a) => commands::init::run(&cli.global, a),
        Command::Key(a) => commands::key::run(&cli.global, a),
        Command::List(a) => commands::list::run(&cli.global, a),
        Command::Ls(a) => commands::ls::run(&cli.global, a),
        Command::Migrate(a) => commands::migrate::run(&cli.global, a),
        Command::Mount(a) => commands::mount::run(&cli.global, a),
        Command::Options(a) => commands::options::run(a),
        Command::Prune(a) => commands::prune::run(&cli.global, *a),
        Command::Recover(a) => commands::recover::run(&cli.global, a),
        Command::Repair(a) => commands::repair::run(&cli.global, a),
        Command::RebuildIndex(a) => commands::repair::run_index(&cli.global, a),
        Command::Restore(a) => commands::restore::run(&cli.global, *a),
        Command::Rewrite(a) => commands::rewrite::run(&cli.global, *a),
        Command::SelfUpdate(a) => self_update::run(a),
        Command::Serve(a) => commands::serve::run(&cli.global, *a),
        Command::Snapshots(a) => commands::snapshots::run(&cli.global, a),
        Command::Stats(a) => commands::stats::run(&cli.global, a),
        Command::Tag(a) => commands::tag::run(&cli.global, a),
        Command::Unlock(a) => commands::unlock::run(&cli.global, a),
        Command::Version => commands::version::run(&cli.global),
    }
}

/// The name of the command that reports metrics (see [`metrics`]), or ""
/// for the others.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Backup(_) => "backup",
        Command::Check(_) => "check",
        Command::Copy(_) => "copy",
        Command::Forget(_) => "forget",
        Command::Prune(_) => "prune",
        Command::Restore(_) => "restore",
        _ => "",
    }
}

/// Parses the command line with restic's flag syntax (see [`argv`]); a
/// usage error ends the program as restic's do (exit 1, one line, JSON
/// with `--json`).
fn parse_command_line() -> Cli {
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Flags before a parse error still count in restic (pflag sets them
    // in order), so `--json` decides the error format even then.
    let json = raw
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json" || a == "--json=true");
    exit::set_json_errors(json);
    let args = match argv::normalize(&Cli::command(), raw) {
        Ok(args) => args,
        Err(message) => {
            exit::print_exit_error(exit::FATAL, &message);
            std::process::exit(exit::FATAL);
        }
    };
    match Cli::try_parse_from(args) {
        Ok(cli) => {
            exit::set_json_errors(cli.global.json);
            // restic checks this before every command.
            if cli.global.quiet && cli.global.verbose > 0 {
                let message = "Fatal: --quiet and --verbose cannot be specified at the same time";
                exit::print_exit_error(exit::FATAL, message);
                std::process::exit(exit::FATAL);
            }
            cli
        }
        Err(e) => exit::usage_error(e),
    }
}

/// Reads `RESTIC_FEATURES` before anything else, as restic does: warnings
/// go to stderr, a bad value or unknown flag ends the program (exit 1).
fn apply_restic_features() {
    let spec = std::env::var_os("RESTIC_FEATURES").unwrap_or_default();
    match commands::features::apply(&spec.to_string_lossy()) {
        Ok(warnings) => warnings.iter().for_each(|w| eprintln!("{w}")),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(exit::FATAL);
        }
    }
}

/// restic treats an empty `RESTIC_*` variable as unset; clap would take it
/// as an empty value, so such variables are removed before parsing.
fn drop_empty_restic_variables() {
    let empty: Vec<_> = std::env::vars_os()
        .filter(|(k, v)| k.to_string_lossy().starts_with("RESTIC_") && v.is_empty())
        .map(|(k, _)| k)
        .collect();
    for k in empty {
        // Single-threaded at this point: nothing else reads the environment.
        std::env::remove_var(k);
    }
}
