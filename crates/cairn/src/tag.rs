//! Changing the tags of snapshots, as restic's `tag` command does: the
//! changed snapshot is saved as a new file (remembering the first ID it had
//! in `original`) and the old file is removed.

use crate::{LockGuard, Repository, Result, StoredSnapshot};
use cairn_backend::FileType;
use cairn_format::Id;

/// How to change a snapshot's tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagChange {
    /// Replace all tags (`--set`). An empty list, or the single tag `""`,
    /// removes every tag. The snapshot is rewritten even if its tags
    /// already were these, as restic does.
    Set(Vec<String>),
    /// Add tags not yet present, then remove tags (`--add`, `--remove`).
    Modify {
        /// Tags to append (in order) if missing.
        add: Vec<String>,
        /// Tags to remove (the first occurrence of each).
        remove: Vec<String>,
    },
}

impl TagChange {
    /// Applies the change to a tag list; true if the snapshot must be
    /// rewritten. The resulting order is restic's: added tags are
    /// appended, and a removed tag's place is taken by the last tag.
    pub fn apply(&self, tags: &mut Vec<String>) -> bool {
        match self {
            TagChange::Set(new) => {
                *tags = if new.len() == 1 && new[0].is_empty() {
                    Vec::new()
                } else {
                    new.clone()
                };
                true
            }
            TagChange::Modify { add, remove } => {
                let mut changed = false;
                for t in add {
                    if !tags.contains(t) {
                        tags.push(t.clone());
                        changed = true;
                    }
                }
                for t in remove {
                    if let Some(i) = tags.iter().position(|x| x == t) {
                        tags.swap_remove(i);
                        changed = true;
                    }
                }
                changed
            }
        }
    }
}

impl Repository {
    /// Changes one snapshot's tags. Returns the new snapshot's ID, or
    /// `None` when nothing changed (nothing is written then). `lock` must
    /// be exclusive, as restic's `tag` takes.
    pub fn change_snapshot_tags(
        &self,
        lock: &LockGuard,
        snap: &StoredSnapshot,
        change: &TagChange,
    ) -> Result<Option<Id>> {
        lock.allows(self, "tag", true)?;
        let mut sn = snap.snapshot.clone();
        if !change.apply(&mut sn.tags) {
            return Ok(None);
        }
        if sn.original.is_none() {
            sn.original = Some(snap.id);
        }
        let new_id = self.save_unpacked(FileType::Snapshot, &sn.to_json())?;
        self.backend()
            .remove(FileType::Snapshot, &snap.id.to_hex())?;
        Ok(Some(new_id))
    }

    /// Changes the tags of the snapshots `ids`; returns `(old, new)` ID
    /// pairs of the snapshots that changed, stopping at the first error.
    /// `lock` must be exclusive.
    pub fn change_tags(
        &self,
        lock: &LockGuard,
        ids: &[Id],
        change: &TagChange,
    ) -> Result<Vec<(Id, Id)>> {
        lock.allows(self, "tag", true)?;
        let mut changed = Vec::new();
        for id in ids {
            let snap = StoredSnapshot {
                id: *id,
                snapshot: self.load_snapshot(id)?,
            };
            if let Some(new_id) = self.change_snapshot_tags(lock, &snap, change)? {
                changed.push((*id, new_id));
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn changes_like_restic() {
        let mut t = tags(&["a", "b", "c", "d"]);
        let change = TagChange::Modify {
            add: tags(&["b", "e"]),
            remove: tags(&["a", "x"]),
        };
        assert!(change.apply(&mut t));
        // "a" is replaced by the last tag, as Go's swap-and-truncate does.
        assert_eq!(t, tags(&["e", "b", "c", "d"]));
        let noop = TagChange::Modify {
            add: tags(&["c"]),
            remove: tags(&["zz"]),
        };
        assert!(!noop.apply(&mut t));
        assert!(TagChange::Set(tags(&[""])).apply(&mut t));
        assert!(t.is_empty());
        assert!(TagChange::Set(Vec::new()).apply(&mut t));
        assert!(TagChange::Set(tags(&["x", "y"])).apply(&mut t));
        assert_eq!(t, tags(&["x", "y"]));
    }
}
