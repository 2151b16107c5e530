//! Unit tests of the option parsing, the blob classification and the pack
//! decisions, on synthetic indexes.

use super::classify::{self, classify};
use super::decide::decide;
use super::used::UsedBlobs;
use super::*;
use crate::index::IndexBuilder;
use cairn_format::{IndexBlob, IndexFile, IndexPack};

#[test]
fn max_unused_syntax() {
    assert_eq!(MaxUnused::parse("5%").unwrap(), MaxUnused::Percent(5.0));
    assert_eq!(MaxUnused::parse(" 2.5% ").unwrap(), MaxUnused::Percent(2.5));
    assert_eq!(MaxUnused::parse("unlimited").unwrap(), MaxUnused::Unlimited);
    assert_eq!(
        MaxUnused::parse("100M").unwrap(),
        MaxUnused::Bytes(100 << 20)
    );
    assert_eq!(MaxUnused::parse("0").unwrap(), MaxUnused::Bytes(0));
    for bad in ["", "100%", "-1%", "x%", "12Q"] {
        assert!(MaxUnused::parse(bad).is_err(), "{bad}");
    }
    // p / (100 - p) of the used size: 5% of the total after pruning.
    assert_eq!(MaxUnused::Percent(5.0).limit(95_000), 5_000);
    assert_eq!(MaxUnused::Unlimited.limit(1), u64::MAX);
}

#[test]
fn small_pack_targets() {
    let mut o = PruneOptions::default();
    assert_eq!(small_pack_target(&o), (16 << 20) / 25);
    o.repack_small = true;
    assert_eq!(small_pack_target(&o), (16 << 20) / 5 * 4);
    o.repack_smaller_than = Some(3 << 20);
    assert_eq!(small_pack_target(&o), 3 << 20);
    o.repack_smaller_than = Some(17 << 20);
    assert!(o.validate(2).is_err());
}

/// A pack of `blobs` (blob number, is tree), each 1000 bytes stored.
fn pack(n: u8, blobs: &[(u8, bool)]) -> IndexPack {
    IndexPack {
        id: Id([n; 32]),
        blobs: blobs
            .iter()
            .enumerate()
            .map(|(i, &(b, tree))| IndexBlob {
                id: Id([b; 32]),
                blob_type: if tree { BlobType::Tree } else { BlobType::Data },
                offset: i as u64 * 1000,
                length: 1000,
                uncompressed_length: Some(2000),
            })
            .collect(),
    }
}

/// File size of a pack as the index describes it.
fn size(p: &IndexPack) -> u64 {
    36 + p.blobs.len() as u64 * (1000 + 41)
}

fn index(packs: &[IndexPack]) -> crate::Index {
    let mut b = IndexBuilder::default();
    b.add(&IndexFile {
        packs: packs.to_vec(),
    })
    .unwrap();
    b.finish()
}

fn used(index: &crate::Index, ids: &[(u8, bool)]) -> UsedBlobs {
    let used = UsedBlobs::new(index);
    for &(b, tree) in ids {
        let t = if tree { BlobType::Tree } else { BlobType::Data };
        used.insert(index, t, &Id([b; 32]));
    }
    used
}

#[test]
fn missing_used_blob_refuses() {
    let idx = index(&[pack(1, &[(1, false)])]);
    let err = classify(
        &idx,
        &used(&idx, &[(1, false), (2, false)]),
        &crate::NoProgress,
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::Inconsistent(_)), "{err:?}");
    assert!(err.to_string().contains("index is not complete"));
    assert!(err.to_string().contains("repair index"), "{err}");
}

#[test]
fn decisions_follow_restic() {
    // 1: all used data; 2: half used data; 3: unused; 4: tree pack, one
    // unused blob; 5: in the index but missing and unused; 6: missing from
    // the index (unreferenced).
    let packs = vec![
        pack(1, &[(10, false), (11, false)]),
        pack(2, &[(20, false), (21, false)]),
        pack(3, &[(30, false)]),
        pack(4, &[(40, true), (41, true)]),
        pack(5, &[(50, false)]),
    ];
    let idx = index(&packs);
    let blobs = used(&idx, &[(10, false), (11, false), (20, false), (40, true)]);
    let c = classify(&idx, &blobs, &crate::NoProgress).unwrap();
    assert_eq!(c.stats.used.blobs, 4);
    assert_eq!(c.stats.unused.blobs, 4);
    let mut listed: Vec<(Id, u64)> = packs[..4].iter().map(|p| (p.id, size(p))).collect();
    listed.push((Id([6; 32]), 777));
    let mut opts = PruneOptions::default();
    // Small packs (below 1/25 of the target) are always repacked; a tiny
    // target makes these packs count as large enough.
    opts.write.pack_size = 25_000;
    opts.max_unused = MaxUnused::Bytes(0);
    let plan = decide(
        &opts,
        2,
        c.packs.clone(),
        &listed,
        c.stats.clone(),
        &crate::NoProgress,
    )
    .unwrap();
    assert_eq!(plan.remove, [Id([3; 32])].into());
    assert_eq!(plan.repack, [Id([2; 32]), Id([4; 32])].into());
    assert_eq!(plan.ignore, [Id([5; 32])].into());
    assert_eq!(plan.remove_first, [Id([6; 32])].into());
    assert_eq!(plan.stats.unreferenced_bytes, 777);
    assert_eq!(plan.stats.packs_keep, 1);

    // Unlimited unused space: the data pack stays, the tree pack is
    // still repacked; cacheable-only never touches data packs.
    opts.max_unused = MaxUnused::Unlimited;
    let plan = decide(
        &opts,
        2,
        c.packs.clone(),
        &listed,
        c.stats.clone(),
        &crate::NoProgress,
    )
    .unwrap();
    assert_eq!(plan.repack, [Id([4; 32])].into());
    opts.max_unused = MaxUnused::Bytes(0);
    opts.repack_cacheable_only = true;
    let plan = decide(
        &opts,
        2,
        c.packs.clone(),
        &listed,
        c.stats.clone(),
        &crate::NoProgress,
    )
    .unwrap();
    assert_eq!(plan.repack, [Id([4; 32])].into());
    opts.repack_cacheable_only = false;
    opts.max_repack_bytes = Some(1);
    let plan = decide(
        &opts,
        2,
        c.packs.clone(),
        &listed,
        c.stats.clone(),
        &crate::NoProgress,
    )
    .unwrap();
    assert!(plan.repack.is_empty());

    // A needed pack that is missing, or of the wrong size, refuses.
    let err = decide(
        &opts,
        2,
        c.packs.clone(),
        &listed[1..],
        c.stats.clone(),
        &crate::NoProgress,
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::Inconsistent(_)), "{err:?}");
    assert!(
        err.to_string().contains("packs from index missing")
            && err.to_string().contains("run `repair index`"),
        "{err}"
    );
    listed[0].1 += 1;
    let err = decide(&opts, 2, c.packs, &listed, c.stats, &crate::NoProgress)
        .err()
        .unwrap();
    assert!(matches!(err, Error::Inconsistent(_)), "{err:?}");
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn duplicates_keep_the_copy_in_a_pack_of_duplicates() {
    // Pack 1 (old): blob 1 used, blob 2 unused. Pack 2 (what an
    // interrupted prune wrote): blob 1 again. The copy in pack 2 is kept,
    // so pack 1 becomes unused.
    let packs = vec![pack(1, &[(1, false), (2, false)]), pack(2, &[(1, false)])];
    let idx = index(&packs);
    let c = classify(&idx, &used(&idx, &[(1, false)]), &crate::NoProgress).unwrap();
    assert_eq!(c.stats.used.blobs, 1);
    assert_eq!(c.stats.duplicate.blobs, 1);
    assert_eq!(c.packs[&Id([1; 32])].used_blobs, 0);
    assert_eq!(c.packs[&Id([2; 32])].used_blobs, 1);
    let listed: Vec<(Id, u64)> = packs.iter().map(|p| (p.id, size(p))).collect();
    let opts = PruneOptions::default();
    let plan = decide(&opts, 2, c.packs, &listed, c.stats, &crate::NoProgress).unwrap();
    assert_eq!(plan.remove, [Id([1; 32])].into());
    assert!(plan.repack.is_empty());
}

/// The classification as a set of IDs and a map of copy counts give it
/// (how it was computed before the used blobs became bits): the model the
/// bit-based [`classify`] must agree with.
fn classify_model(
    index: &crate::Index,
    used: &std::collections::HashSet<(BlobType, Id)>,
) -> (
    std::collections::HashMap<Id, classify::PackInfo>,
    PruneStats,
) {
    use classify::{PackInfo, PackKind};
    let mut copies: std::collections::HashMap<(BlobType, Id), u8> =
        used.iter().map(|&k| (k, 0)).collect();
    for loc in index.iter() {
        if let Some(c) = copies.get_mut(&(loc.blob_type, loc.id)) {
            *c = c.saturating_add(1);
        }
    }
    let mut stats = PruneStats::default();
    let mut packs: std::collections::HashMap<Id, PackInfo> = Default::default();
    for loc in index.iter() {
        let info = packs.entry(loc.pack).or_insert(PackInfo {
            used_blobs: 0,
            unused_blobs: 0,
            duplicate_blobs: 0,
            used_size: 36,
            unused_size: 0,
            kind: PackKind::Empty,
            uncompressed: false,
        });
        info.used_size += if loc.uncompressed_length.is_some() {
            41
        } else {
            37
        };
        info.kind = match (info.kind, loc.blob_type) {
            (PackKind::Empty | PackKind::Data, BlobType::Data) => PackKind::Data,
            (PackKind::Empty | PackKind::Tree, BlobType::Tree) => PackKind::Tree,
            _ => PackKind::Mixed,
        };
        let size = u64::from(loc.length);
        match copies.get(&(loc.blob_type, loc.id)) {
            Some(&c) if c >= 2 => {
                info.unused_size += size;
                info.unused_blobs += 1;
                info.duplicate_blobs += 1;
                stats.duplicate.add(size);
            }
            Some(_) => {
                info.used_size += size;
                info.used_blobs += 1;
                stats.used.add(size);
            }
            None => {
                info.unused_size += size;
                info.unused_blobs += 1;
                stats.unused.add(size);
            }
        }
        if loc.uncompressed_length.is_none() {
            info.uncompressed = true;
        }
    }
    for loc in index.iter() {
        let Some(count) = copies.get_mut(&(loc.blob_type, loc.id)) else {
            continue;
        };
        if *count == 1 {
            continue;
        }
        let info = packs.get_mut(&loc.pack).unwrap();
        let size = u64::from(loc.length);
        if info.used_blobs > 0 || info.duplicate_blobs == info.unused_blobs || *count == 0 {
            info.used_size += size;
            info.used_blobs += 1;
            info.unused_size -= size;
            info.unused_blobs -= 1;
            stats.used.add(size);
            stats.duplicate.sub(size);
            *count = 1;
        } else {
            *count -= 1;
            if *count == 1 {
                *count = 0;
            }
        }
    }
    (packs, stats)
}

proptest::proptest! {
    /// Used, unused and duplicate blobs per pack, and which copy of a
    /// duplicated blob is kept, are as the set-based model decides; so are
    /// the blobs to copy for a repack.
    #[test]
    fn classification_agrees_with_the_set_model(
        blobs in proptest::collection::vec((0u8..12, proptest::bool::ANY, 1u8..6, proptest::bool::ANY), 1..60),
        used_ids in proptest::collection::vec((0u8..12, proptest::bool::ANY), 0..20),
        repacked in proptest::collection::btree_set(1u8..6, 0..3),
    ) {
        let mut b = IndexBuilder::default();
        for (i, &(id, tree, pack, compressed)) in blobs.iter().enumerate() {
            b.add(&IndexFile { packs: vec![IndexPack { id: Id([pack; 32]), blobs: vec![IndexBlob {
                id: Id([id; 32]),
                blob_type: if tree { BlobType::Tree } else { BlobType::Data },
                offset: i as u64 * 100,
                length: 50 + u32::from(id),
                uncompressed_length: compressed.then_some(99),
            }] }] }).unwrap();
        }
        let idx = b.finish();
        // Only blobs the index knows: unknown ones refuse (tested above).
        let known: std::collections::HashSet<(BlobType, Id)> = idx.iter().map(|l| (l.blob_type, l.id)).collect();
        let model_used: std::collections::HashSet<(BlobType, Id)> = used_ids
            .iter()
            .map(|&(id, tree)| (if tree { BlobType::Tree } else { BlobType::Data }, Id([id; 32])))
            .filter(|k| known.contains(k))
            .collect();
        let bits = UsedBlobs::new(&idx);
        for (t, id) in &model_used {
            bits.insert(&idx, *t, id);
        }
        let c = classify(&idx, &bits, &crate::NoProgress).unwrap();
        let (packs, stats) = classify_model(&idx, &model_used);
        proptest::prop_assert_eq!(&c.packs, &packs);
        proptest::prop_assert_eq!(&c.stats, &stats);

        let repack: BTreeSet<Id> = repacked.iter().map(|&p| Id([p; 32])).collect();
        let remove = BTreeSet::from([Id([5; 32])]);
        let mut expected = model_used.clone();
        for loc in idx.iter() {
            if !repack.contains(&loc.pack) && !remove.contains(&loc.pack) {
                expected.remove(&(loc.blob_type, loc.id));
            }
        }
        proptest::prop_assert_eq!(classify::blobs_to_copy(&idx, &bits, &repack, &remove), expected);
    }
}
