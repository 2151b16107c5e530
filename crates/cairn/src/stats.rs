//! Statistics over snapshots, in restic's four counting modes.
//!
//! - [`CountMode::RestoreSize`]: every node of every snapshot (directories
//!   and other nodes too) is counted, and the sizes of the nodes added up,
//!   hard links (same inode within one snapshot) counting once; nodes with
//!   inode 0 always count.
//! - [`CountMode::FilesByContents`]: a node counts once per distinct
//!   content list across all snapshots (every node with empty content, such
//!   as a directory or an empty file, shares one).
//! - [`CountMode::BlobsPerFile`]: for the first node of each distinct
//!   content, its blobs are counted once per path, with their plaintext
//!   sizes; a path counts as a file once it has a blob.
//! - [`CountMode::RawData`]: every blob (trees and file contents) the
//!   snapshots reference counts once, with its stored (encrypted, maybe
//!   compressed) size.
//!
//! ```no_run
//! use cairn::stats::{stats, CountMode, StatsOptions};
//! # fn demo(repo: &cairn::Repository, tree: cairn::Id) -> cairn::Result<()> {
//! let opts = StatsOptions { mode: CountMode::parse("raw-data")?, ..Default::default() };
//! let report = stats(repo, &[tree], &opts)?;
//! println!("{} blobs, {} bytes", report.total_blob_count, report.total_size);
//! # Ok(())
//! # }
//! ```

use crate::repository::Repository;
use crate::{Error, Result};
use cairn_format::{BlobType, Id, Node, NodeType};
use std::collections::{HashMap, HashSet};

/// The encryption overhead of a stored blob (IV and MAC).
const OVERHEAD: u64 = cairn_crypto::OVERHEAD as u64;

/// How `stats` counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CountMode {
    /// The size of a restore of the snapshots (restic's default).
    #[default]
    RestoreSize,
    /// Files unique by content.
    FilesByContents,
    /// Blobs, once per file path.
    BlobsPerFile,
    /// Blobs as stored in the repository.
    RawData,
}

impl CountMode {
    /// restic's name of the mode (`restore-size`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CountMode::RestoreSize => "restore-size",
            CountMode::FilesByContents => "files-by-contents",
            CountMode::BlobsPerFile => "blobs-per-file",
            CountMode::RawData => "raw-data",
        }
    }

    /// Parses restic's mode name; anything else is refused with restic's
    /// message.
    pub fn parse(name: &str) -> Result<CountMode> {
        [
            CountMode::RestoreSize,
            CountMode::FilesByContents,
            CountMode::BlobsPerFile,
            CountMode::RawData,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown counting mode: {name} (use the -h flag to get a list of supported modes)"
            ))
        })
    }
}

/// What `stats` counts.
#[derive(Clone, Debug, Default)]
pub struct StatsOptions {
    /// The counting mode.
    pub mode: CountMode,
    /// Stops the count (with [`Error::Interrupted`])
    /// once cancelled.
    pub cancel: crate::Cancel,
}

/// The totals restic prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsReport {
    /// Bytes, as the mode counts them.
    pub total_size: u64,
    /// Files (nodes), as the mode counts them; 0 in raw-data mode.
    pub total_file_count: u64,
    /// Blobs (raw-data and blobs-per-file modes only).
    pub total_blob_count: u64,
    /// How many snapshots were walked.
    pub snapshots_count: u64,
    /// raw-data mode on a version 2 repository: what the blobs would take
    /// stored uncompressed (each blob's plaintext plus the encryption
    /// overhead), as restic 0.19 counts it; 0 otherwise.
    pub total_uncompressed_size: u64,
    /// raw-data mode on a version 2 repository: the stored size of the
    /// compressed blobs.
    pub compressed_blobs_size: u64,
    /// raw-data mode on a version 2 repository: the uncompressed size
    /// (plaintext plus overhead) of the compressed blobs.
    pub compressed_blobs_uncompressed_size: u64,
}

impl StatsReport {
    /// restic's `compression_ratio`: uncompressed over stored size of the
    /// compressed blobs; 0 when no blob is compressed.
    pub fn compression_ratio(&self) -> f64 {
        if self.compressed_blobs_size == 0 {
            return 0.0;
        }
        self.compressed_blobs_uncompressed_size as f64 / self.compressed_blobs_size as f64
    }

    /// restic's `compression_progress`: the percentage of the
    /// (uncompressed) data that is stored compressed; 0 when unknown.
    pub fn compression_progress(&self) -> f64 {
        if self.total_uncompressed_size == 0 {
            return 0.0;
        }
        self.compressed_blobs_uncompressed_size as f64 / self.total_uncompressed_size as f64 * 100.0
    }

    /// restic's `compression_space_saving`: the percentage of space saved
    /// against storing everything uncompressed; 0 when unknown.
    pub fn compression_space_saving(&self) -> f64 {
        if self.total_uncompressed_size == 0 {
            return 0.0;
        }
        (1.0 - self.total_size as f64 / self.total_uncompressed_size as f64) * 100.0
    }
}

/// Walks the snapshots whose root trees are `trees` (in that order) and
/// counts as `opts.mode` says. A tree that cannot be loaded, or a blob the
/// index does not know, ends the walk with an error.
pub fn stats(repo: &Repository, trees: &[Id], opts: &StatsOptions) -> Result<StatsReport> {
    let mut counter = Counter::new(repo, opts.mode, opts.cancel.clone());
    for tree in trees {
        opts.cancel.check()?;
        counter.report.snapshots_count += 1;
        counter.snapshot(tree)?;
    }
    counter.finish()
}

struct Counter<'a> {
    repo: &'a Repository,
    mode: CountMode,
    report: StatsReport,
    /// Content lists seen (SHA-256 of the concatenated blob IDs).
    unique_contents: HashSet<Id>,
    /// Blobs counted per file path (blobs-per-file).
    path_blobs: HashMap<Vec<u8>, HashSet<Id>>,
    /// Every blob referenced (raw-data).
    blobs: HashSet<(BlobType, Id)>,
    cancel: crate::Cancel,
}

impl<'a> Counter<'a> {
    fn new(repo: &'a Repository, mode: CountMode, cancel: crate::Cancel) -> Self {
        Counter {
            cancel,
            repo,
            mode,
            report: StatsReport::default(),
            unique_contents: HashSet::new(),
            path_blobs: HashMap::new(),
            blobs: HashSet::new(),
        }
    }

    fn snapshot(&mut self, root: &Id) -> Result<()> {
        let cancel = self.cancel.clone();
        match self.mode {
            CountMode::RawData => self.collect_blobs(root),
            CountMode::RestoreSize => {
                let mut inodes = HashSet::new();
                walk_sorted(self.repo, &cancel, root, None, &mut |_, node| {
                    self.report.total_file_count += 1;
                    if node.inode == 0 || inodes.insert(node.inode) {
                        self.report.total_size += node.size;
                    }
                    Ok(())
                })
            }
            CountMode::FilesByContents | CountMode::BlobsPerFile => {
                // A subtree already walked in this snapshot holds nothing new.
                let mut walked = HashSet::new();
                walk_sorted(
                    self.repo,
                    &cancel,
                    root,
                    Some(&mut walked),
                    &mut |path, node| self.count_by_content(path, node),
                )
            }
        }
    }

    fn count_by_content(&mut self, path: &[u8], node: &Node) -> Result<()> {
        let content = node.content.as_deref().unwrap_or_default();
        let ids: Vec<u8> = content.iter().flat_map(|id| id.0).collect();
        if !self.unique_contents.insert(Id::hash(&ids)) {
            return Ok(());
        }
        if self.mode == CountMode::FilesByContents {
            self.report.total_size += node.size;
            self.report.total_file_count += 1;
            return Ok(());
        }
        for blob in content {
            let seen = match self.path_blobs.get_mut(path) {
                Some(seen) => seen,
                None => {
                    self.report.total_file_count += 1;
                    self.path_blobs.entry(path.to_vec()).or_default()
                }
            };
            if seen.insert(*blob) {
                let loc = self.repo.locate_blob(BlobType::Data, blob)?;
                self.report.total_size += loc.plain_length();
                self.report.total_blob_count += 1;
            }
        }
        Ok(())
    }

    /// Every tree below `root` (each loaded once over all snapshots) and
    /// the data blobs of their files.
    fn collect_blobs(&mut self, root: &Id) -> Result<()> {
        let mut pending = Vec::new();
        if self.blobs.insert((BlobType::Tree, *root)) {
            pending.push(*root);
        }
        while let Some(id) = pending.pop() {
            self.cancel.check()?;
            for node in self.repo.load_tree(&id)?.nodes {
                match (node.node_type, node.subtree) {
                    (NodeType::File, _) => {
                        for blob in node.content.unwrap_or_default() {
                            self.blobs.insert((BlobType::Data, blob));
                        }
                    }
                    (NodeType::Dir, Some(sub)) if self.blobs.insert((BlobType::Tree, sub)) => {
                        pending.push(sub);
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<StatsReport> {
        if self.mode == CountMode::RawData {
            // restic counts compression only where it can exist.
            let compression_counted = self.repo.config().version >= 2;
            for &(blob_type, id) in &self.blobs {
                let loc = self.repo.locate_blob(blob_type, &id)?;
                self.report.total_size += u64::from(loc.length);
                self.report.total_blob_count += 1;
                if compression_counted {
                    let uncompressed = loc.plain_length() + OVERHEAD;
                    self.report.total_uncompressed_size += uncompressed;
                    if loc.uncompressed_length.is_some() {
                        self.report.compressed_blobs_size += u64::from(loc.length);
                        self.report.compressed_blobs_uncompressed_size += uncompressed;
                    }
                }
            }
        }
        Ok(self.report)
    }
}

/// Calls `visit` for every node below `root` with its path, depth first,
/// each directory's entries sorted by name (restic's walker order), a
/// directory before its contents. With `walked`, a directory whose subtree
/// was walked before is skipped with everything below it. Open directories
/// are kept on a heap stack, so depth is not limited by the thread's stack.
fn walk_sorted(
    repo: &Repository,
    cancel: &crate::Cancel,
    root: &Id,
    mut walked: Option<&mut HashSet<Id>>,
    visit: &mut dyn FnMut(&[u8], &Node) -> Result<()>,
) -> Result<()> {
    let mut path = Vec::new();
    // Each open directory: its nodes not visited yet (reversed, so the
    // next is last) and the length of its path.
    let mut open: Vec<(Vec<Node>, usize)> = vec![(sorted_nodes(repo, cancel, root)?, 0)];
    while let Some((nodes, path_len)) = open.last_mut() {
        let Some(node) = nodes.pop() else {
            open.pop();
            continue;
        };
        let subtree = match (&node.node_type, node.subtree) {
            (NodeType::Dir, Some(sub)) => Some(sub),
            _ => None,
        };
        if let (Some(sub), Some(set)) = (subtree, walked.as_deref_mut()) {
            if !set.insert(sub) {
                continue;
            }
        }
        path.truncate(*path_len);
        path.push(b'/');
        path.extend_from_slice(&node.name);
        visit(&path, &node)?;
        if let Some(sub) = subtree {
            open.push((sorted_nodes(repo, cancel, &sub)?, path.len()));
        }
    }
    Ok(())
}

/// A tree's nodes sorted by name, in reverse.
fn sorted_nodes(repo: &Repository, cancel: &crate::Cancel, id: &Id) -> Result<Vec<Node>> {
    cancel.check()?;
    let mut nodes = repo.load_tree(id)?.nodes;
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    nodes.reverse();
    Ok(nodes)
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
