//! What the backup reports per finished file or directory (restic's
//! `CompleteItem`), for `-vv` listings and `verbose_status` JSON.

use std::path::Path;
use std::time::Duration;

/// How a finished item compares with the parent snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemChange {
    /// Not in the parent snapshot.
    New,
    /// In the parent snapshot, but changed (a file re-read, a directory
    /// whose tree differs).
    Modified,
    /// Same as in the parent snapshot.
    Unchanged,
}

impl ItemChange {
    /// restic's word for it: `new`, `modified` or `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemChange::New => "new",
            ItemChange::Modified => "modified",
            ItemChange::Unchanged => "unchanged",
        }
    }
}

/// A file or directory the backup has finished saving.
#[derive(Clone, Copy, Debug)]
pub struct ItemDone<'a> {
    /// Its path on disk.
    pub path: &'a Path,
    /// A directory (its tree is saved) rather than a file.
    pub is_dir: bool,
    /// New, modified or unchanged against the parent snapshot.
    pub change: ItemChange,
    /// Plaintext bytes of the data blobs this item added to the repository.
    pub data_size: u64,
    /// What those data blobs take in their packs.
    pub data_size_in_repo: u64,
    /// Plaintext bytes of the tree blob a directory added (0 for files or
    /// a tree already stored).
    pub tree_size: u64,
    /// What that tree blob takes in its pack.
    pub tree_size_in_repo: u64,
    /// How long saving it took.
    pub duration: Duration,
}
