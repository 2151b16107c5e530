//! Asking the kernel to start reading files before the archiver opens
//! them.
//!
//! Most files of a typical tree are small, and reading a cold one is a
//! wait of its own. With one reader per core the disk would see about two
//! requests at a time, and the cores would idle while they wait. So the
//! workers keep asking a prefetch thread for the entries of a directory up
//! to `LOOKAHEAD` places ahead of the ones they start on: a file is read
//! into the page cache with `posix_fadvise(WILLNEED)`, which queues the
//! reads and returns at once; a directory is listed and the first files
//! below it are asked for the same way, so the reads run ahead across
//! directories too.
//!
//! The data goes into the page cache, not into this process's memory, so
//! prefetching costs no resident memory. Asks are dropped when the thread
//! falls behind, so it never delays the backup. The archiver asks only for
//! what it will read: files and directories that the parent snapshot does
//! not have (files it has are probably unchanged and not read at all).
//! Files already in the page cache are not advised, and once files keep
//! being found cached nothing more is asked for at all (see the
//! `cache_probe` module).

use super::cache_probe::{start_is_cached, Gate};
use super::exclude::Excluder;
use std::collections::{HashSet, VecDeque};
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// How many entries of a directory ahead of the one being backed up are
/// asked for.
pub(crate) const LOOKAHEAD: usize = 64;

/// The most bytes asked for at the start of one file; the kernel's own
/// read-ahead takes over for the rest of a large file once it is read.
const FILE_BYTES: i64 = 2 << 20;

/// The most files asked for and directories listed for one directory that
/// is asked for (this also bounds how deep it goes).
const DIR_ASK_BUDGET: usize = 64;

/// Asks waiting for the prefetch thread; more are dropped.
const QUEUE: usize = 256;

/// What to read ahead.
#[derive(Debug)]
pub(crate) enum Ask {
    /// The start of a regular file.
    File(PathBuf),
    /// The first files (in backup order) below a directory.
    Dir(PathBuf),
}

/// The archiver's end of the prefetch queue. Dropping it ends the thread
/// that [`run`] runs.
#[derive(Debug)]
pub(crate) struct Prefetcher {
    tx: SyncSender<Ask>,
    gate: Arc<Gate>,
}

/// The prefetch thread's end of the queue, for [`run`].
#[derive(Debug)]
pub(crate) struct Asks {
    rx: Receiver<Ask>,
    gate: Arc<Gate>,
}

impl Prefetcher {
    /// A prefetcher and the receiving end to hand to [`run`].
    pub fn new() -> (Prefetcher, Asks) {
        let (tx, rx) = sync_channel(QUEUE);
        let gate = Arc::new(Gate::default());
        let asks = Asks {
            rx,
            gate: gate.clone(),
        };
        (Prefetcher { tx, gate }, asks)
    }

    /// Queues `ask` unless the queue is full or the files are found
    /// cached anyway: a late read-ahead is worthless, so it is dropped
    /// rather than waited for.
    pub fn ask(&self, ask: Ask) {
        if self.gate.is_open() {
            let _ = self.tx.try_send(ask);
        }
    }

    /// Whether reading ahead is worth it; the archiver's reads tell it
    /// when files are not cached.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }
}

/// Serves asks until every [`Prefetcher`] is dropped. Paths that `excluder`
/// excludes by name are skipped, and so is everything while the gate is
/// closed.
pub(crate) fn run(asks: Asks, excluder: &Excluder) {
    let mut done = Recent::default();
    let gate = &*asks.gate;
    for ask in asks.rx {
        let (Ask::File(path) | Ask::Dir(path)) = &ask;
        if !gate.is_open() || excluder.excluded_by_name(path.as_os_str().as_bytes()) {
            continue;
        }
        match ask {
            Ask::Dir(path) => {
                prefetch_dir(&path, excluder, gate, &mut { DIR_ASK_BUDGET }, &mut done)
            }
            Ask::File(path) if done.insert(&path) => prefetch_file(&path, gate),
            Ask::File(_) => {}
        }
    }
}

/// Asks for the files below `dir` in the order the archiver visits them
/// (sorted by name, depth first), until `budget` files were asked for and
/// directories listed. Files and whole directories in `done` are skipped
/// and added to it.
fn prefetch_dir(
    dir: &Path,
    excluder: &Excluder,
    gate: &Gate,
    budget: &mut usize,
    done: &mut Recent,
) {
    if *budget == 0 || done.contains(dir) {
        return;
    }
    *budget -= 1;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(Vec<u8>, bool)> = entries
        .flatten()
        .filter_map(|e| {
            let kind = e.file_type().ok()?;
            (kind.is_file() || kind.is_dir())
                .then(|| (e.file_name().as_bytes().to_vec(), kind.is_dir()))
        })
        .collect();
    entries.sort_unstable();
    for (name, is_dir) in entries {
        if *budget == 0 {
            return;
        }
        let path = dir.join(OsStr::from_bytes(&name));
        if excluder.excluded_by_name(path.as_os_str().as_bytes()) {
            continue;
        }
        if is_dir {
            prefetch_dir(&path, excluder, gate, budget, done);
        } else if done.insert(&path) {
            prefetch_file(&path, gate);
            *budget -= 1;
        }
    }
    // Every file below was asked for.
    done.insert(dir);
}

/// The paths most recently prefetched (files) or listed to the end
/// (directories), so that the asks for a directory's files, which come
/// once from above and again as the archiver reaches them, read ahead only
/// once. Bounded: the oldest are forgotten. Paths are kept as hashes; a
/// collision only skips one read-ahead.
#[derive(Default)]
struct Recent {
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Recent {
    /// How many paths are remembered.
    const CAPACITY: usize = 16 * 1024;

    fn hash(path: &Path) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        path.hash(&mut h);
        h.finish()
    }

    fn contains(&self, path: &Path) -> bool {
        self.set.contains(&Self::hash(path))
    }

    /// Remembers `path`; false if it was already remembered.
    fn insert(&mut self, path: &Path) -> bool {
        let h = Self::hash(path);
        if !self.set.insert(h) {
            return false;
        }
        self.order.push_back(h);
        if self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// Asks the kernel to read the start of the regular file at `path` into
/// the page cache, unless it is there already (which `gate` learns).
/// Failures are ignored: this is only advice, and the archiver reports any
/// real problem when it opens the file.
fn prefetch_file(path: &Path, gate: &Gate) {
    let Some(file) = open_regular(path) else {
        return;
    };
    if start_is_cached(&file, gate) {
        return;
    }
    // SAFETY: posix_fadvise reads only its integer arguments and touches
    // no memory of this process; the descriptor stays open while `file`
    // lives, which is past the call.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, FILE_BYTES, libc::POSIX_FADV_WILLNEED);
    }
}

/// Opens `path` for reading if it is a regular file, without following a
/// link and without blocking on a FIFO or device that replaced the file
/// since it was listed, and without updating its access time where the
/// owner allows that.
fn open_regular(path: &Path) -> Option<File> {
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let open = |flags| OpenOptions::new().read(true).custom_flags(flags).open(path);
    let file = open(flags | libc::O_NOATIME)
        .or_else(|_| open(flags))
        .ok()?;
    file.metadata().ok()?.is_file().then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::ExcludeOptions;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn no_excludes() -> Excluder {
        Excluder::new(&ExcludeOptions::default(), &[]).unwrap()
    }

    /// What is left of `budget` after asking for `dir`.
    fn budget_left(dir: &Path, excluder: &Excluder, mut budget: usize, done: &mut Recent) -> usize {
        prefetch_dir(dir, excluder, &Gate::default(), &mut budget, done);
        budget
    }

    #[test]
    fn opens_only_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"data").unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path for the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(open_regular(&file).is_some());
        // A FIFO with no writer would block a plain open for ever.
        assert!(open_regular(&fifo).is_none());
        assert!(open_regular(&link).is_none(), "links are not followed");
        assert!(open_regular(dir.path()).is_none());
        assert!(open_regular(&dir.path().join("missing")).is_none());
    }

    #[test]
    fn directory_asks_stop_at_the_budget_and_skip_excluded_names() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b", "skip"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            for i in 0..5 {
                std::fs::write(dir.path().join(sub).join(format!("f{i}")), b"x").unwrap();
            }
        }
        let opts = ExcludeOptions {
            excludes: vec![crate::filter::PatternList::new(["skip"], false).unwrap()],
            ..ExcludeOptions::default()
        };
        let excluder = Excluder::new(&opts, &[]).unwrap();
        let mut done = Recent::default();
        assert_eq!(
            budget_left(dir.path(), &excluder, 10, &mut done),
            0,
            "the top, a and its 5 files, b and 2 of its files"
        );
        assert!(
            done.contains(&dir.path().join("b/f1")) && !done.contains(&dir.path().join("b/f2"))
        );
        assert!(
            !done.contains(dir.path()),
            "a directory cut short is not done"
        );
        let mut done = Recent::default();
        assert_eq!(
            budget_left(dir.path(), &excluder, 100, &mut done),
            87,
            "3 directories and the 10 files of a and b; skip/ is excluded"
        );
        assert!(done.contains(dir.path()) && done.contains(&dir.path().join("a/f4")));
        assert_eq!(
            budget_left(dir.path(), &excluder, 100, &mut done),
            100,
            "nothing is read ahead twice"
        );
        let skip = dir.path().join("skip");
        assert_eq!(budget_left(&skip, &no_excludes(), 100, &mut done), 94);
        assert_eq!(
            budget_left(dir.path(), &no_excludes(), 100, &mut Recent::default()),
            81
        );
    }

    #[test]
    fn deep_chains_of_directories_end_at_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let mut deep = dir.path().to_path_buf();
        for _ in 0..100 {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("f"), b"x").unwrap();
        let mut done = Recent::default();
        assert_eq!(
            budget_left(dir.path(), &no_excludes(), DIR_ASK_BUDGET, &mut done),
            0
        );
        assert!(
            !done.contains(&deep.join("f")),
            "listing stopped before the bottom"
        );
    }

    #[test]
    fn recent_paths_are_bounded_and_forget_the_oldest() {
        let mut recent = Recent::default();
        let path = |i: usize| PathBuf::from(format!("/p/{i}"));
        assert!(recent.insert(&path(0)));
        assert!(!recent.insert(&path(0)));
        for i in 1..=Recent::CAPACITY {
            assert!(recent.insert(&path(i)));
        }
        assert!(recent.set.len() <= Recent::CAPACITY && recent.order.len() <= Recent::CAPACITY);
        assert!(!recent.contains(&path(0)), "the oldest is forgotten");
        assert!(recent.contains(&path(Recent::CAPACITY)));
    }

    #[test]
    fn the_thread_ends_when_the_prefetcher_is_dropped_and_full_queues_drop_asks() {
        let excluder = no_excludes();
        let (prefetcher, rx) = Prefetcher::new();
        // Nobody serves the queue yet: asks beyond its size are dropped,
        // not waited for.
        for i in 0..QUEUE + 10 {
            prefetcher.ask(Ask::File(PathBuf::from(format!("/nonexistent/{i}"))));
        }
        assert_eq!(rx.rx.try_iter().count(), QUEUE);
        prefetcher.ask(Ask::Dir(PathBuf::from("/nonexistent")));
        let served = AtomicUsize::new(0);
        // The scope joins the thread: this test hangs if `run` outlives
        // the prefetcher.
        std::thread::scope(|s| {
            s.spawn(|| {
                run(rx, &excluder);
                served.store(1, Ordering::SeqCst);
            });
            drop(prefetcher);
        });
        assert_eq!(served.load(Ordering::SeqCst), 1);
    }
}
