//! Backing up files into a repository, as `restic backup` does.
//!
//! [`backup`] walks the targets, saves new file content and trees through a
//! [`BlobWriter`], flushes packs and index, and only then writes the
//! snapshot, so an interruption at any point leaves a repository that
//! restic's `check` accepts (at most some unreferenced packs remain).
//! Files that cannot be read are reported through [`BackupProgress`] and in
//! [`BackupSummary::errors`]; the snapshot is still saved without them.

mod archiver;
mod cache_probe;
pub mod exclude;
pub mod fsnode;
mod item;
mod prefetch;
mod scan;
mod targets;

pub use exclude::{ExcludeOptions, Excluder};
pub use fsnode::NodeOptions;
pub use item::{ItemChange, ItemDone};
pub use targets::{snapshot_path, snapshot_path_in};

use crate::snapshots::StoredSnapshot;
use crate::write::{BlobWriter, WriteOptions, WriteStats};
use crate::{host, Cancel, Error, LockGuard, Repository, Result, SnapshotFilter};
use archiver::{Archiver, TreeSaved};
use cairn_backend::FileType;
use cairn_chunker::{ChunkEngine, ChunkerKind, Polynomial};
use cairn_format::{GoTime, Id, Node, NodeType, Snapshot, SnapshotSummary, Tree};
use prefetch::Prefetcher;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use targets::{Root, Target, VirtualDir, VirtualEntry};

/// Which snapshot to compare with to skip unchanged files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ParentChoice {
    /// The newest snapshot of this host with the same paths (restic's default).
    #[default]
    Latest,
    /// No parent: read every file (`--force`).
    None,
    /// This snapshot (`--parent`).
    Snapshot(String),
}

/// Which chunker splits files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChunkerChoice {
    /// restic's Rabin chunker with the repository's polynomial: deduplicates
    /// with restic's own backups.
    #[default]
    Rabin,
    /// FastCDC: faster, but chunks differently from restic, so data backed
    /// up by restic and by Cairn does not deduplicate.
    FastCdc,
}

/// Data read from a stream instead of files (`--stdin`).
pub struct StdinSource {
    /// Name of the file in the snapshot (`--stdin-filename`).
    pub filename: String,
    /// Where the data comes from.
    pub reader: Box<dyn Read + Send>,
}

/// How to back up.
pub struct BackupOptions {
    /// Files and directories to save; made absolute and cleaned.
    pub paths: Vec<PathBuf>,
    /// Read this stream instead of `paths`.
    pub stdin: Option<StdinSource>,
    /// Tags for the snapshot.
    pub tags: Vec<String>,
    /// Host name to record (default: this host).
    pub host: Option<String>,
    /// Snapshot time (default: now).
    pub time: Option<GoTime>,
    /// Parent snapshot.
    pub parent: ParentChoice,
    /// Which fields the automatic parent must share with this backup
    /// (`--group-by`, default host and paths), as in restic 0.19.
    pub parent_group_by: crate::forget::GroupBy,
    /// What to leave out.
    pub exclude: ExcludeOptions,
    /// The exclude patterns to record in the snapshot.
    pub recorded_excludes: Vec<String>,
    /// Node metadata options (`--with-atime`).
    pub node: NodeOptions,
    /// Re-read files whose inode changed anyway? No: ignore inode changes.
    pub ignore_inode: bool,
    /// Ignore ctime changes when deciding whether a file changed.
    pub ignore_ctime: bool,
    /// Save no snapshot if nothing changed since the parent.
    pub skip_if_unchanged: bool,
    /// Count files and bytes beside the backup for progress (`--no-scan`
    /// turns it off).
    pub scan: bool,
    /// Chunker choice.
    pub chunker: ChunkerChoice,
    /// Pack size and compression.
    pub write: WriteOptions,
    /// Called once the backup's data is stored, before the index is
    /// completed and the snapshot written; an error ends the backup there
    /// and is returned. For example the confirmation of a lock taken with
    /// [`Repository::lock_unconfirmed`].
    pub before_commit: Option<Box<dyn Fn() -> Result<()> + Send + Sync>>,
    /// Stops this backup (with [`Error::Interrupted`], writing no
    /// snapshot) once cancelled.
    pub cancel: Cancel,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            paths: Vec::new(),
            stdin: None,
            tags: Vec::new(),
            host: None,
            time: None,
            parent: ParentChoice::Latest,
            parent_group_by: crate::forget::GroupBy::default(),
            exclude: ExcludeOptions::default(),
            recorded_excludes: Vec::new(),
            node: NodeOptions::default(),
            ignore_inode: false,
            ignore_ctime: false,
            skip_if_unchanged: false,
            scan: true,
            chunker: ChunkerChoice::Rabin,
            write: WriteOptions::default(),
            before_commit: None,
            cancel: Cancel::new(),
        }
    }
}

/// Receives progress while backing up; every method has an empty default.
/// Called from several threads at once.
pub trait BackupProgress: Sync {
    /// `n` more bytes were read.
    fn bytes_done(&self, n: u64) {
        let _ = n;
    }
    /// A file is finished; `read` is false when it was unchanged and not
    /// read again.
    fn file_done(&self, path: &Path, size: u64, read: bool) {
        let _ = (path, size, read);
    }
    /// A file or folder could not be saved; the backup goes on.
    fn error(&self, path: &Path, error: &Error) {
        let _ = (path, error);
    }
    /// The scanner has counted `files` files of `bytes` bytes to back up
    /// so far; `done` once it has seen everything.
    fn scanned(&self, files: u64, bytes: u64, done: bool) {
        let _ = (files, bytes, done);
    }
    /// The parent snapshot is chosen (`None`: there is none, every file
    /// is read), before any file is saved.
    fn parent_chosen(&self, parent: Option<&Id>) {
        let _ = parent;
    }
    /// A worker starts reading a file (it is read until
    /// [`file_done`](Self::file_done) or [`error`](Self::error) for it).
    fn file_started(&self, path: &Path) {
        let _ = path;
    }
    /// A file or directory is saved (restic's `CompleteItem`); called
    /// after [`file_done`](Self::file_done) for files.
    fn item_done(&self, item: &ItemDone<'_>) {
        let _ = item;
    }
}

/// What a backup did.
#[derive(Debug)]
pub struct BackupSummary {
    /// The snapshot (saved unless `skip_if_unchanged` found nothing new).
    pub snapshot: Snapshot,
    /// Its ID, if it was saved.
    pub snapshot_id: Option<Id>,
    /// The parent used, if any.
    pub parent: Option<Id>,
    /// Blobs and bytes added.
    pub stats: WriteStats,
    /// Files and folders that could not be saved.
    pub errors: Vec<(PathBuf, Error)>,
}

/// Counters behind a snapshot's summary.
#[derive(Default)]
pub(crate) struct Counts {
    files_new: AtomicU64,
    files_changed: AtomicU64,
    files_unmodified: AtomicU64,
    dirs_new: AtomicU64,
    dirs_changed: AtomicU64,
    dirs_unmodified: AtomicU64,
    bytes: AtomicU64,
}

impl Counts {
    fn file_saved(&self, had_parent: bool, size: u64) {
        let c = if had_parent {
            &self.files_changed
        } else {
            &self.files_new
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    fn file_unmodified(&self, size: u64) {
        self.files_unmodified.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    fn dir(&self, parent_subtree: Option<Id>, subtree: Id) {
        let c = match parent_subtree {
            None => &self.dirs_new,
            Some(p) if p == subtree => &self.dirs_unmodified,
            Some(_) => &self.dirs_changed,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Cleans `p` and makes it absolute against the current directory.
pub fn absolute_path(p: &Path) -> Result<PathBuf> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io(".", e))?
            .join(p)
    };
    let cleaned = crate::filter::clean(joined.as_os_str().as_bytes());
    Ok(PathBuf::from(std::ffi::OsString::from_vec(cleaned)))
}

/// Backs up `opts.paths` (or `opts.stdin`) into `repo`, whose index must be
/// loaded, under `lock` (shared or exclusive, see
/// [`LockGuard::allows`]). Afterwards `repo`'s index holds the new blobs.
pub fn backup(
    repo: &mut Repository,
    lock: &LockGuard,
    mut opts: BackupOptions,
    progress: &dyn BackupProgress,
) -> Result<BackupSummary> {
    lock.allows(repo, "backup", false)?;
    opts.cancel.check()?;
    let start = GoTime::now_local();
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let mut targets: Vec<Target> = Vec::new();
    let mut missing = Vec::new();
    for p in &opts.paths {
        let target = Target::new(p, &cwd);
        match std::fs::symlink_metadata(&target.path) {
            Ok(_) => targets.push(target),
            // restic skips a missing target with a warning when others exist.
            Err(e) => {
                let err = Error::io(&target.path, e);
                progress.error(&target.path, &err);
                missing.push((target.path, err));
            }
        }
    }
    targets.sort_by(|a, b| a.path.cmp(&b.path));
    targets.dedup_by(|a, b| a.path == b.path);
    if targets.is_empty() && opts.stdin.is_none() {
        return Err(match missing.pop() {
            Some((_, e)) => e,
            None => {
                Error::InvalidArgument("nothing to backup, please specify source files/dirs".into())
            }
        });
    }
    let snapshot_paths: Vec<String> = match &opts.stdin {
        Some(s) => vec![format!("/{}", s.filename)],
        None => targets
            .iter()
            .map(|t| t.path.to_string_lossy().into_owned())
            .collect(),
    };
    let hostname = opts.host.clone().unwrap_or_else(host::hostname);
    let parent = find_parent(
        repo,
        &opts.parent,
        &ParentGroup {
            by: opts.parent_group_by,
            hostname: &hostname,
            paths: &snapshot_paths,
            tags: &opts.tags,
            not_after: opts.time.unwrap_or(start),
        },
    )?;
    let parent_tree = match &parent {
        Some(p) => Some(repo.load_tree(&p.snapshot.tree)?),
        None => None,
    };
    progress.parent_chosen(parent.as_ref().map(|p| &p.id));

    let engine = match opts.chunker {
        ChunkerChoice::Rabin => ChunkerKind::Rabin(Polynomial(repo.config().chunker_polynomial)),
        ChunkerChoice::FastCdc => ChunkerKind::FastCdc {
            min: 512 << 10,
            avg: 1 << 20,
            max: 8 << 20,
        },
    };
    let engine =
        ChunkEngine::new(engine).map_err(|e| Error::InvalidArgument(format!("chunker: {e}")))?;
    let target_paths: Vec<PathBuf> = targets.iter().map(|t| t.path.clone()).collect();
    let excluder = Excluder::new(&opts.exclude, &target_paths)?;
    let writer = BlobWriter::new(repo, opts.write.clone())?;
    let stop_scan = std::sync::atomic::AtomicBool::new(false);
    let (root, errors, counts) = std::thread::scope(|s| {
        if opts.scan && opts.stdin.is_none() {
            let paths: Vec<&Path> = targets.iter().map(|t| t.path.as_path()).collect();
            let (excluder, stop) = (&excluder, &stop_scan);
            s.spawn(move || scan::scan(&paths, excluder, progress, stop));
        }
        // The prefetch thread ends when the archiver, which holds the
        // prefetcher, is dropped at the end of this closure (or unwound).
        let prefetcher = if opts.stdin.is_none() {
            let (prefetcher, asks) = Prefetcher::new();
            let excluder = &excluder;
            std::thread::Builder::new()
                .name("cairn-prefetch".into())
                .spawn_scoped(s, move || prefetch::run(asks, excluder))
                .ok()
                .map(|_| prefetcher)
        } else {
            None
        };
        let archiver = Archiver {
            repo,
            writer: &writer,
            engine,
            excluder: &excluder,
            node_opts: opts.node.clone(),
            ignore_inode: opts.ignore_inode,
            ignore_ctime: opts.ignore_ctime,
            progress,
            counts: Counts::default(),
            prefetcher,
            errors: Mutex::new(Vec::new()),
            cancel: opts.cancel.clone(),
        };
        let root = match opts.stdin.take() {
            Some(stdin) => save_stdin(&archiver, stdin),
            None => save_targets(&archiver, &targets, parent_tree.as_ref()),
        };
        stop_scan.store(true, std::sync::atomic::Ordering::Relaxed);
        let errors = archiver
            .errors
            .into_inner()
            .expect("error list lock poisoned");
        (root, errors, archiver.counts)
    });
    let root = match root {
        Ok(id) => id,
        Err(e) => {
            writer.abort();
            return Err(e);
        }
    };
    if let Err(e) = opts.cancel.check() {
        writer.abort();
        return Err(e);
    }
    if let Some(before_commit) = &opts.before_commit {
        if let Err(e) = before_commit() {
            writer.abort();
            return Err(e);
        }
    }
    let (stats, _) = writer.flush_into(repo)?;

    let mut sn = Snapshot::new(opts.time.unwrap_or(start), root);
    sn.paths = snapshot_paths;
    sn.hostname = hostname;
    sn.username = host::username();
    sn.uid = host::uid();
    sn.gid = host::gid();
    sn.tags = opts.tags.clone();
    sn.excludes = opts.recorded_excludes.clone();
    sn.parent = parent.as_ref().map(|p| p.id);
    sn.program_version = format!("cairn {}", env!("CARGO_PKG_VERSION"));
    let c = &counts;
    sn.summary = Some(SnapshotSummary {
        backup_start: start,
        backup_end: GoTime::now_local(),
        files_new: c.files_new.load(Ordering::Relaxed),
        files_changed: c.files_changed.load(Ordering::Relaxed),
        files_unmodified: c.files_unmodified.load(Ordering::Relaxed),
        dirs_new: c.dirs_new.load(Ordering::Relaxed),
        dirs_changed: c.dirs_changed.load(Ordering::Relaxed),
        dirs_unmodified: c.dirs_unmodified.load(Ordering::Relaxed),
        data_blobs: stats.data_blobs,
        tree_blobs: stats.tree_blobs,
        data_added: stats.data_added,
        data_added_packed: stats.data_added_packed,
        total_files_processed: c.files_new.load(Ordering::Relaxed)
            + c.files_changed.load(Ordering::Relaxed)
            + c.files_unmodified.load(Ordering::Relaxed),
        total_bytes_processed: c.bytes.load(Ordering::Relaxed),
        unknown: Default::default(),
    });
    let unchanged = parent.as_ref().is_some_and(|p| p.snapshot.tree == root);
    let skip = (opts.skip_if_unchanged && unchanged) || opts.write.dry_run;
    let snapshot_id = if skip {
        None
    } else {
        Some(repo.save_unpacked(FileType::Snapshot, &sn.to_json())?)
    };
    Ok(BackupSummary {
        snapshot: sn,
        snapshot_id,
        parent: parent.map(|p| p.id),
        stats,
        errors,
    })
}

impl Repository {
    /// Backs up into this repository (its index must be loaded) under
    /// `lock`, a shared or exclusive lock on it (a dry run, which writes
    /// nothing, may pass [`LockGuard::unlocked`]). Afterwards this value
    /// reads the new snapshot and knows its blobs. See [`backup`].
    pub fn backup(
        &mut self,
        lock: &LockGuard,
        opts: BackupOptions,
        progress: &dyn BackupProgress,
    ) -> Result<BackupSummary> {
        backup(self, lock, opts, progress)
    }
}

/// What the automatic parent must share with the new snapshot.
struct ParentGroup<'a> {
    by: crate::forget::GroupBy,
    hostname: &'a str,
    paths: &'a [String],
    tags: &'a [String],
    /// The new snapshot's time: later snapshots are not candidates.
    not_after: GoTime,
}

impl ParentGroup<'_> {
    /// restic 0.19's filter for the parent: the same host, every backed-up
    /// path among the snapshot's paths, every tag of the new snapshot
    /// among its tags, each only when grouping by that field.
    fn matches(&self, sn: &cairn_format::Snapshot) -> bool {
        (!self.by.host || sn.hostname == self.hostname)
            && (!self.by.paths || self.paths.iter().all(|p| sn.paths.contains(p)))
            && (!self.by.tags || self.tags.iter().all(|t| sn.tags.contains(t)))
            && (sn.time.unix_secs, sn.time.nanos)
                <= (self.not_after.unix_secs, self.not_after.nanos)
    }
}

/// restic's parent choice: the newest snapshot of the backup's group (see
/// [`ParentGroup`]), unless one is named or `--force` is given.
fn find_parent(
    repo: &Repository,
    choice: &ParentChoice,
    group: &ParentGroup<'_>,
) -> Result<Option<StoredSnapshot>> {
    match choice {
        ParentChoice::None => Ok(None),
        ParentChoice::Snapshot(spec) => repo
            .find_snapshot(spec, &SnapshotFilter::default())
            .map(Some),
        ParentChoice::Latest => {
            let (snaps, _) = repo.snapshots()?;
            Ok(snaps.into_iter().rev().find(|s| group.matches(&s.snapshot)))
        }
    }
}

fn save_targets(a: &Archiver<'_>, targets: &[Target], parent: Option<&Tree>) -> Result<Id> {
    match targets::build(targets) {
        Root::Dir(path) => {
            let tree = a.save_dir_contents(&path, parent)?;
            a.save_tree(&tree)
        }
        Root::Virtual(dir) => Ok(save_virtual(a, &dir, parent)?.0),
    }
}

/// Saves a virtual directory: real targets below it are backed up whole,
/// intermediate directories get their own metadata and a tree of their
/// virtual children. Returns the tree's ID and how it was saved.
fn save_virtual(
    a: &Archiver<'_>,
    dir: &VirtualDir,
    parent: Option<&Tree>,
) -> Result<(Id, TreeSaved)> {
    let mut tree = Tree { nodes: Vec::new() };
    for (name, entry) in &dir.children {
        let parent_node = parent.and_then(|t| t.nodes.iter().find(|n| n.name == *name));
        let node = match entry {
            VirtualEntry::Target(path) => a.save_entry(path, name, parent_node)?,
            VirtualEntry::Intermediate(path, sub) => {
                let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
                let mut node = fsnode::node_from_metadata(path, name, &meta, &a.node_opts)
                    .map_err(|e| Error::io(path, e))?;
                let parent_sub = parent_node
                    .filter(|n| n.node_type == NodeType::Dir)
                    .and_then(|n| n.subtree)
                    .and_then(|id| a.repo.load_tree(&id).ok());
                let started = std::time::Instant::now();
                let (id, tree_blob) = save_virtual(a, sub, parent_sub.as_ref())?;
                node.subtree = Some(id);
                let parent_subtree = parent_node.and_then(|p| p.subtree);
                a.counts.dir(parent_subtree, id);
                a.dir_done(path, parent_subtree, &tree_blob, started);
                Some(node)
            }
        };
        tree.nodes.extend(node);
    }
    let saved = a.save_tree_blob(&tree)?;
    Ok((saved.id, saved))
}

/// Saves a stream as the single file `/<filename>` of the snapshot.
fn save_stdin(a: &Archiver<'_>, stdin: StdinSource) -> Result<Id> {
    let path = PathBuf::from(format!("/{}", stdin.filename));
    let started = std::time::Instant::now();
    a.progress.file_started(&path);
    let (content, size, added) = a.save_content(&path, stdin.reader)?;
    let now = GoTime::now_local();
    let mut node = Node::new(stdin.filename.as_bytes().to_vec(), NodeType::File);
    node.mode = 0o644;
    node.mtime = now;
    node.atime = now;
    node.ctime = now;
    node.uid = host::uid();
    node.gid = host::gid();
    node.size = size;
    node.content = Some(content);
    a.counts.file_saved(false, size);
    a.progress.file_done(&path, size, true);
    a.progress.item_done(&ItemDone {
        path: &path,
        is_dir: false,
        change: ItemChange::New,
        data_size: added.size,
        data_size_in_repo: added.size_in_repo,
        tree_size: 0,
        tree_size_in_repo: 0,
        duration: started.elapsed(),
    });
    a.save_tree(&Tree { nodes: vec![node] })
}
