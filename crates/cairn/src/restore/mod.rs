//! Restoring a snapshot (or a folder of it) into a local directory, with
//! restic's semantics: the same files, modes, owners, times, extended
//! attributes, links and special files, the same include/exclude
//! selection, `--overwrite` policies and `--delete`.
//!
//! The work runs in three passes:
//!
//! 1. **Plan**: walk the trees, select nodes, decide per existing file
//!    whether and what to rewrite (existing files are compared blob by
//!    blob in parallel), and create the directories.
//! 2. **Contents**: every needed data blob is read once, pack by pack in
//!    large range reads, decoded in parallel and written with positional
//!    writes to every place it occurs (see `fetch`). `--verify` then
//!    re-reads every written file (before the metadata pass, so that the
//!    reads do not disturb the restored access times).
//! 3. **Finish**: symlinks, FIFOs, devices and hard links are created and
//!    metadata is restored bottom-up, a directory after its contents;
//!    `--delete` removes what the snapshot lacks in each directory just
//!    before that directory's metadata is set.
//!
//! Damaged blobs and files that cannot be written do not stop a restore:
//! they are collected in [`RestoreSummary::errors`] (with the file and the
//! blob) and everything else is still restored.
//!
//! # What a restore guarantees
//!
//! A snapshot and the target directory are both untrusted (a restore run
//! as root is a privilege boundary). Whatever they hold:
//!
//! * **Nothing outside the target is written, created, removed or
//!   changed.** The target is opened once; every entry below it is reached
//!   from its directory's descriptor, one name at a time (`openat`,
//!   `mkdirat`, `symlinkat`, `mknodat`, `linkat`, `unlinkat`), and never
//!   by a path resolved from the target down.
//! * **No symlink is followed that the restore did not create, and none
//!   it created either.** Directories are opened with
//!   `O_DIRECTORY | O_NOFOLLOW`, files with `O_NOFOLLOW`; owner, mode,
//!   times and extended attributes are set through the open descriptor,
//!   or, for symlinks and special files, with the `*at` calls that do not
//!   follow (`AT_SYMLINK_NOFOLLOW`). A symlink in the target where the
//!   snapshot has a directory, file or special file is replaced (as the
//!   overwrite policy says), never written through; `--delete` removes
//!   symlinks, never what they point to.
//! * **"Already in place" is decided on the entry that is kept.** Blobs
//!   are only taken as present in the very file that will be written
//!   into: not through a symlink, not in a file below a directory that is
//!   missing or will be replaced (a symlink or file where the snapshot has
//!   a directory: like restic 0.19, which replaces it before looking
//!   inside, the files below are new, also under `--overwrite never`), and
//!   not in a file with further hard links (it is replaced, not shared).
//! * **Names are checked.** An entry named `""`, `.`, `..` or containing
//!   `/` is refused (and, as in restic, nothing is deleted). Names that
//!   occur more than once in one tree are refused too: none of those
//!   entries is restored, an error names the tree and the name, and the
//!   rest is restored (the command ends with an error).
//! * **Depth is not limited** by the call stack or `PATH_MAX`: trees are
//!   walked with an explicit stack, directories finished level by level,
//!   and a bounded number of directory descriptors (128) stays open.
//! * **An interrupt** ([`crate::interrupt`]) stops a restore within about
//!   a second, in any pass, with [`Error::Interrupted`].

mod dirs;
mod fetch;
mod files;
mod finish;
mod item;
mod meta;
mod owners;
mod passes;
mod plan;
mod state;
mod sys;

pub use meta::XattrFilter;

use crate::filter::PatternList;
use crate::repository::Repository;
use crate::{Error, Result};
use cairn_format::{BlobType, Id, NodeType, Tree};
use dirs::DirFds;
use fetch::BlobSource;
use passes::Passes;
use std::path::{Path, PathBuf};

/// What to do with a file that already exists in the target (restic's
/// `--overwrite`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overwrite {
    /// Always restore; content already in place (checked blob by blob) is
    /// not rewritten. restic's default.
    #[default]
    Always,
    /// Like `Always`, but a file with the snapshot's size and mtime is
    /// taken as unchanged without reading it.
    IfChanged,
    /// Only if the snapshot's mtime is newer than the existing file's.
    IfNewer,
    /// Never touch an existing file.
    Never,
}

impl std::str::FromStr for Overwrite {
    type Err = Error;
    fn from_str(s: &str) -> Result<Overwrite> {
        match s {
            "always" => Ok(Overwrite::Always),
            "if-changed" => Ok(Overwrite::IfChanged),
            "if-newer" => Ok(Overwrite::IfNewer),
            "never" => Ok(Overwrite::Never),
            _ => Err(Error::InvalidArgument(format!(
                "invalid overwrite behavior {s:?}, must be one of (always|if-changed|if-newer|never)"
            ))),
        }
    }
}

impl std::fmt::Display for Overwrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Overwrite::Always => "always",
            Overwrite::IfChanged => "if-changed",
            Overwrite::IfNewer => "if-newer",
            Overwrite::Never => "never",
        })
    }
}

/// How to restore.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// Directory to restore into; created (mode 0700) if missing.
    pub target: PathBuf,
    /// Only restore what these lists match (`--include`, `--iinclude`,
    /// `--include-file`, ...; one list per option kind). Parents of
    /// matched paths are created and get their metadata.
    pub includes: Vec<PatternList>,
    /// Restore everything but what these lists match. Cannot be combined
    /// with `includes`.
    pub excludes: Vec<PatternList>,
    /// Which extended attributes to restore.
    pub xattrs: XattrFilter,
    /// Re-read every written file afterwards and check its blobs.
    pub verify: bool,
    /// Change nothing; only report what would be done.
    pub dry_run: bool,
    /// Policy for files that exist already.
    pub overwrite: Overwrite,
    /// Remove files in restored directories that the snapshot lacks.
    pub delete: bool,
    /// Leave holes instead of writing runs of zeros at blob starts.
    pub sparse: bool,
    /// Worker threads; 0 means one per CPU.
    pub threads: usize,
    /// Set owner and group from the user and group names in the snapshot,
    /// looked up on this machine (restic's `--ownership-by-name`), instead
    /// of the stored IDs. A name this machine does not know keeps the
    /// stored ID (restic gives it 0, root).
    pub ownership_by_name: bool,
    /// Stops this restore (with [`Error::Interrupted`]) once cancelled;
    /// what is restored so far stays.
    pub cancel: crate::Cancel,
}

/// What happened to one item, for listings (`-vv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemAction {
    /// A directory's metadata was restored.
    DirRestored,
    /// A new file was written.
    FileRestored,
    /// An existing file was (partly) rewritten.
    FileUpdated,
    /// An existing file already had the content; metadata restored.
    FileUnchanged,
    /// A symlink, FIFO, device or hard link was created.
    OtherRestored,
    /// Left alone because of the overwrite policy.
    Skipped,
}

/// Receives progress while restoring. Every method has an empty default,
/// so an implementation overrides what it shows. Called from several
/// threads at once.
pub trait RestoreProgress: Sync {
    /// Planning is done: `total_files` items (files, directories, links,
    /// ...) and `total_bytes` of file content will be restored.
    fn start(&self, total_files: u64, total_bytes: u64) {
        let _ = (total_files, total_bytes);
    }
    /// `bytes` more of file content are in place.
    fn bytes_done(&self, bytes: u64) {
        let _ = bytes;
    }
    /// A file's content is complete; `bytes` is its size.
    fn file_done(&self, bytes: u64) {
        let _ = bytes;
    }
    /// An item is finished (`location` inside the snapshot).
    fn item(&self, location: &[u8], action: ItemAction, size: u64) {
        let _ = (location, action, size);
    }
    /// Whether [`item`](Self::item) is of use; false spares working out
    /// every item's location (which costs as much as its depth).
    fn wants_items(&self) -> bool {
        true
    }
    /// A path in the target was deleted (or would be, in a dry run).
    fn deleted(&self, path: &Path) {
        let _ = path;
    }
    /// An error was recorded (it also ends up in the summary).
    fn error(&self, error: &RestoreError) {
        let _ = error;
    }
}

/// A problem with one item that did not stop the restore.
#[derive(Debug)]
pub struct RestoreError {
    /// The item's path inside the snapshot (`/dir/file`, raw bytes).
    pub location: Vec<u8>,
    /// Where it was being restored to.
    pub path: PathBuf,
    /// The data blob concerned, if any.
    pub blob: Option<Id>,
    /// What went wrong.
    pub error: Error,
}

impl RestoreError {
    pub(crate) fn new(
        location: &[u8],
        path: &Path,
        blob: Option<Id>,
        error: Error,
    ) -> RestoreError {
        RestoreError {
            location: location.to_vec(),
            path: path.to_path_buf(),
            blob,
            error,
        }
    }
}

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}",
            String::from_utf8_lossy(&self.location),
            self.error
        )?;
        match (&self.blob, &self.error) {
            (_, Error::BadBlob { .. } | Error::BlobNotFound { .. }) | (None, _) => Ok(()),
            (Some(id), _) => write!(f, " (blob {id})"),
        }
    }
}

impl std::error::Error for RestoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// What a restore did.
#[derive(Debug, Default)]
pub struct RestoreSummary {
    /// Regular files whose content was written (new or updated).
    pub files: u64,
    /// Directories restored (not counting the target).
    pub dirs: u64,
    /// Symlinks, FIFOs, devices and hard links created.
    pub others: u64,
    /// Total size of the files written.
    pub bytes: u64,
    /// Bytes actually written (less with sparse files and content that was
    /// already in place).
    pub bytes_written: u64,
    /// Files whose content was already right (only metadata restored).
    pub unchanged: u64,
    /// Items left alone because of the overwrite policy, plus unchanged
    /// files (restic counts both as skipped).
    pub skipped: u64,
    /// Size of the skipped files.
    pub skipped_bytes: u64,
    /// Paths deleted by `--delete` (or that would be, in a dry run).
    pub deleted: u64,
    /// Files checked by `--verify`.
    pub verified: u64,
    /// Problems with single items; everything else was restored.
    pub errors: Vec<RestoreError>,
}

impl RestoreSummary {
    /// Files, directories and other items restored (restic's
    /// "Restored N files/dirs").
    pub fn items(&self) -> u64 {
        self.files + self.dirs + self.others
    }
}

/// Restores the tree `tree` (a snapshot's root tree), or only the folder
/// `subfolder` of it (`/a/b`, raw bytes, as in `snapshot:subfolder`), into
/// `opts.target`.
///
/// Fails only for problems that affect everything: invalid options, a
/// subfolder that is not a directory, a target that cannot be created, an
/// unreadable root tree. Everything else is in the summary's errors.
pub fn restore(
    repo: &Repository,
    tree: &Id,
    subfolder: Option<&[u8]>,
    opts: &RestoreOptions,
    progress: &dyn RestoreProgress,
) -> Result<RestoreSummary> {
    check_options(opts)?;
    opts.cancel.check()?;
    let root = match subfolder {
        None => *tree,
        Some(sub) => match crate::walk::find_node(repo, tree, sub)? {
            (None, _) => *tree,
            (Some(node), _) => match (&node.node_type, node.subtree) {
                (NodeType::Dir, Some(id)) => id,
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "path {:?} is not a directory",
                        String::from_utf8_lossy(sub)
                    )))
                }
            },
        },
    };
    // The root tree must be readable; later trees are per-item errors.
    repo.load_tree(&root)?;
    let load = |id: &Id| repo.load_tree(id);
    let blob_len = |id: &Id| {
        repo.index()
            .lookup(BlobType::Data, id)
            .map(|l| l.plain_length())
    };
    let stop = || opts.cancel.is_cancelled();
    run(repo, &load, &blob_len, &root, opts, progress, &stop)
}

fn check_options(opts: &RestoreOptions) -> Result<()> {
    let has_includes = opts.includes.iter().any(|l| !l.is_empty());
    let has_excludes = opts.excludes.iter().any(|l| !l.is_empty());
    if has_includes && has_excludes {
        return Err(Error::InvalidArgument(
            "exclude and include patterns are mutually exclusive".into(),
        ));
    }
    if opts.dry_run && opts.verify {
        return Err(Error::InvalidArgument(
            "--dry-run and --verify are mutually exclusive".into(),
        ));
    }
    let root = crate::filter::clean(opts.target.as_os_str().as_encoded_bytes()) == b"/";
    if opts.delete && root && !has_includes && !has_excludes {
        return Err(Error::InvalidArgument(
            "'--target / --delete' must be combined with an include or exclude filter".into(),
        ));
    }
    if opts.target.as_os_str().is_empty() {
        return Err(Error::InvalidArgument(
            "please specify a directory to restore to (--target)".into(),
        ));
    }
    Ok(())
}

/// Asks a running restore to stop; true once it should. The default is
/// [`crate::Cancel::is_cancelled`] of the options' token; tests pass their own. Called at
/// most once per tree, file or blob, so it must be cheap.
pub(crate) type Stop<'a> = &'a (dyn Fn() -> bool + Sync);

/// The restore itself, over any blob source and tree loader.
pub(crate) fn run(
    source: &dyn BlobSource,
    load_tree: &(dyn Fn(&Id) -> Result<Tree> + Sync),
    blob_len: &(dyn Fn(&Id) -> Option<u64> + Sync),
    root: &Id,
    opts: &RestoreOptions,
    progress: &dyn RestoreProgress,
    stop: Stop<'_>,
) -> Result<RestoreSummary> {
    let target = std::path::absolute(&opts.target).map_err(|e| Error::io(&opts.target, e))?;
    crate::write::buffers::return_large_buffers();
    if !opts.dry_run {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&target)
            .map_err(|e| Error::io(&target, e))?;
    }
    // Everything below the target is reached through this descriptor.
    let root_fd = match sys::open_root(&target) {
        Ok(fd) => Some(fd),
        Err(e) if opts.dry_run && sys::is_absent(&e) => None,
        Err(e) => return Err(Error::io(&target, e)),
    };
    let fds = DirFds::new(root_fd);
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("cannot start threads: {e}")))?;
    let passes = Passes {
        source,
        load_tree,
        blob_len,
        opts,
        progress,
        stop,
        fds: &fds,
    };
    pool.install(|| passes.run(root, &target))
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "restic_tests.rs"]
mod restic_tests;

#[cfg(test)]
#[path = "hostile_tests.rs"]
mod hostile_tests;

#[cfg(test)]
#[path = "stop_tests.rs"]
mod stop_tests;
