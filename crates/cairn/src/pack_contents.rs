//! Which blobs a pack holds, for `find --pack` (restic's `packsToBlobs`):
//! read from the pack's own header, or from the index when the pack file
//! is missing.

use crate::repository::Repository;
use crate::{Error, Result};
use cairn_backend::FileType;
use cairn_format::{BlobType, Id};
use std::collections::{BTreeMap, BTreeSet};

/// The blobs of the packs asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackContents {
    /// Data blobs.
    pub data: BTreeSet<Id>,
    /// Tree blobs.
    pub trees: BTreeSet<Id>,
    /// Packs missing from the repository whose blobs were taken from the
    /// index instead (restic warns about them).
    pub from_index: Vec<Id>,
}

impl PackContents {
    fn add(&mut self, blob_type: BlobType, id: Id) {
        match blob_type {
            BlobType::Data => self.data.insert(id),
            BlobType::Tree => self.trees.insert(id),
        };
    }
}

/// True if `wanted` names `id`: its full hex form or its 8-character
/// short form, as restic matches IDs in `find`.
pub fn id_matches(wanted: &str, id: &Id) -> bool {
    wanted == id.to_hex() || wanted == id.short()
}

impl Repository {
    /// The blobs of the packs `packs` (full IDs or 8-character short IDs,
    /// as restic's `find --pack` takes them). Pack files are listed and
    /// their headers read; packs not in the listing are looked up in the
    /// loaded index. Fails naming (sorted) the packs found in neither,
    /// and when a listed pack's header cannot be read.
    pub fn pack_contents(&self, packs: &[String]) -> Result<PackContents> {
        let mut wanted: BTreeSet<String> = packs.iter().cloned().collect();
        let mut out = PackContents::default();
        for (id, size) in self.list_ids(FileType::Pack)? {
            if wanted.is_empty() {
                break;
            }
            let (full, short) = (id.to_hex(), id.short());
            if !wanted.remove(&full) && !wanted.remove(&short) {
                continue;
            }
            for blob in crate::repair_index::read_pack_header(self, &id, size)? {
                out.add(blob.blob_type, blob.id);
            }
        }
        if !wanted.is_empty() {
            let mut found: BTreeMap<Id, ()> = BTreeMap::new();
            for loc in self.index().iter() {
                let (full, short) = (loc.pack.to_hex(), loc.pack.short());
                if wanted.contains(&full) || wanted.contains(&short) {
                    out.add(loc.blob_type, loc.id);
                    found.insert(loc.pack, ());
                }
            }
            for pack in found.keys() {
                wanted.remove(&pack.to_hex());
                wanted.remove(&pack.short());
            }
            out.from_index = found.into_keys().collect();
        }
        if !wanted.is_empty() {
            let list: Vec<String> = wanted.into_iter().collect();
            return Err(Error::InvalidArgument(format!(
                "unable to find pack(s): [{}]",
                list.join(" ")
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{file, Crafter};

    #[test]
    fn packs_by_full_or_short_id_from_header_or_index() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
        let blob = c.data(b"content").unwrap();
        let tree = c.tree(vec![file("f", &[blob], 7)]).unwrap();
        c.flush().unwrap();
        let data_pack = c.locate(BlobType::Data, &blob).unwrap().pack;
        let tree_pack = c.locate(BlobType::Tree, &tree).unwrap().pack;
        let got = c
            .repo()
            .pack_contents(&[data_pack.to_hex(), tree_pack.short()])
            .unwrap();
        assert_eq!(got.data.into_iter().collect::<Vec<_>>(), vec![blob]);
        assert_eq!(got.trees.into_iter().collect::<Vec<_>>(), vec![tree]);
        assert!(got.from_index.is_empty());

        // A pack file gone: its blobs come from the index.
        std::fs::remove_file(c.file_path(FileType::Pack, &tree_pack)).unwrap();
        let got = c.repo().pack_contents(&[tree_pack.short()]).unwrap();
        assert_eq!(got.trees.into_iter().collect::<Vec<_>>(), vec![tree]);
        assert_eq!(got.from_index, vec![tree_pack]);

        let err = c
            .repo()
            .pack_contents(&["0123abcd".to_string()])
            .unwrap_err();
        assert_eq!(err.to_string(), "unable to find pack(s): [0123abcd]");
    }
}
