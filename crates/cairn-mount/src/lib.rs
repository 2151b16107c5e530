//! `cairn mount`: every snapshot of a restic repository as a read-only
//! FUSE file system, laid out as restic 0.19's `restic mount` lays it out.
//!
//! ```text
//! MOUNTPOINT/
//!   ids/1a2b3c4d/…                      one directory per snapshot (short ID)
//!   snapshots/2024-05-01T10:00:00Z/…    by time (--time-template), and `latest`
//!   hosts/HOST/2024-…/…                 per host, each with `latest`
//!   tags/TAG/2024-…/…                   per tag, each with `latest`
//! ```
//!
//! The pieces, one module each:
//! - [`layout`]: the virtual directories from `--path-template`s, with
//!   restic's names and `latest` links, rebuilt when the snapshot list
//!   changes (it is read again on a lookup or listing of a virtual
//!   directory when older than a second);
//! - [`time_template`]: Go time layouts for `--time-template`;
//! - [`inodes`]: stable inode numbers (hard links share one);
//! - [`tree_cache`]: directory listings per tree, bounded;
//! - [`fs`]: the `fuser` file system over them. File reads go through
//!   [`cairn::file_reader`]: only the blobs under the range are loaded,
//!   verified, kept in a bounded cache and read ahead for sequential
//!   readers. A blob that fails verification fails that read with `EIO`
//!   (and a line on stderr); the mount stays up.
//!
//! [`mount`] checks the mount point and FUSE, mounts through
//! `fusermount3` (no libfuse needed) and serves on background threads
//! until [`Mount::unmount`] or an outside `fusermount3 -u`.
#![deny(missing_docs)]

pub mod fs;
pub mod inodes;
pub mod layout;
pub mod time_template;
pub mod tree_cache;

use cairn::{Repository, SnapshotFilter};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use layout::DEFAULT_PATH_TEMPLATES;
pub use time_template::DEFAULT_TIME_TEMPLATE;

/// What can go wrong mounting a repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The mount point does not exist.
    #[error("mountpoint {} does not exist", .0.display())]
    MountpointMissing(PathBuf),
    /// The mount point is not a directory.
    #[error("mountpoint {} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The mount point has entries.
    #[error("mountpoint {} is not empty", .0.display())]
    MountpointNotEmpty(PathBuf),
    /// The mount point cannot be read.
    #[error("mountpoint {} is inaccessible: {source}", path.display())]
    MountpointInaccessible {
        /// The mount point.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No FUSE device or no `fusermount3`.
    #[error("FUSE is not available: {0}")]
    FuseUnavailable(String),
    /// A `--time-template` or `--path-template` that cannot be used.
    #[error("{0}")]
    BadTemplate(String),
    /// Reading the repository failed.
    #[error(transparent)]
    Repository(#[from] cairn::Error),
    /// The kernel or `fusermount3` refused the mount.
    #[error("unable to mount {}: {source}", path.display())]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Unmounting failed (the mount point may still be in use).
    #[error("unable to umount (maybe already umounted or still in use?): {source}")]
    Unmount {
        /// Why.
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// How to mount: restic's `mount` flags and the cache sizes.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// `--owner-root`: show everything as owned by root.
    pub owner_root: bool,
    /// `--allow-other`: let other users use the mount.
    pub allow_other: bool,
    /// `--no-default-permissions`: with `allow_other`, do not let the
    /// kernel check permissions.
    pub no_default_permissions: bool,
    /// `--host`, `--tag`, `--path`: which snapshots are shown.
    pub filter: SnapshotFilter,
    /// `--time-template` (Go layout).
    pub time_template: String,
    /// `--path-template`s; empty means restic's defaults.
    pub path_templates: Vec<String>,
    /// The most bytes of decoded blobs kept in memory.
    pub blob_cache_bytes: usize,
    /// The most directory listings kept in memory.
    pub tree_cache_entries: usize,
    /// Threads answering the kernel.
    pub threads: usize,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            owner_root: false,
            allow_other: false,
            no_default_permissions: false,
            filter: SnapshotFilter::default(),
            time_template: DEFAULT_TIME_TEMPLATE.into(),
            path_templates: Vec::new(),
            blob_cache_bytes: 64 << 20,
            tree_cache_entries: 1024,
            threads: 4,
        }
    }
}

impl MountOptions {
    /// Checks the templates as restic does.
    pub fn validate(&self) -> Result<()> {
        let t = &self.time_template;
        if t.is_empty() {
            return Err(Error::BadTemplate(
                "time template string cannot be empty".into(),
            ));
        }
        if t.starts_with('/') || t.ends_with('/') {
            return Err(Error::BadTemplate(
                "time template string cannot start or end with '/'".into(),
            ));
        }
        Ok(())
    }
}

/// Checks that `path` is an existing, empty directory.
pub fn check_mountpoint(path: &Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MountpointMissing(path.into()))
        }
        Err(source) => {
            return Err(Error::MountpointInaccessible {
                path: path.into(),
                source,
            })
        }
    };
    if !meta.is_dir() {
        return Err(Error::NotADirectory(path.into()));
    }
    let mut entries = std::fs::read_dir(path).map_err(|source| Error::MountpointInaccessible {
        path: path.into(),
        source,
    })?;
    if entries.next().is_some() {
        return Err(Error::MountpointNotEmpty(path.into()));
    }
    Ok(())
}

/// The `fusermount3` program on `PATH` (or `FUSERMOUNT_PATH`), if any.
pub fn fusermount_program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FUSERMOUNT_PATH") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("fusermount3"))
        .find(|p| p.is_file())
}

/// Checks that `/dev/fuse` and `fusermount3` are there.
pub fn check_fuse() -> Result<()> {
    if !Path::new("/dev/fuse").exists() {
        return Err(Error::FuseUnavailable(
            "/dev/fuse does not exist (load the fuse kernel module)".into(),
        ));
    }
    if fusermount_program().is_none() {
        return Err(Error::FuseUnavailable(
            "fusermount3 not found in PATH (install the fuse3 package)".into(),
        ));
    }
    Ok(())
}

/// A mounted repository, served on background threads.
#[derive(Debug)]
pub struct Mount {
    session: Option<fuser::BackgroundSession>,
    mountpoint: PathBuf,
}

impl Mount {
    /// Where it is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// True once the file system was unmounted from outside
    /// (`fusermount3 -u`, `umount`) and the serving threads ended.
    pub fn is_finished(&self) -> bool {
        self.session.as_ref().is_none_or(|s| s.guard.is_finished())
    }

    /// Waits until [`Mount::is_finished`] or `stop()` returns true,
    /// looking every `poll`. Returns true if it ended because of `stop`.
    pub fn wait(&self, poll: Duration, mut stop: impl FnMut() -> bool) -> bool {
        loop {
            if self.is_finished() {
                return false;
            }
            if stop() {
                return true;
            }
            std::thread::sleep(poll);
        }
    }

    /// Unmounts and waits for the serving threads. If the mount point is
    /// busy, detaches it lazily (`fusermount3 -uz`: it goes once no longer
    /// used) and returns without waiting.
    pub fn unmount(mut self) -> Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        if session.guard.is_finished() {
            drop(session);
            return Ok(());
        }
        let busy = match session.umount_and_join() {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        // Still in use: detach it now, it goes once no longer used. The
        // serving threads end with the process.
        let lazy = std::process::Command::new(
            fusermount_program().unwrap_or_else(|| "fusermount3".into()),
        )
        .arg("-uz")
        .arg(&self.mountpoint)
        .stderr(std::process::Stdio::null())
        .status();
        match lazy {
            Ok(s) if s.success() => Ok(()),
            _ => Err(Error::Unmount { source: busy }),
        }
    }
}

/// The fuser configuration for `options`.
fn fuse_config(repo: &Repository, options: &MountOptions) -> fuser::Config {
    let mut config = fuser::Config::default();
    let id: String = repo.config().id.chars().take(10).collect();
    config.mount_options = vec![
        fuser::MountOption::RO,
        fuser::MountOption::FSName(format!("restic:{id}")),
        fuser::MountOption::Subtype("cairn".into()),
    ];
    if options.allow_other {
        config.acl = fuser::SessionACL::All;
        if !options.no_default_permissions {
            config
                .mount_options
                .push(fuser::MountOption::DefaultPermissions);
        }
    }
    config.n_threads = Some(options.threads.max(1));
    config
}

/// Mounts `repo` (its index loaded) at `mountpoint` and serves it on
/// background threads. The snapshot list is read first, so a repository
/// that cannot be listed fails here, before anything is mounted.
pub fn mount(repo: Repository, mountpoint: &Path, options: &MountOptions) -> Result<Mount> {
    options.validate()?;
    check_mountpoint(mountpoint)?;
    check_fuse()?;
    let mut layout = layout::Layout::new(
        options.path_templates.clone(),
        options.time_template.clone(),
        options.filter.clone(),
    );
    layout.refresh(&repo, true)?;
    // SAFETY: getuid(2) and getgid(2) cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let owners = fs::Owners {
        owner_root: options.owner_root,
        uid,
        gid,
    };
    let config = fuse_config(&repo, options);
    let filesystem = fs::CairnFs::new(
        repo,
        layout,
        owners,
        options.blob_cache_bytes,
        options.tree_cache_entries,
    );
    let session = fuser::Session::new(filesystem, mountpoint, &config)
        .and_then(fuser::Session::spawn)
        .map_err(|source| Error::Mount {
            path: mountpoint.into(),
            source,
        })?;
    Ok(Mount {
        session: Some(session),
        mountpoint: mountpoint.into(),
    })
}
