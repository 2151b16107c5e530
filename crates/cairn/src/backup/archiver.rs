//! Turning a file-system tree into blobs and trees.
//!
//! Directories are processed depth first; the entries of each directory
//! are processed in parallel on rayon's pool, so small files from many
//! places keep both cores busy. A file is read and chunked sequentially,
//! and each chunk is hashed, compressed and encrypted as its own task
//! while the next ones are read. A tree blob is saved once all its entries
//! are done. Files the backup will read are asked for ahead of time (see
//! the `prefetch` module), so the disk is busy while the cores work.

use super::cache_probe::ProbedFile;
use super::exclude::Excluder;
use super::fsnode::{is_unchanged, node_from_metadata, NodeOptions};
use super::prefetch::{Ask, Prefetcher, LOOKAHEAD};
use super::{BackupProgress, Counts, ItemChange, ItemDone};
use crate::write::buffers::CHUNK_BUFFERS;
use crate::write::BlobWriter;
use crate::{Cancel, Error, Repository, Result};
use cairn_chunker::{ChunkEngine, Chunker};
use cairn_format::{BlobType, Id, Node, NodeType, Tree};
use rayon::prelude::*;
use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Bytes of one file read and chunked but not yet hashed, compressed and
/// encrypted. A chunk larger than this (restic's maximum is 8 MiB) waits
/// until nothing else of its file is in flight, so a file's pending data
/// never exceeds this plus one chunk.
pub const CONTENT_IN_FLIGHT: usize = 8 << 20;

/// A tree blob as saved: its ID, plaintext size and, if this save stored
/// it, its size in the pack (0 if it was there already).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TreeSaved {
    pub id: Id,
    pub size: u64,
    pub size_in_repo: u64,
}

/// New data blobs of one file: plaintext bytes and bytes in packs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DataAdded {
    pub size: u64,
    pub size_in_repo: u64,
}

/// One chunk's blob as saved, or why not.
type ChunkSaved = Result<(Id, DataAdded)>;

/// What the archiver needs, shared by every thread.
pub(crate) struct Archiver<'a> {
    pub repo: &'a Repository,
    pub writer: &'a BlobWriter,
    pub engine: ChunkEngine,
    pub excluder: &'a Excluder,
    pub node_opts: NodeOptions,
    pub ignore_inode: bool,
    pub ignore_ctime: bool,
    pub progress: &'a dyn BackupProgress,
    pub counts: Counts,
    /// Where to ask for files to be read ahead; `None` reads without.
    pub prefetcher: Option<Prefetcher>,
    /// Problems with single files or folders; the backup goes on.
    pub errors: Mutex<Vec<(PathBuf, Error)>>,
    /// The backup's cancellation token.
    pub cancel: Cancel,
}

impl Archiver<'_> {
    fn report(&self, path: &Path, e: Error) {
        self.progress.error(path, &e);
        self.errors
            .lock()
            .expect("error list lock poisoned")
            .push((path.to_path_buf(), e));
    }

    /// The parent's node of the same name. Trees restic and Cairn write
    /// are sorted by name, so this is a binary search when `sorted` (a
    /// linear scan per entry would make a directory of n entries cost n²).
    fn parent_node<'t>(parent: Option<&'t Tree>, sorted: bool, name: &[u8]) -> Option<&'t Node> {
        let nodes = &parent?.nodes;
        if sorted {
            let i = nodes
                .binary_search_by(|n| n.name.as_slice().cmp(name))
                .ok()?;
            Some(&nodes[i])
        } else {
            nodes.iter().find(|n| n.name == name)
        }
    }

    fn load_parent_subtree(&self, node: Option<&Node>) -> Option<Tree> {
        let node = node?;
        if node.node_type != NodeType::Dir {
            return None;
        }
        self.repo.load_tree(node.subtree.as_ref()?).ok()
    }

    /// Backs up one file-system entry (any type). `Ok(None)` means it was
    /// excluded or failed (failures are reported, not returned).
    pub fn save_entry(
        &self,
        path: &Path,
        name: &[u8],
        parent: Option<&Node>,
    ) -> Result<Option<Node>> {
        self.cancel.check()?;
        if self.excluder.excluded_by_name(path.as_os_str().as_bytes()) {
            return Ok(None);
        }
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.report(path, Error::io(path, e));
                return Ok(None);
            }
        };
        if self.excluder.excluded(path, &meta) {
            return Ok(None);
        }
        let node = match node_from_metadata(path, name, &meta, &self.node_opts) {
            Ok(n) => n,
            Err(e) => {
                self.report(path, Error::io(path, e));
                return Ok(None);
            }
        };
        let saved = match node.node_type {
            NodeType::Dir => {
                let parent_tree = self.load_parent_subtree(parent);
                self.save_dir_node(path, node, parent, parent_tree.as_ref())
            }
            NodeType::File => self.save_file(path, node, parent),
            // restic never saves sockets.
            NodeType::Socket => return Ok(None),
            _ => Ok(node),
        };
        match saved {
            Ok(n) => Ok(Some(n)),
            Err(Error::Interrupted) => Err(Error::Interrupted),
            Err(e) if is_fatal(&e) => Err(e),
            Err(e) => {
                self.report(path, e);
                Ok(None)
            }
        }
    }

    /// Saves a directory's content as a tree and returns its node with the
    /// subtree set, counting it as new, changed or unmodified.
    pub fn save_dir_node(
        &self,
        path: &Path,
        mut node: Node,
        parent: Option<&Node>,
        parent_tree: Option<&Tree>,
    ) -> Result<Node> {
        let started = Instant::now();
        let tree = self.save_dir_contents(path, parent_tree)?;
        let saved = self.save_tree_blob(&tree)?;
        node.subtree = Some(saved.id);
        let parent_subtree = parent.and_then(|p| p.subtree);
        self.counts.dir(parent_subtree, saved.id);
        self.dir_done(path, parent_subtree, &saved, started);
        Ok(node)
    }

    /// Reports a saved directory (restic's "dir new/modified/unchanged").
    pub fn dir_done(
        &self,
        path: &Path,
        parent_subtree: Option<Id>,
        saved: &TreeSaved,
        started: Instant,
    ) {
        let change = match parent_subtree {
            None => ItemChange::New,
            Some(p) if p == saved.id => ItemChange::Unchanged,
            Some(_) => ItemChange::Modified,
        };
        self.progress.item_done(&ItemDone {
            path,
            is_dir: true,
            change,
            data_size: 0,
            data_size_in_repo: 0,
            tree_size: if saved.size_in_repo > 0 {
                saved.size
            } else {
                0
            },
            tree_size_in_repo: saved.size_in_repo,
            duration: started.elapsed(),
        });
    }

    /// Reads a directory and saves every entry below it, in parallel.
    pub fn save_dir_contents(&self, path: &Path, parent_tree: Option<&Tree>) -> Result<Tree> {
        let read = fs::read_dir(path).map_err(|e| Error::io(path, e))?;
        let mut names: Vec<(Vec<u8>, Option<fs::FileType>)> = Vec::new();
        for entry in read {
            match entry {
                Ok(e) => names.push((e.file_name().as_bytes().to_vec(), e.file_type().ok())),
                Err(e) => self.report(path, Error::io(path, e)),
            }
        }
        names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let sorted = parent_tree.is_some_and(|t| t.nodes.is_sorted_by(|a, b| a.name < b.name));
        // Asks for entry `j` to be read ahead if it will be read: the
        // parent snapshot does not have it.
        let read_ahead = |j: usize| {
            let (Some(prefetcher), Some((name, Some(kind)))) = (&self.prefetcher, names.get(j))
            else {
                return;
            };
            if !prefetcher.gate().is_open()
                || Self::parent_node(parent_tree, sorted, name).is_some()
            {
                return;
            }
            let child = path.join(OsStr::from_bytes(name));
            if kind.is_file() {
                prefetcher.ask(Ask::File(child));
            } else if kind.is_dir() {
                prefetcher.ask(Ask::Dir(child));
            }
        };
        // Asks skipped while files were found cached are made again once
        // a file is found not to be (the gate reopened).
        let reopened = |p: &Prefetcher| p.gate().reopened();
        let asked_at = AtomicU64::new(self.prefetcher.as_ref().map_or(0, reopened));
        let nodes: Vec<Result<Option<Node>>> = names
            .par_iter()
            .enumerate()
            .map(|(i, (name, _))| {
                // Entries 0..LOOKAHEAD when the first one starts, then one
                // more per entry.
                let now = self.prefetcher.as_ref().map_or(0, reopened);
                match i {
                    0 => (0..LOOKAHEAD).for_each(read_ahead),
                    i if asked_at.swap(now, Ordering::Relaxed) != now => {
                        (i..i + LOOKAHEAD).for_each(read_ahead)
                    }
                    i => read_ahead(i + LOOKAHEAD - 1),
                }
                let child = path.join(OsStr::from_bytes(name));
                let parent = Self::parent_node(parent_tree, sorted, name);
                self.save_entry(&child, name, parent)
            })
            .collect();
        let mut tree = Tree {
            nodes: Vec::with_capacity(nodes.len()),
        };
        for n in nodes {
            if let Some(node) = n? {
                tree.nodes.push(node);
            }
        }
        Ok(tree)
    }

    /// Saves a tree blob.
    pub fn save_tree(&self, tree: &Tree) -> Result<Id> {
        Ok(self.save_tree_blob(tree)?.id)
    }

    /// Saves a tree blob, with its sizes.
    pub fn save_tree_blob(&self, tree: &Tree) -> Result<TreeSaved> {
        let json = tree.to_json();
        let saved = self.writer.save_blob(BlobType::Tree, &json)?;
        Ok(TreeSaved {
            id: saved.id,
            size: json.len() as u64,
            size_in_repo: saved.stored,
        })
    }

    fn save_file(&self, path: &Path, mut node: Node, parent: Option<&Node>) -> Result<Node> {
        let started = Instant::now();
        let file_done = |change, added: DataAdded| {
            self.progress.item_done(&ItemDone {
                path,
                is_dir: false,
                change,
                data_size: added.size,
                data_size_in_repo: added.size_in_repo,
                tree_size: 0,
                tree_size_in_repo: 0,
                duration: started.elapsed(),
            })
        };
        if let Some(old) = parent.filter(|p| p.node_type == NodeType::File) {
            let content = old.content.as_deref().unwrap_or(&[]);
            if is_unchanged(old, &node, self.ignore_inode, self.ignore_ctime)
                && content
                    .iter()
                    .all(|id| self.writer.has_blob(BlobType::Data, id))
            {
                node.content = Some(content.to_vec());
                self.counts.file_unmodified(node.size);
                self.progress.file_done(path, node.size, false);
                file_done(ItemChange::Unchanged, DataAdded::default());
                return Ok(node);
            }
        }
        self.progress.file_started(path);
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOATIME)
            .open(path)
            .or_else(|_| File::open(path))
            .map_err(|e| Error::io(path, e))?;
        let gate = self.prefetcher.as_ref().map(Prefetcher::gate);
        let (content, size, added) = self.save_content(path, ProbedFile::new(file, gate))?;
        node.content = Some(content);
        node.size = size;
        let had_parent = parent.is_some_and(|p| p.node_type == NodeType::File);
        self.counts.file_saved(had_parent, size);
        self.progress.file_done(path, size, true);
        let change = if had_parent {
            ItemChange::Modified
        } else {
            ItemChange::New
        };
        file_done(change, added);
        Ok(node)
    }

    /// Chunks a stream and saves its data blobs; returns their IDs, the
    /// number of bytes read and what of it was new to the repository.
    ///
    /// The calling thread reads and chunks; every chunk is hashed,
    /// compressed and encrypted as a task of its own on rayon's pool, so
    /// reading the next chunk overlaps with sealing the previous ones; the
    /// last chunk (a small file's only one) is sealed by the reading
    /// thread itself. At most [`CONTENT_IN_FLIGHT`] bytes of one file wait
    /// to be sealed; at the limit the reading thread helps with the
    /// pending tasks.
    pub fn save_content(
        &self,
        path: &Path,
        reader: impl Read,
    ) -> Result<(Vec<Id>, u64, DataAdded)> {
        let buffer = READ_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
        let mut chunker = Chunker::with_buffer(self.engine.clone(), reader, buffer);
        let in_flight = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let saved: Mutex<Vec<(usize, ChunkSaved)>> = Mutex::new(Vec::new());
        let mut total = 0u64;
        let mut count = 0usize;
        // Hashes, compresses, encrypts and stores chunk `index`.
        let seal = |index: usize, chunk: Vec<u8>| {
            let len = chunk.len();
            let result = self.writer.save_blob(BlobType::Data, &chunk).map(|s| {
                let added = DataAdded {
                    size: if s.new { len as u64 } else { 0 },
                    size_in_repo: s.stored,
                };
                (s.id, added)
            });
            CHUNK_BUFFERS.give(chunk);
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            saved
                .lock()
                .expect("saved chunk list poisoned")
                .push((index, result));
            in_flight.fetch_sub(len, Ordering::AcqRel);
        };
        let seal = &seal;
        // The last chunk read is held back until the next one is read: if
        // none follows, the reading thread seals it itself. Most files are
        // a single chunk, and handing it to another thread would cost a
        // task and often a wake-up for nothing.
        let mut pending: Option<(usize, Vec<u8>)> = None;
        let read: Result<()> = rayon::in_place_scope(|scope| {
            let read = loop {
                if let Err(e) = self.cancel.check() {
                    break Err(e);
                }
                if failed.load(Ordering::Relaxed) {
                    break Ok(());
                }
                let chunk = match chunker.read_chunk() {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(Error::io(path, e)),
                };
                let len = chunk.len();
                total += len as u64;
                self.progress.bytes_done(len as u64);
                let mut buf = CHUNK_BUFFERS.take(len);
                buf.extend_from_slice(chunk);
                if let Some((index, earlier)) = pending.take() {
                    scope.spawn(move |_| seal(index, earlier));
                }
                wait_below(&in_flight, CONTENT_IN_FLIGHT.saturating_sub(len));
                in_flight.fetch_add(len, Ordering::AcqRel);
                pending = Some((count, buf));
                count += 1;
            };
            if let (Ok(()), Some((index, last))) = (&read, pending.take()) {
                if !failed.load(Ordering::Relaxed) {
                    seal(index, last);
                }
            }
            read
        });
        let (_, buffer) = chunker.into_parts();
        READ_BUFFER.with(|b| *b.borrow_mut() = buffer);
        // The scope has waited for every task: report a failed save first
        // (it is why reading stopped), then a read error.
        let mut saved = saved.into_inner().expect("saved chunk list poisoned");
        saved.sort_unstable_by_key(|(i, _)| *i);
        let mut added = DataAdded::default();
        let ids = saved
            .into_iter()
            .map(|(_, r)| {
                r.map(|(id, a)| {
                    added.size += a.size;
                    added.size_in_repo += a.size_in_repo;
                    id
                })
            })
            .collect::<Result<Vec<Id>>>()?;
        read?;
        debug_assert_eq!(ids.len(), count);
        Ok((ids, total, added))
    }
}

thread_local! {
    /// The chunker's read buffer (up to twice the largest chunk), kept
    /// from one file to the next: a fresh one per file costs its zeroing
    /// and page faults.
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Waits until at most `limit` bytes are in flight, running pending rayon
/// tasks (most likely the ones waited for) in the meantime.
fn wait_below(in_flight: &AtomicUsize, limit: usize) {
    while in_flight.load(Ordering::Acquire) > limit {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => {}
            // Another thread runs the tasks; wait a moment for it.
            _ => std::thread::sleep(std::time::Duration::from_micros(50)),
        }
    }
}

/// Errors that end the whole backup rather than skipping one entry:
/// anything from the repository side.
fn is_fatal(e: &Error) -> bool {
    !matches!(e, Error::Io { .. })
}
