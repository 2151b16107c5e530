//! Stage 2: the packs the index lists against the pack files present.

use super::load::Loaded;
use super::{CheckIssue, Sink, Stage};
use crate::repository::Repository;
use crate::Result;
use cairn_backend::FileType;
use cairn_format::Id;
use std::collections::HashMap;

/// Compares the index with the listing of `data/`: packs missing or of
/// another size than the index describes are errors, packs no index
/// references are hints (restic: "not referenced in any index").
///
/// Returns the pack files present with their sizes.
pub(crate) fn compare_packs(
    repo: &Repository,
    loaded: &Loaded,
    sink: &Sink,
) -> Result<HashMap<Id, u64>> {
    let present: HashMap<Id, u64> = repo.list_ids(FileType::Pack)?.into_iter().collect();
    let mut indexed: Vec<_> = loaded.packs.iter().collect();
    indexed.sort_by_key(|(id, _)| **id);
    for (id, summary) in indexed {
        let issue = |msg: String| {
            CheckIssue::new(Stage::Packs, format!("pack {id}: {msg}")).file(FileType::Pack, *id)
        };
        match present.get(id) {
            None => sink.error(issue("does not exist".into())),
            Some(&size) if size != summary.expected_size => sink.error(issue(format!(
                "unexpected file size: got {size}, expected {}",
                summary.expected_size
            ))),
            Some(_) => {}
        }
    }
    let mut orphans: Vec<&Id> = present
        .keys()
        .filter(|id| !loaded.packs.contains_key(id))
        .collect();
    orphans.sort();
    for id in orphans {
        sink.hint(
            CheckIssue::new(
                Stage::Packs,
                format!("pack {id}: not referenced in any index"),
            )
            .file(FileType::Pack, *id),
        );
    }
    Ok(present)
}
