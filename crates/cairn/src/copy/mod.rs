//! `copy`: copy snapshots from one repository into another, as restic does.
//!
//! The two repositories have different master keys (and possibly different
//! format versions), so every blob a copied snapshot needs and the
//! destination lacks is read from the source, decrypted, checked against
//! its ID, then compressed as the destination's version and options say
//! (never in a version 1 repository) and encrypted with the destination's
//! key. Trees are copied as the bytes they were stored as, so their IDs do
//! not change. Files are not re-chunked.
//!
//! A source snapshot is skipped when the destination already holds a copy
//! of it: a destination snapshot whose `original` (or own ID) equals the
//! source's `original` (or own ID) and whose time, tree, host, user, IDs,
//! paths, excludes and tags are the same ([`is_copy_of`]). The new
//! snapshot keeps every field of the source one except `parent`, which is
//! dropped, and gets `original` set to the source snapshot's ID unless it
//! already had one, so copies of copies still point at the first.
//!
//! Crash safety: snapshots are copied one at a time; for each, new packs
//! are written, then the index files naming them, and only then the
//! snapshot file. A copy killed at any moment leaves at most packs that
//! no index names (which `check` accepts and `prune` removes) and the
//! snapshots finished so far; running it again copies the rest.
//!
//! The destination must be locked (restic takes a shared lock on both
//! repositories; the source's lock is the caller's affair, as it is only
//! read).
//!
//! ```no_run
//! use std::sync::Arc;
//! use cairn::copy::{copy_snapshots, CopyOptions};
//! use cairn::NoProgress;
//! use cairn::{LocalBackend, Repository};
//!
//! let mut src = Repository::open(Arc::new(LocalBackend::new("/srv/a")), "pw-a")?;
//! let mut dst = Repository::open(Arc::new(LocalBackend::new("/srv/b")), "pw-b")?;
//! let dst_lock = dst.lock(false, None)?;
//! let report = copy_snapshots(&mut src, &mut dst, &dst_lock, &CopyOptions::default(), &NoProgress)?;
//! println!("{} copied, {} already there", report.copied.len(), report.skipped.len());
//! # Ok::<(), cairn::Error>(())
//! ```

mod blobs;
#[cfg(test)]
pub(crate) mod tests;

use crate::repository::Repository;
use crate::write::{BlobWriter, WriteOptions, WriteStats};
use crate::{Error, LockGuard, Result, SnapshotFilter, StoredSnapshot};
use cairn_backend::FileType;
use cairn_format::{Id, Snapshot};
use std::collections::{HashMap, HashSet};

/// What to copy and how to write it.
#[derive(Clone, Debug, Default)]
pub struct CopyOptions {
    /// Snapshots to copy: IDs, unique ID prefixes or `latest`. Empty means
    /// every source snapshot that passes `filter`.
    pub snapshots: Vec<String>,
    /// restic's `--host`/`--tag`/`--path` filter. It selects source
    /// snapshots when `snapshots` is empty (and resolves `latest`), and
    /// always limits the destination snapshots searched for earlier copies.
    pub filter: SnapshotFilter,
    /// Pack size and compression for the destination.
    pub write: WriteOptions,
    /// Stops this copy (with [`Error::Interrupted`]) once cancelled;
    /// snapshots already copied stay.
    pub cancel: crate::Cancel,
}

/// Receives what `copy` does, to print it. Every method has an empty
/// default; calls come from the calling thread except
/// [`CopyProgress::pack_copied`], which may come from any.
pub trait CopyProgress: Sync {
    /// A problem that does not stop the copy (a snapshot that cannot be
    /// found or loaded, a damaged index file, ignored filters).
    fn warning(&self, _message: &str) {}
    /// Work on a source snapshot begins.
    fn snapshot(&self, _source: &StoredSnapshot) {}
    /// The source snapshot is already in the destination as `existing`.
    fn skipped(&self, _source: &StoredSnapshot, _existing: &Id) {}
    /// Copying the source snapshot's missing blobs begins.
    fn copy_started(&self, _source: &StoredSnapshot) {}
    /// The trees are walked: the missing blobs are in `packs` source
    /// packs (tree and data), each reported with
    /// [`CopyProgress::pack_copied`] once its blobs are stored.
    fn packs(&self, _packs: u64) {}
    /// One source pack was copied.
    fn pack_copied(&self) {}
    /// All blobs of the snapshot are stored and indexed.
    fn copy_finished(&self) {}
    /// The snapshot was saved in the destination as `new_id`.
    fn saved(&self, _source: &StoredSnapshot, _new_id: &Id) {}
}

/// What `copy` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// (source snapshot, new destination snapshot) for each copy made.
    pub copied: Vec<(Id, Id)>,
    /// (source snapshot, destination snapshot it is a copy of) for each
    /// snapshot already there.
    pub skipped: Vec<(Id, Id)>,
    /// Blobs and packs added to the destination.
    pub written: WriteStats,
}

/// True if `a` and `b` record the same backup: everything but `parent`
/// and `original` is equal (paths and tags as sets, excludes in order),
/// restic's rule for recognising an earlier copy.
pub fn is_copy_of(a: &Snapshot, b: &Snapshot) -> bool {
    let same_set = |x: &[String], y: &[String]| {
        x.len() == y.len() && y.iter().all(|s| x.contains(s)) && x.iter().all(|s| y.contains(s))
    };
    (a.time.unix_secs, a.time.nanos) == (b.time.unix_secs, b.time.nanos)
        && a.tree == b.tree
        && a.hostname == b.hostname
        && a.username == b.username
        && a.uid == b.uid
        && a.gid == b.gid
        && a.excludes == b.excludes
        && same_set(&a.paths, &b.paths)
        && same_set(&a.tags, &b.tags)
}

/// Copies snapshots from `src` into `dst` (see the module docs) under
/// `dst_lock`, a shared or exclusive lock on `dst`. Both indexes are
/// loaded if they are not yet; afterwards the destination's also lists
/// what was copied, even when the copy failed part way. Snapshots that
/// cannot be found or loaded are reported as warnings and left out; any
/// other error stops the copy, keeping the snapshots already copied.
pub fn copy_snapshots(
    src: &mut Repository,
    dst: &mut Repository,
    dst_lock: &LockGuard,
    opts: &CopyOptions,
    progress: &dyn CopyProgress,
) -> Result<CopyReport> {
    dst_lock.allows(dst, "copy", false)?;
    let mut indexed = Vec::new();
    let result = copy_all(src, dst, opts, progress, &mut indexed);
    if dst.add_to_index(&indexed).is_err() {
        dst.invalidate_index();
    }
    result
}

fn copy_all(
    src: &mut Repository,
    dst: &mut Repository,
    opts: &CopyOptions,
    progress: &dyn CopyProgress,
    indexed: &mut Vec<cairn_format::IndexFile>,
) -> Result<CopyReport> {
    opts.write.validate()?;
    opts.cancel.check()?;
    let sources = select_sources(src, opts, progress)?;
    let (dst_snapshots, problems) = dst.snapshots()?;
    for p in problems {
        progress.warning(&format!("could not load snapshot: {p}"));
    }
    for p in src.load_index()?.into_iter().chain(dst.load_index()?) {
        progress.warning(&p.to_string());
    }
    // Destination snapshots by the persistent ID they carry and by their
    // own ID (a snapshot file copied verbatim is a copy too).
    let mut by_original: HashMap<Id, Vec<&StoredSnapshot>> = HashMap::new();
    for d in dst_snapshots
        .iter()
        .filter(|d| opts.filter.matches(&d.snapshot))
    {
        if let Some(orig) = d.snapshot.original.filter(|o| !o.is_zero()) {
            by_original.entry(orig).or_default().push(d);
        }
        by_original.entry(d.id).or_default().push(d);
    }

    let mut report = CopyReport::default();
    let mut copier = blobs::Copier::new(src, dst, opts.cancel.clone());
    for source in sources {
        opts.cancel.check()?;
        progress.snapshot(&source);
        let persistent = source.snapshot.original.unwrap_or(source.id);
        let earlier = by_original.get(&persistent).and_then(|list| {
            list.iter()
                .find(|d| is_copy_of(&d.snapshot, &source.snapshot))
        });
        if let Some(existing) = earlier {
            progress.skipped(&source, &existing.id);
            report.skipped.push((source.id, existing.id));
            continue;
        }
        progress.copy_started(&source);
        let writer = BlobWriter::new(dst, opts.write.clone())?;
        let stats = match copier.copy_tree(&writer, source.snapshot.tree, progress) {
            Ok(()) => {
                let (stats, _, file) = writer.flush_indexed()?;
                indexed.push(file);
                stats
            }
            Err(e) => {
                writer.abort();
                return Err(e);
            }
        };
        copier.commit();
        progress.copy_finished();
        add_stats(&mut report.written, &stats);

        let mut sn = source.snapshot.clone();
        sn.parent = None;
        sn.original.get_or_insert(source.id);
        let new_id = dst.save_unpacked(FileType::Snapshot, &sn.to_json())?;
        progress.saved(&source, &new_id);
        report.copied.push((source.id, new_id));
    }
    Ok(report)
}

/// The source snapshots `opts` names, in order, each once; or every one
/// passing the filter, oldest first.
fn select_sources(
    src: &Repository,
    opts: &CopyOptions,
    progress: &dyn CopyProgress,
) -> Result<Vec<StoredSnapshot>> {
    if opts.snapshots.is_empty() {
        let (snaps, problems) = src.snapshots()?;
        for p in problems {
            progress.warning(&format!("could not load snapshot: {p}"));
        }
        return Ok(snaps
            .into_iter()
            .filter(|s| opts.filter.matches(&s.snapshot))
            .collect());
    }
    let no_filter = SnapshotFilter::default();
    if !opts.snapshots.iter().any(|s| s == "latest") && opts.filter != no_filter {
        progress.warning("Ignoring filters as there are explicit snapshot ids given");
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for spec in &opts.snapshots {
        let filter = if spec == "latest" {
            &opts.filter
        } else {
            &no_filter
        };
        match src.find_snapshot(spec, filter) {
            Ok(s) => {
                if seen.insert(s.id) {
                    out.push(s);
                }
            }
            Err(Error::SnapshotNotFound(_)) if spec == "latest" => {
                let f = &opts.filter;
                // restic's tag lists print themselves with commas.
                let tags: Vec<String> = f
                    .tags
                    .iter()
                    .map(|t| format!("[{}]", t.join(", ")))
                    .collect();
                progress.warning(&format!(
                    "Ignoring \"latest\", no snapshot matched given filter (Paths:{} Tags:{} Hosts:{})",
                    go_list(&f.paths),
                    go_list(&tags),
                    go_list(&f.hosts)
                ));
            }
            Err(e @ (Error::SnapshotNotFound(_) | Error::AmbiguousPrefix(_))) => {
                progress.warning(&format!("Ignoring {spec:?}: {e}"));
            }
            Err(Error::Backend(e)) if e.is_not_found() => {
                progress.warning(&format!("Ignoring {spec:?}: {e}"));
            }
            Err(
                e @ (Error::BadFile { .. } | Error::Decrypt { .. } | Error::HashMismatch { .. }),
            ) => {
                progress.warning(&format!("Ignoring {spec:?}, could not load snapshot: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A list as Go's `%v` prints it: `[a b]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

fn add_stats(total: &mut WriteStats, more: &WriteStats) {
    total.data_blobs += more.data_blobs;
    total.tree_blobs += more.tree_blobs;
    total.data_added += more.data_added;
    total.data_added_packed += more.data_added_packed;
    total.packs += more.packs;
}
