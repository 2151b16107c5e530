//! Writing file contents: every needed data blob is read once, pack by
//! pack in large range reads, decoded in parallel and written to every
//! place it occurs, in any order.
//!
//! Reading and decoding overlap: a few reader threads fetch ranges ahead
//! into a bounded queue while the rayon pool decrypts, decompresses,
//! verifies and writes the blobs of the range at hand. At most
//! `READERS + QUEUE + 1` ranges are in memory at once.

use super::dirs::{DirFds, DirTree};
use super::files::{create_new, open_for_write, prepare_file, write_blob};
use super::item::{FileAction, FileItem, Files};
use super::meta::{restore_open_metadata, XattrFilter};
use super::{RestoreError, RestoreProgress, Stop};
use crate::index::BlobLocation;
use crate::repository::Repository;
use crate::{Error, Result};
use cairn_backend::FileType;
use cairn_format::{BlobType, Id};
use rayon::prelude::*;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};

/// Largest single read from a pack.
pub(crate) const MAX_RANGE: u64 = 4 << 20;
/// Unneeded bytes between two blobs that are still read through rather
/// than starting a new read.
pub(crate) const MAX_GAP: u64 = 1 << 20;
const READERS: usize = 2;
const QUEUE: usize = 1;

/// Where blob data comes from; the repository, or a fake in tests.
pub(crate) trait BlobSource: Sync {
    /// The location of a data blob.
    fn lookup(&self, id: &Id) -> Option<BlobLocation>;
    /// Reads stored bytes of a pack.
    fn read_range(&self, pack: &Id, offset: u64, length: u64) -> Result<Vec<u8>>;
    /// Decrypts, decompresses and verifies one blob's stored bytes.
    fn decode(&self, loc: &BlobLocation, stored: Vec<u8>) -> Result<Vec<u8>>;
    /// Loads a blob by ID from any copy (the fallback after a failure).
    fn load_any_copy(&self, id: &Id) -> Result<Vec<u8>>;
}

impl BlobSource for Repository {
    fn lookup(&self, id: &Id) -> Option<BlobLocation> {
        self.index().lookup(BlobType::Data, id)
    }
    fn read_range(&self, pack: &Id, offset: u64, length: u64) -> Result<Vec<u8>> {
        Ok(self
            .backend()
            .read_range(FileType::Pack, &pack.to_hex(), offset, length)?)
    }
    fn decode(&self, loc: &BlobLocation, stored: Vec<u8>) -> Result<Vec<u8>> {
        self.decode_blob(loc, stored)
    }
    fn load_any_copy(&self, id: &Id) -> Result<Vec<u8>> {
        self.load_blob(BlobType::Data, id)
    }
}

/// One place a blob goes: file number and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Target {
    pub file: usize,
    pub offset: u64,
}

/// A blob to fetch and everywhere it is written.
#[derive(Clone, Debug)]
pub(crate) struct BlobJob {
    pub loc: BlobLocation,
    pub targets: Vec<Target>,
}

/// One read: a stretch of a pack holding the blobs listed.
#[derive(Clone, Debug)]
pub(crate) struct RangeJob {
    pub pack: Id,
    pub start: u64,
    pub end: u64,
    /// Its blobs, by offset: a stretch of [`ContentPlan::blobs`].
    pub blobs: std::ops::Range<usize>,
}

/// Per-file state while contents are written.
pub(crate) const OK: u8 = 0;
/// Some blob could not be written; the file exists but is incomplete.
pub(crate) const DAMAGED: u8 = 1;
/// The file could not be created.
pub(crate) const MISSING: u8 = 2;

/// Per file, whether its metadata was restored while writing: not (the
/// last pass does it).
pub(crate) const META_LATER: u8 = 0;
/// Restored right after the last write, through the open handle.
pub(crate) const META_DONE: u8 = 1;
/// Tried after the last write and failed (the error is recorded).
pub(crate) const META_FAILED: u8 = 2;

/// How a file's metadata is restored as soon as its content is complete
/// (not with `--verify`, whose reads would disturb the access times).
pub(crate) struct EarlyMeta<'a> {
    pub xattrs: &'a XattrFilter,
}

/// Everything to fetch, and per file how many writes are outstanding.
#[derive(Debug, Default)]
pub(crate) struct ContentPlan {
    /// Every blob to fetch, pack by pack, by offset.
    pub blobs: Vec<BlobJob>,
    pub ranges: Vec<RangeJob>,
    /// Writes still to do, per file (index as in the plan's files).
    pub pending: Vec<usize>,
    /// Whether a file is written sparsely.
    pub sparse: Vec<bool>,
    /// Bytes of each file that are already in place.
    pub present: Vec<u64>,
}

/// Resolves the blobs of every file to be written, drops those already in
/// place, groups the rest by pack and merges neighbours into range reads.
/// Files with an unknown blob are marked failed and reported.
pub(crate) fn plan_content(
    files: &mut Files,
    tree: &DirTree,
    source: &dyn BlobSource,
    sparse: bool,
    errors: &mut Vec<RestoreError>,
) -> ContentPlan {
    let Files { list, blobs: lists } = files;
    // One entry per place a blob goes, merged per blob by
    // `group_ranges`; room for all at once, so that the table does not
    // grow by doubling.
    let most: usize = list
        .iter()
        .filter(|f| matches!(f.action, FileAction::Write(_)))
        .map(|f| lists.of(f).len())
        .sum();
    let mut blobs: Vec<BlobJob> = Vec::with_capacity(most);
    let mut plan = ContentPlan {
        pending: vec![0; list.len()],
        sparse: vec![false; list.len()],
        present: vec![0; list.len()],
        ..ContentPlan::default()
    };
    for (i, file) in list.iter_mut().enumerate() {
        let FileAction::Write(existing) = &file.action else {
            continue;
        };
        let content = lists.of(file);
        let mut locs = Vec::with_capacity(content.len());
        for id in content {
            match source.lookup(id) {
                Some(loc) => locs.push(loc),
                None => {
                    let e = Error::BlobNotFound {
                        blob_type: BlobType::Data,
                        id: *id,
                    };
                    let name = Some(tree.entry_name(file.dir, file.name));
                    let (location, path) =
                        (tree.location(file.dir, name), tree.path(file.dir, name));
                    errors.push(RestoreError::new(&location, &path, Some(*id), e));
                    break;
                }
            }
        }
        if locs.len() != content.len() {
            file.action = FileAction::Failed;
            continue;
        }
        // restic cannot punch holes into an existing file, so only new
        // files are written sparsely.
        plan.sparse[i] = sparse && existing.is_none();
        let mut offset = 0;
        for (k, loc) in locs.into_iter().enumerate() {
            let len = loc.plain_length();
            if !existing.as_ref().is_some_and(|s| s.has_matching_blob(k)) {
                blobs.push(BlobJob {
                    loc,
                    targets: vec![Target { file: i, offset }],
                });
                plan.pending[i] += 1;
            } else {
                plan.present[i] += len;
            }
            offset += len;
        }
    }
    plan.ranges = group_ranges(&mut blobs, MAX_RANGE, MAX_GAP);
    plan.blobs = blobs;
    plan
}

/// Sorts `blobs` by pack and offset, merges the entries of one blob into
/// one (its targets in file order), and merges blobs close together into
/// reads of at most `max_range` bytes (a larger blob is read alone).
/// Ranges come in the order the files first need them.
///
/// All in place, without a table keyed by blob ID: at a million files,
/// such a table and a second copy of the blob list made this the peak of
/// a restore's memory.
pub(crate) fn group_ranges(
    blobs: &mut Vec<BlobJob>,
    max_range: u64,
    max_gap: u64,
) -> Vec<RangeJob> {
    blobs.sort_unstable_by(|a, b| {
        (a.loc.pack, a.loc.offset, a.loc.id)
            .cmp(&(b.loc.pack, b.loc.offset, b.loc.id))
            .then_with(|| a.targets.first().cmp(&b.targets.first()))
    });
    blobs.dedup_by(|later, kept| {
        let same = later.loc == kept.loc;
        if same {
            kept.targets.append(&mut later.targets);
        }
        same
    });
    if blobs.capacity() - blobs.len() > blobs.len() / 4 {
        blobs.shrink_to_fit();
    }
    let mut ranges: Vec<RangeJob> = Vec::new();
    for (i, b) in blobs.iter().enumerate() {
        let (start, end) = (b.loc.offset, b.loc.offset + u64::from(b.loc.length));
        if let Some(r) = ranges.last_mut().filter(|r| r.pack == b.loc.pack) {
            if start <= r.end + max_gap && end.max(r.end) - r.start <= max_range {
                r.end = r.end.max(end);
                r.blobs.end = i + 1;
                continue;
            }
        }
        ranges.push(RangeJob {
            pack: b.loc.pack,
            start,
            end,
            blobs: i..i + 1,
        });
    }
    let first_file = |r: &RangeJob| {
        blobs[r.blobs.clone()]
            .iter()
            .flat_map(|b| b.targets.iter().map(|t| (t.file, t.offset)))
            .min()
    };
    ranges.sort_by_cached_key(first_file);
    ranges
}

/// Shared state of the writing phase.
pub(crate) struct Writer<'a> {
    pub files: &'a [FileItem],
    pub tree: &'a DirTree,
    pub fds: &'a DirFds,
    /// Checked between files and blobs: once true, the rest is skipped.
    pub stop: Stop<'a>,
    pub plan: &'a ContentPlan,
    pub source: &'a dyn BlobSource,
    pub progress: &'a dyn RestoreProgress,
    /// Per file: [`OK`], [`DAMAGED`] or [`MISSING`].
    pub status: Vec<AtomicU8>,
    pub pending: Vec<AtomicUsize>,
    pub bytes_written: AtomicU64,
    pub errors: Mutex<Vec<RestoreError>>,
    /// Remove a directory in a file's place (`--delete`).
    pub remove_dirs: bool,
    /// Restore a file's metadata right after its last write, if set.
    pub early_meta: Option<EarlyMeta<'a>>,
    /// Per file: [`META_LATER`], [`META_DONE`] or [`META_FAILED`].
    pub meta: Vec<AtomicU8>,
    /// Per file, set once it is created or resized (true if that worked).
    prepared: Vec<OnceLock<bool>>,
}

impl<'a> Writer<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        files: &'a [FileItem],
        tree: &'a DirTree,
        fds: &'a DirFds,
        stop: Stop<'a>,
        plan: &'a ContentPlan,
        source: &'a dyn BlobSource,
        progress: &'a dyn RestoreProgress,
    ) -> Writer<'a> {
        Writer {
            files,
            tree,
            fds,
            stop,
            plan,
            source,
            progress,
            status: files.iter().map(|_| AtomicU8::new(OK)).collect(),
            pending: plan.pending.iter().map(|&n| AtomicUsize::new(n)).collect(),
            bytes_written: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
            remove_dirs: false,
            early_meta: None,
            meta: files.iter().map(|_| AtomicU8::new(META_LATER)).collect(),
            prepared: files.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    /// Whether file `i` is new and gets exactly one dense write, which
    /// gives it its length: it is then created empty, not sized first.
    fn filled_by_one_write(&self, i: usize) -> bool {
        matches!(self.files[i].action, FileAction::Write(None))
            && self.plan.pending[i] == 1
            && !self.plan.sparse[i]
    }

    /// Creates or resizes file `i` once, whoever needs it first (others
    /// wait); returns the open handle to the caller that did it. A
    /// failure is recorded and marks the file [`MISSING`]. With `sized`,
    /// the length is set even where one write would set it.
    fn prepare(&self, i: usize, sized: bool) -> Option<File> {
        let mut handle = None;
        self.prepared[i].get_or_init(|| {
            let f = &self.files[i];
            let len = if sized || !self.filled_by_one_write(i) {
                f.size
            } else {
                0
            };
            let name = self.tree.entry_name(f.dir, f.name);
            let new = matches!(f.action, FileAction::Write(None));
            let made = self.fds.get(self.tree, f.dir).and_then(|dir| {
                // A file planned as new is usually still absent: one
                // exclusive create. Anything in the way gets the full
                // treatment.
                match new.then(|| create_new(&dir, name, len)) {
                    Some(Ok(Some(h))) => Ok(h),
                    Some(Err(e)) => Err(e),
                    None | Some(Ok(None)) => prepare_file(&dir, name, f.size, self.remove_dirs),
                }
            });
            match made {
                Ok(h) => {
                    self.progress.bytes_done(self.plan.present[i]);
                    if self.plan.pending[i] == 0 {
                        self.progress.file_done(f.size);
                    }
                    handle = Some(h);
                    true
                }
                Err(e) => {
                    let path = self.tree.path(f.dir, Some(name));
                    self.fail(i, None, Error::io(&path, e), MISSING);
                    false
                }
            }
        });
        handle
    }

    fn fail(&self, file: usize, blob: Option<Id>, error: Error, status: u8) {
        self.status[file].fetch_max(status, Ordering::Relaxed);
        let f = &self.files[file];
        let name = Some(self.tree.entry_name(f.dir, f.name));
        let (location, path) = (self.tree.location(f.dir, name), self.tree.path(f.dir, name));
        let err = RestoreError::new(&location, &path, blob, error);
        self.progress.error(&err);
        self.errors.lock().expect("no panics while held").push(err);
    }

    /// Creates or resizes (in parallel) every file to be written that
    /// gets no blob, then fetches and writes all blobs; the other files
    /// are created at their first write, so that a small file is
    /// created, written and finished through one descriptor. Stops early
    /// (leaving the rest undone) once `stop` says so.
    pub(crate) fn run(&self) {
        self.files.par_iter().enumerate().for_each(|(i, f)| {
            if !matches!(f.action, FileAction::Write(_))
                || self.plan.pending[i] != 0
                || (self.stop)()
            {
                return;
            }
            self.prepare(i, true);
        });
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::sync_channel::<(usize, Result<Vec<u8>>)>(QUEUE);
        std::thread::scope(|s| {
            for _ in 0..READERS.min(self.plan.ranges.len()) {
                let tx = tx.clone();
                let next = &next;
                s.spawn(move || loop {
                    if (self.stop)() {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(r) = self.plan.ranges.get(i) else {
                        break;
                    };
                    let data = self.source.read_range(&r.pack, r.start, r.end - r.start);
                    if tx.send((i, data)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for (i, data) in rx {
                if (self.stop)() {
                    // Dropping the receiver ends the readers.
                    break;
                }
                self.range(&self.plan.ranges[i], data);
            }
        });
    }

    /// Decodes and writes the blobs of one range, in parallel.
    fn range(&self, r: &RangeJob, data: Result<Vec<u8>>) {
        self.plan.blobs[r.blobs.clone()].par_iter().for_each(|b| {
            if (self.stop)() {
                return;
            }
            let plain = match &data {
                Ok(buf) => {
                    let from = (b.loc.offset - r.start) as usize;
                    let stored = buf[from..from + b.loc.length as usize].to_vec();
                    self.source.decode(&b.loc, stored)
                }
                Err(e) => Err(Error::InvalidArgument(format!(
                    "reading pack {}: {e}",
                    r.pack
                ))),
            };
            // A damaged copy or a failed read: a new read of this copy
            // (the damage may have been in transit) or another copy may be
            // fine. A blob still damaged then is reported as such, with
            // how often it was read.
            let plain = plain.or_else(|first| {
                self.source
                    .load_any_copy(&b.loc.id)
                    .map_err(|again| match again {
                        Error::BadBlob { .. } => again,
                        _ => first,
                    })
            });
            match plain {
                Ok(p) => self.write(b, &p),
                Err(e) => {
                    let mut files: Vec<usize> = b.targets.iter().map(|t| t.file).collect();
                    files.dedup();
                    for file in files {
                        // The file is still there, at its full length.
                        drop(self.prepare(file, true));
                        self.fail(file, Some(b.loc.id), same_error(&e), DAMAGED);
                    }
                    for t in &b.targets {
                        self.done(t.file, 1);
                    }
                }
            }
        });
    }

    /// Writes a decoded blob to all its places, opening each file once.
    fn write(&self, b: &BlobJob, plain: &[u8]) {
        let mut i = 0;
        while i < b.targets.len() {
            let file = b.targets[i].file;
            let same = b.targets[i..].iter().take_while(|t| t.file == file).count();
            let f = &self.files[file];
            let mut handle = None;
            if self.status[file].load(Ordering::Relaxed) != MISSING {
                match self.write_file(file, &b.targets[i..i + same], plain) {
                    Ok(h) => handle = h,
                    Err(e) => {
                        let path = self
                            .tree
                            .path(f.dir, Some(self.tree.entry_name(f.dir, f.name)));
                        self.fail(file, Some(b.loc.id), Error::io(&path, e), DAMAGED);
                    }
                }
            }
            if self.done(file, same) {
                if let (Some(h), Some(meta)) = (handle, &self.early_meta) {
                    self.finish_file(file, &h, meta);
                }
            }
            i += same;
        }
    }

    /// Writes `plain` at the `targets` (all in one file), creating the
    /// file first if this is its first write; returns the handle, if the
    /// file exists.
    fn write_file(
        &self,
        file: usize,
        targets: &[Target],
        plain: &[u8],
    ) -> io::Result<Option<File>> {
        let f = &self.files[file];
        let h = match self.prepare(file, false) {
            Some(h) => h,
            None if self.status[file].load(Ordering::Relaxed) == MISSING => return Ok(None),
            None => open_for_write(
                &*self.fds.get(self.tree, f.dir)?,
                self.tree.entry_name(f.dir, f.name),
            )?,
        };
        let sparse = self.plan.sparse[file];
        for t in targets {
            let n = write_blob(&h, plain, t.offset, sparse)?;
            self.bytes_written.fetch_add(n, Ordering::Relaxed);
            self.progress.bytes_done(plain.len() as u64);
        }
        // Created empty for this write: a blob shorter than the recorded
        // size leaves the file as long as a sized file would be.
        if self.filled_by_one_write(file) && (plain.len() as u64) < f.size {
            h.set_len(f.size)?;
        }
        Ok(Some(h))
    }

    /// Restores the metadata of file `file`, whose content is complete,
    /// through its open handle, so the last pass need not open it again.
    fn finish_file(&self, file: usize, h: &File, meta: &EarlyMeta<'_>) {
        let f = &self.files[file];
        let state = match restore_open_metadata(&f.meta, h, meta.xattrs) {
            Ok(()) => META_DONE,
            Err(e) => {
                let name = Some(self.tree.entry_name(f.dir, f.name));
                let path = self.tree.path(f.dir, name);
                let err = RestoreError::new(
                    &self.tree.location(f.dir, name),
                    &path,
                    None,
                    Error::io(&path, e),
                );
                self.progress.error(&err);
                self.errors.lock().expect("no panics while held").push(err);
                META_FAILED
            }
        };
        self.meta[file].store(state, Ordering::Relaxed);
    }

    /// Counts `n` of file `file`'s writes as done; true (and the file
    /// reported done) if they were its last.
    fn done(&self, file: usize, n: usize) -> bool {
        let last = self.pending[file].fetch_sub(n, Ordering::AcqRel) == n;
        if last {
            self.progress.file_done(self.files[file].size);
        }
        last
    }
}

/// A copy of a blob error for each file that needed the blob (`Error` is
/// not `Clone`).
fn same_error(e: &Error) -> Error {
    match e {
        Error::BadBlob {
            pack,
            blob_type,
            id,
            reason,
        } => Error::BadBlob {
            pack: *pack,
            blob_type: *blob_type,
            id: *id,
            reason: reason.clone(),
        },
        Error::BlobNotFound { blob_type, id } => Error::BlobNotFound {
            blob_type: *blob_type,
            id: *id,
        },
        other => Error::InvalidArgument(other.to_string()),
    }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
