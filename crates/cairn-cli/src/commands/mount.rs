//! `cairn mount`: serve the repository read-only through FUSE until
//! Ctrl-C, SIGTERM or an outside unmount (`fusermount3 -u`). All the work
//! is in the `cairn-mount` crate.
//!
//! As restic 0.19: the mount point is checked before the repository is
//! opened, a shared lock is held while mounted, and a signal unmounts and
//! ends the command with exit code 0 (restic's `ErrOK`); so does an
//! outside unmount. The lock is removed on every way out.

use super::FilterArgs;
use crate::global::GlobalOptions;
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Arguments of `mount`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to mount the repository (an empty directory)
    #[arg(value_name = "mountpoint")]
    pub mountpoint: Option<PathBuf>,
    /// use 'root' as the owner of files and dirs
    #[arg(long)]
    pub owner_root: bool,
    /// allow other users to access the data in the mounted directory
    #[arg(long)]
    pub allow_other: bool,
    /// for 'allow-other', ignore Unix permissions and allow users to read all snapshot files
    #[arg(long)]
    pub no_default_permissions: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// set `template` for path names (can be specified multiple times)
    #[arg(long = "path-template", value_name = "template")]
    pub path_templates: Vec<String>,
    /// set `template` to use for times
    #[arg(long, value_name = "template", default_value = cairn_mount::DEFAULT_TIME_TEMPLATE)]
    pub time_template: String,
    /// deprecated: use --time-template
    #[arg(long, value_name = "template", hide = true)]
    pub snapshot_template: Option<String>,
}

/// Set by the first SIGINT/SIGTERM while mounted.
static STOP: AtomicBool = AtomicBool::new(false);

/// restic's mount signal handling: the first signal unmounts (the command
/// then ends normally), a second one ends the process at once, removing
/// the locks.
fn install_signal_handler() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            crate::signals::forced_exit(crate::exit::INTERRUPTED);
        }
        let _ = writeln!(std::io::stderr(), "signal interrupt received, cleaning up");
    });
    crate::signals::ignore_sighup();
}

/// A library error as the CLI reports it (repository errors keep their
/// exit codes).
fn fatal(e: cairn_mount::Error) -> anyhow::Error {
    match e {
        cairn_mount::Error::Repository(e) => e.into(),
        other => anyhow::anyhow!(other),
    }
}

/// Mounts the repository and serves it until unmounted.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    install_signal_handler();
    if args.snapshot_template.is_some() {
        eprintln!("Flag --snapshot-template has been deprecated, use --time-template");
    }
    let options = cairn_mount::MountOptions {
        owner_root: args.owner_root,
        allow_other: args.allow_other,
        no_default_permissions: args.no_default_permissions,
        filter: args.filter.filter(),
        time_template: args.snapshot_template.unwrap_or(args.time_template),
        path_templates: args.path_templates,
        ..cairn_mount::MountOptions::default()
    };
    options.validate().map_err(fatal)?;
    let Some(mountpoint) = args.mountpoint else {
        anyhow::bail!("wrong number of parameters");
    };
    cairn_mount::check_mountpoint(&mountpoint).map_err(fatal)?;
    cairn_mount::check_fuse().map_err(fatal)?;
    let (repo, lock) = global.open_with_index()?;
    if !global.quiet {
        println!("Loading snapshots...");
    }
    let mount = cairn_mount::mount(repo, &mountpoint, &options).map_err(fatal)?;
    if !global.quiet {
        println!("Now serving the repository at {}", mountpoint.display());
        println!("Use another terminal or tool to browse the contents of this folder.");
        println!("When finished, quit with Ctrl-c here or umount the mountpoint.");
        let _ = std::io::stdout().flush();
    }
    let signalled = mount.wait(Duration::from_millis(100), || STOP.load(Ordering::SeqCst));
    if signalled {
        if let Err(e) = mount.unmount() {
            eprintln!("{e}");
        }
    } else {
        // Unmounted from outside: the session has ended.
        let _ = mount.unmount();
    }
    drop(lock);
    Ok(())
}
