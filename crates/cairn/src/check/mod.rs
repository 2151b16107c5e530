//! `check`: verify a repository as `restic check` does.
//!
//! [`Repository::check`] runs restic's stages in order, and every problem
//! it finds becomes one [`CheckIssue`] (an error, or a hint for harmless
//! findings) before it moves on; nothing stops the run early.
//!
//! 1. **Index** ([`Stage::Index`]): every index file is loaded on its own,
//!    so a damaged one is named. Packs listed by several index files and
//!    packs mixing data and tree blobs are hints.
//! 2. **Packs** ([`Stage::Packs`]): the packs in the index are compared
//!    with the listing of `data/`. A pack missing or of another size than
//!    the index describes is an error; a pack no index references is a
//!    hint, as in restic.
//! 3. **Snapshots and trees** ([`Stage::Snapshots`], [`Stage::Trees`]):
//!    every snapshot is loaded and every tree reachable from it is loaded
//!    once (in parallel), verified and checked: nodes sorted and unique,
//!    file nodes with content, directory nodes with a subtree, known node
//!    types, and every referenced blob present in the index.
//! 4. **Unused blobs** ([`Stage::Unused`], with
//!    [`CheckOptions::check_unused`]): blobs in the index that no snapshot
//!    uses.
//! 5. **Read data** ([`Stage::ReadData`], with [`CheckOptions::read_data`]):
//!    each selected pack is read once, its SHA-256 compared with its name,
//!    its header decrypted, parsed, laid out against the file size and
//!    compared with the index, and every blob decrypted, decompressed and
//!    hashed. Packs are processed in parallel, one whole pack per worker.
//!
//! The checker builds its own index from the index files and does not need
//! (or change) the repository's loaded index.

mod load;
mod packs;
mod read;
mod structure;
mod subset;

pub use subset::ReadDataSubset;

use crate::repository::Repository;
use crate::Result;
use cairn_backend::FileType;
use cairn_format::{BlobType, Id};
use std::sync::Mutex;

/// What `check` does beyond the structural checks.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Read and verify pack data: all packs or a subset (`--read-data`,
    /// `--read-data-subset`). `None` reads no pack data.
    pub read_data: Option<ReadDataSubset>,
    /// Report blobs that no snapshot uses as errors (`--check-unused`).
    pub check_unused: bool,
    /// Seed for the random subsets (`x%` and sizes); `None` seeds from the
    /// clock, as restic does.
    pub seed: Option<u64>,
    /// Stops this check (with [`Error::Interrupted`](crate::Error::Interrupted))
    /// once cancelled.
    pub cancel: crate::Cancel,
    /// Check only these snapshots (`check [ID...] --host/--tag/--path`,
    /// resolved by the caller), as restic 0.19 does: only their trees are
    /// walked, `read_data` reads only the packs holding their blobs (the
    /// subset is then drawn from those), and unused blobs are not looked
    /// for. The index and the pack list are still checked whole. `None`
    /// checks every snapshot.
    pub snapshots: Option<Vec<Id>>,
}

/// The stage of the check a problem was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Loading the index files.
    Index,
    /// Comparing the index with the pack files present.
    Packs,
    /// Loading the snapshot files.
    Snapshots,
    /// Walking and checking the trees.
    Trees,
    /// Looking for unused blobs.
    Unused,
    /// Reading and verifying pack data.
    ReadData,
}

/// One problem found by `check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckIssue {
    /// Where in the check it was found.
    pub stage: Stage,
    /// The repository file that is damaged or concerned, when known.
    pub file: Option<(FileType, Id)>,
    /// The tree in which the problem was found, for tree problems.
    pub tree: Option<Id>,
    /// The blob concerned, when there is one.
    pub blob: Option<(BlobType, Id)>,
    /// The message, in restic's words where restic has them.
    pub message: String,
}

impl CheckIssue {
    pub(crate) fn new(stage: Stage, message: impl Into<String>) -> Self {
        CheckIssue {
            stage,
            file: None,
            tree: None,
            blob: None,
            message: message.into(),
        }
    }

    pub(crate) fn file(mut self, file_type: FileType, id: Id) -> Self {
        self.file = Some((file_type, id));
        self
    }

    pub(crate) fn tree(mut self, id: Id) -> Self {
        self.tree = Some(id);
        self
    }

    pub(crate) fn blob(mut self, blob_type: BlobType, id: Id) -> Self {
        self.blob = Some((blob_type, id));
        self
    }

    /// The damaged file's path in the repository (`data/ab/ab12…`,
    /// `index/…`, `snapshots/…`), when known.
    pub fn file_path(&self) -> Option<String> {
        self.file.map(|(t, id)| {
            let hex = id.to_hex();
            match t {
                FileType::Pack => format!("data/{}/{hex}", &hex[..2]),
                FileType::Config => "config".to_string(),
                other => format!("{}/{hex}", other.dir_name()),
            }
        })
    }
}

impl std::fmt::Display for CheckIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The phases `check` reports to its [`CheckProgress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckPhase {
    /// Loading the index files.
    LoadIndex,
    /// Comparing the index with the packs present.
    Packs,
    /// Checking snapshots and trees; `snapshots` is the number of
    /// snapshots, each counted with [`CheckProgress::advance`] when its
    /// trees are done.
    Structure {
        /// Number of snapshots to walk.
        snapshots: u64,
    },
    /// Looking for unused blobs.
    Unused,
    /// Reading pack data: `selected` of the `total` packs in the index,
    /// each counted with [`CheckProgress::advance`].
    ReadData {
        /// Packs that will be read.
        selected: u64,
        /// Packs in the index.
        total: u64,
    },
}

/// Receives progress and problems while `check` runs. Every method has an
/// empty default; calls may come from several threads.
pub trait CheckProgress: Sync {
    /// A phase begins.
    fn phase(&self, _phase: CheckPhase) {}
    /// One item (snapshot, pack) of the current phase is done.
    fn advance(&self) {}
    /// The current phase is over.
    fn phase_done(&self) {}
    /// A pack was read and verified (read-data phase).
    fn pack_read(&self, _id: &Id) {}
    /// A problem was found; `error` is false for hints.
    fn issue(&self, _issue: &CheckIssue, _error: bool) {}
}

/// What `check` found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckReport {
    /// Damage: the repository needs repair if this is not empty.
    pub errors: Vec<CheckIssue>,
    /// Harmless findings (unreferenced packs, packs in several index
    /// files, mixed packs).
    pub hints: Vec<CheckIssue>,
    /// Index files read (including damaged ones).
    pub index_files: usize,
    /// Packs the index lists.
    pub packs: usize,
    /// Snapshot files found.
    pub snapshots: usize,
    /// Distinct trees walked.
    pub trees: usize,
    /// Packs whose data was read, sorted.
    pub packs_read: Vec<Id>,
    /// Bytes of the packs read (their file sizes).
    pub bytes_read: u64,
    /// Blobs in the index that no snapshot uses (with `check_unused`),
    /// sorted.
    pub unused_blobs: Vec<(BlobType, Id)>,
}

impl CheckReport {
    /// True if no errors were found (hints do not count).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Packs named by an error of the read-data stage: damaged pack files.
    pub fn broken_packs(&self) -> Vec<Id> {
        let mut v: Vec<Id> = self
            .errors
            .iter()
            .filter(|e| e.stage == Stage::ReadData)
            .filter_map(|e| match e.file {
                Some((FileType::Pack, id)) => Some(id),
                _ => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// True if a hint suggests rebuilding the index (duplicate packs) or
    /// an index file is damaged.
    pub fn suggest_repair_index(&self) -> bool {
        self.hints
            .iter()
            .chain(&self.errors)
            .any(|i| i.stage == Stage::Index)
    }

    /// True if a hint suggests `prune` (unreferenced or mixed packs).
    pub fn suggest_prune(&self) -> bool {
        self.hints.iter().any(|i| i.stage == Stage::Packs)
    }
}

/// Collects issues and passes them on to the progress receiver at once.
pub(crate) struct Sink<'a> {
    progress: &'a dyn CheckProgress,
    /// The check's cancellation token.
    pub(crate) cancel: crate::Cancel,
    errors: Mutex<Vec<CheckIssue>>,
    hints: Mutex<Vec<CheckIssue>>,
}

impl<'a> Sink<'a> {
    fn new(progress: &'a dyn CheckProgress, cancel: crate::Cancel) -> Self {
        Sink {
            progress,
            cancel,
            errors: Mutex::default(),
            hints: Mutex::default(),
        }
    }

    /// Records damage.
    pub(crate) fn error(&self, issue: CheckIssue) {
        self.progress.issue(&issue, true);
        self.errors.lock().expect("issue list poisoned").push(issue);
    }

    /// Records a harmless finding.
    pub(crate) fn hint(&self, issue: CheckIssue) {
        self.progress.issue(&issue, false);
        self.hints.lock().expect("issue list poisoned").push(issue);
    }
}

impl Repository {
    /// Checks the repository as `restic check` does (see the [module
    /// documentation](crate::check)). Problems in the repository are
    /// returned in the report; `Err` only means the check itself could not
    /// run (for example, the backend cannot list files).
    ///
    /// Listings are strict (see [`Repository::set_strict_listings`]): a
    /// file hidden by a garbled name must not pass unseen.
    pub fn check(&self, opts: &CheckOptions, progress: &dyn CheckProgress) -> Result<CheckReport> {
        self.strictly().check_strictly(opts, progress)
    }

    fn check_strictly(
        &self,
        opts: &CheckOptions,
        progress: &dyn CheckProgress,
    ) -> Result<CheckReport> {
        opts.cancel.check()?;
        let sink = Sink::new(progress, opts.cancel.clone());
        let mut report = CheckReport::default();

        progress.phase(CheckPhase::LoadIndex);
        let loaded = load::load_indexes(self, &sink)?;
        if let Some(cache) = self.cache() {
            cache.index_loaded(&loaded.index);
        }
        report.index_files = loaded.index_files;
        report.packs = loaded.packs.len();
        progress.phase_done();
        sink.cancel.check()?;

        progress.phase(CheckPhase::Packs);
        let present = packs::compare_packs(self, &loaded, &sink)?;
        progress.phase_done();
        sink.cancel.check()?;

        let only = opts.snapshots.as_deref();
        // A limited check needs the data blobs to know which packs to read.
        let track_data = opts.check_unused || only.is_some();
        let walked = structure::check_structure(self, &loaded.index, only, track_data, &sink)?;
        report.snapshots = walked.snapshots;
        report.trees = walked.trees.len();
        sink.cancel.check()?;

        if opts.check_unused && only.is_none() {
            progress.phase(CheckPhase::Unused);
            report.unused_blobs = structure::unused_blobs(&loaded.index, &walked, &sink);
            progress.phase_done();
        }
        let candidates = match only {
            Some(_) => structure::packs_of_walked(&loaded.index, &walked, &loaded.pack_sizes()),
            None => loaded.pack_sizes(),
        };
        drop(walked);

        if let Some(subset) = &opts.read_data {
            let selected = subset.select(&candidates, opts.seed);
            progress.phase(CheckPhase::ReadData {
                selected: selected.len() as u64,
                total: candidates.len() as u64,
            });
            report.packs_read = read::read_packs(self, &loaded.index, &selected, &present, &sink)?;
            report.bytes_read = report
                .packs_read
                .iter()
                .filter_map(|id| present.get(id))
                .sum();
            progress.phase_done();
        }

        report.errors = sink.errors.into_inner().expect("issue list poisoned");
        report.hints = sink.hints.into_inner().expect("issue list poisoned");
        Ok(report)
    }
}
