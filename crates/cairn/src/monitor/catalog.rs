//! The incremental snapshot loader and its per-group summary.

use crate::{Error, Repository, Result, StoredSnapshot};
use cairn_backend::FileType;
use cairn_format::{Id, Snapshot};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// The snapshots of one repository as last seen, refreshed incrementally.
///
/// ```no_run
/// # fn f(repo: &cairn::Repository) -> cairn::Result<()> {
/// let mut catalog = cairn::monitor::SnapshotCatalog::new();
/// catalog.refresh(repo)?; // reads every snapshot file
/// catalog.refresh(repo)?; // reads only files added since
/// for group in catalog.groups() {
///     println!("{} {:?}: {} snapshots", group.host, group.paths, group.count);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Default, Clone)]
pub struct SnapshotCatalog {
    snapshots: BTreeMap<Id, Snapshot>,
}

/// What one [`SnapshotCatalog::refresh`] did.
#[derive(Debug, Default)]
pub struct RefreshReport {
    /// Snapshot files read (new IDs).
    pub loaded: usize,
    /// Snapshots dropped because their file is gone.
    pub removed: usize,
    /// New files that could not be read or parsed; they are tried again
    /// on the next refresh.
    pub problems: Vec<Error>,
}

/// The snapshots sharing one host, set of paths and set of tags (restic's
/// `--group-by host,paths,tags`).
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotGroup {
    /// The host name.
    pub host: String,
    /// The backed-up paths, sorted.
    pub paths: Vec<String>,
    /// The tags, sorted.
    pub tags: Vec<String>,
    /// How many snapshots the group has.
    pub count: usize,
    /// Its newest snapshot (by time; the greater ID on a tie).
    pub newest: StoredSnapshot,
}

/// Host, sorted paths, sorted tags.
type GroupKey = (String, Vec<String>, Vec<String>);

impl SnapshotCatalog {
    /// An empty catalog.
    pub fn new() -> SnapshotCatalog {
        SnapshotCatalog::default()
    }

    /// Lists `snapshots/`, reads the files not seen before and forgets
    /// those no longer listed. Fails only when the listing fails (the
    /// catalog is then unchanged).
    pub fn refresh(&mut self, repo: &Repository) -> Result<RefreshReport> {
        let listed: BTreeSet<Id> = repo
            .list_ids(FileType::Snapshot)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let before = self.snapshots.len();
        self.snapshots.retain(|id, _| listed.contains(id));
        let removed = before - self.snapshots.len();
        let new: Vec<Id> = listed
            .into_iter()
            .filter(|id| !self.snapshots.contains_key(id))
            .collect();
        let loaded: Vec<(Id, Result<Snapshot>)> = new
            .par_iter()
            .map(|id| (*id, repo.load_snapshot(id)))
            .collect();
        let mut report = RefreshReport {
            loaded: loaded.len(),
            removed,
            problems: Vec::new(),
        };
        for (id, result) in loaded {
            match result {
                Ok(sn) => {
                    self.snapshots.insert(id, sn);
                }
                // Removed between listing and reading (forget): not a problem.
                Err(Error::Backend(e)) if e.is_not_found() => {}
                Err(e) => report.problems.push(e),
            }
        }
        Ok(report)
    }

    /// How many snapshots the catalog holds.
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// True if it holds none.
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    /// The snapshot with this ID, if known.
    pub fn get(&self, id: &Id) -> Option<&Snapshot> {
        self.snapshots.get(id)
    }

    /// The snapshots grouped by host, sorted paths and sorted tags, in the
    /// order of those keys.
    pub fn groups(&self) -> Vec<SnapshotGroup> {
        let mut groups: BTreeMap<GroupKey, (usize, Id)> = BTreeMap::new();
        for (id, sn) in &self.snapshots {
            let mut paths = sn.paths.clone();
            paths.sort();
            let mut tags = sn.tags.clone();
            tags.sort();
            let slot = groups
                .entry((sn.hostname.clone(), paths, tags))
                .or_insert((0, *id));
            slot.0 += 1;
            let best = &self.snapshots[&slot.1];
            if (&sn.time, id) > (&best.time, &slot.1) {
                slot.1 = *id;
            }
        }
        groups
            .into_iter()
            .map(|((host, paths, tags), (count, id))| SnapshotGroup {
                host,
                paths,
                tags,
                count,
                newest: StoredSnapshot {
                    id,
                    snapshot: self.snapshots[&id].clone(),
                },
            })
            .collect()
    }
}
