use super::*;
use crate::walk::{walk, Visit};

#[test]
fn doc_example() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
    let blob = c.data(b"hello").unwrap();
    let tree = c
        .tree(vec![file("f", &[blob], 5), file("f", &[], 0)])
        .unwrap();
    let deep = c.chain(1000, tree).unwrap();
    let root = c.tree(vec![dir("top", deep)]).unwrap();
    let snapshot = c.snapshot(root).unwrap();
    assert_eq!(c.repo().list_ids(FileType::Snapshot).unwrap()[0].0, snapshot);
}

#[test]
fn crafted_trees_read_back_unsorted_with_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Crafter::init(&tmp.path().join("repo"), 1).unwrap();
    let mut setuid = file("f", &[], 0);
    setuid.mode = crate::format::mode::SETUID | 0o777;
    let nodes = vec![
        symlink("f", "/elsewhere/victim"),
        setuid,
        file("../up", &[], 0),
        file("a/b", &[], 0),
    ];
    let root = c.tree(nodes.clone()).unwrap();
    c.snapshot(root).unwrap();
    assert_eq!(c.repo().load_tree(&root).unwrap().nodes, nodes);
}

#[test]
fn a_mismatched_blob_fails_its_hash_check_and_a_corrupted_one_its_mac() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
    let claimed = Id::hash(b"something else");
    c.mismatched_blob(BlobType::Tree, claimed, b"{\"nodes\":[]}\n")
        .unwrap();
    let good = c.tree(vec![file("x", &[], 0)]).unwrap();
    c.flush().unwrap();
    let err = c.repo().load_tree(&claimed).unwrap_err().to_string();
    assert!(err.contains("SHA-256"), "{err}");
    assert!(c.repo().load_tree(&good).is_ok());
    c.corrupt_blob(BlobType::Tree, &good).unwrap();
    assert!(c.repo().load_tree(&good).is_err());
}

#[test]
fn a_chain_is_as_deep_as_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
    let leaf = c.tree(vec![]).unwrap();
    let top = c.chain(300, leaf).unwrap();
    c.snapshot(top).unwrap();
    let mut deepest = 0;
    walk(
        c.repo(),
        &top,
        &mut |path, _| {
            deepest = deepest.max(path.len() / 2);
            Ok(Visit::Continue)
        },
        &mut |_, e| Err(e),
    )
    .unwrap();
    assert_eq!(deepest, 300);
}

#[test]
fn bombs_are_small_on_disk_and_expand_as_announced() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
    let bomb = BombRepeat {
        prefix: b"[",
        unit: b"1,",
        count: 4 << 20,
        suffix: b"1]",
    };
    let frame = bomb.zstd_frame();
    assert!(frame.len() < 4096, "{}", frame.len());
    let plain = cairn_format::decompress_bounded(&frame, 16 << 20).unwrap();
    assert_eq!(plain.len() as u64, bomb.expanded_len());
    let id = c.snapshot_tags_bomb(Id::default(), 1 << 20).unwrap();
    let size = std::fs::metadata(c.file_path(FileType::Snapshot, &id))
        .unwrap()
        .len();
    assert!(size < 4096, "{size}");
    assert!(c.index_bomb(1 << 20).is_ok());
}

#[test]
fn a_claim_can_say_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
    let id = Id::hash(b"claimed");
    let frame = BombRepeat {
        prefix: b"",
        unit: b"a",
        count: 1 << 20,
        suffix: b"",
    }
    .zstd_frame();
    c.raw_blob_pack(BlobType::Data, id, &frame, Some(u32::MAX))
        .unwrap();
    let loc = c.locate(BlobType::Data, &id).unwrap();
    assert_eq!(loc.uncompressed_length, Some(u32::MAX));
}
