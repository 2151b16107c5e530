//! Small hostile files that claim or expand to gigabytes: each costs
//! Cairn far less than 1 GiB and ends the command with one clean line
//! and exit code 1, never an allocation failure or abort. Every run here
//! is limited to 1 GiB of address space.

mod common;

use cairn::format::limits::{
    MAX_DATA_BLOB, MAX_INDEX_JSON, MAX_SNAPSHOT_JSON, MAX_TREE_BLOB, MAX_TREE_NODES,
};
use cairn::format::BlobType;
use cairn::testing::{file, BombRepeat, Crafter};
use cairn::Id;
use common::crafted::Limits;
use common::{Fixture, Run};

const ONE_GIB: u64 = 1 << 30;

fn limited() -> Limits {
    Limits {
        address_space: Some(ONE_GIB),
        ..Limits::default()
    }
}

/// Exit 1 with one line on stderr that contains `expected`.
fn assert_clean_failure(run: &Run, expected: &str) {
    run.assert_no_panic();
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.describe());
    assert!(lines[0].contains(expected), "{}", run.describe());
}

#[test]
fn a_blob_claiming_gigabytes_is_refused_before_it_is_read() {
    let (f, mut c): (Fixture, Crafter) = Fixture::crafted(2);
    // 100 KB of zstd that really expands to 1.5 GiB, claimed as such.
    let expanded: u32 = 3 << 29;
    let frame = BombRepeat {
        prefix: b"",
        unit: b"a",
        count: u64::from(expanded),
        suffix: b"",
    }
    .zstd_frame();
    assert!(frame.len() < 200_000, "{}", frame.len());
    let id = Id::hash(b"a blob nobody has");
    c.raw_blob_pack(BlobType::Data, id, &frame, Some(expanded))
        .unwrap();
    let root = c.tree(vec![file("f", &[id], u64::from(expanded))]).unwrap();
    let snap = c.snapshot(root).unwrap().to_hex();
    let run = f.cairn_limited(limited(), ["dump", &snap, "/f"]);
    assert_clean_failure(&run, &format!("exceeds the limit of {MAX_DATA_BLOB} bytes"));
    let run = f.cairn_limited(limited(), ["cat", "blob", &id.to_hex()]);
    run.assert_no_panic();
    assert_eq!(run.code, Some(1), "{}", run.describe());
}

#[test]
fn a_snapshot_that_expands_to_a_gigabyte_is_refused_at_its_limit() {
    let (f, mut c): (Fixture, Crafter) = Fixture::crafted(2);
    let root = c.tree(vec![]).unwrap();
    c.flush().unwrap();
    let bomb = c.snapshot_tags_bomb(root, ONE_GIB).unwrap();
    let size = std::fs::metadata(c.file_path(cairn::FileType::Snapshot, &bomb))
        .unwrap()
        .len();
    assert!(size < 200_000, "{size}");
    let expected = format!("larger than the limit of {MAX_SNAPSHOT_JSON} bytes");
    let run = f.cairn_limited(limited(), ["cat", "snapshot", &bomb.to_hex()]);
    assert_clean_failure(&run, &expected);
    let run = f.cairn_limited(limited(), ["ls", &bomb.to_hex()]);
    assert_clean_failure(&run, &expected);
    // Listing every snapshot reports it and does not abort.
    let run = f.cairn_limited(limited(), ["snapshots"]);
    run.assert_no_panic();
    assert!(run.stderr.contains(&expected), "{}", run.describe());
}

#[test]
fn an_index_that_expands_to_a_gigabyte_is_refused_at_its_limit() {
    let (f, mut c): (Fixture, Crafter) = Fixture::crafted(2);
    let blob = c.data(b"hello").unwrap();
    let root = c.tree(vec![file("f", &[blob], 5)]).unwrap();
    let snap = c.snapshot(root).unwrap().to_hex();
    let bomb = c.index_bomb(ONE_GIB).unwrap();
    let expected = format!("larger than the limit of {MAX_INDEX_JSON} bytes");
    let run = f.cairn_limited(limited(), ["cat", "index", &bomb.to_hex()]);
    assert_clean_failure(&run, &expected);
    // Commands that load the whole index report it and do not abort.
    for args in [&["ls", &snap][..], &["check"]] {
        let run = f.cairn_limited(limited(), args);
        run.assert_no_panic();
        assert!(run.stderr.contains(&expected), "{}", run.describe());
    }
}

#[test]
fn a_tree_of_ten_million_empty_nodes_is_refused_at_its_node_limit() {
    let (f, mut c): (Fixture, Crafter) = Fixture::crafted(2);
    // Within the tree byte limit, but some 4 GiB once parsed: on main this
    // aborted with a failed allocation under the 1 GiB limit.
    let bomb = BombRepeat {
        prefix: b"{\"nodes\":[",
        unit: b"{\"name\":\"\"},",
        count: 10_000_000,
        suffix: b"{\"name\":\"\"}]}",
    };
    let len = bomb.expanded_len();
    assert!(len <= MAX_TREE_BLOB as u64, "{len}");
    // The blob must pass its hash check for its JSON to be parsed at all.
    let mut plain = bomb.prefix.to_vec();
    plain.extend(bomb.unit.repeat(bomb.count as usize));
    plain.extend_from_slice(bomb.suffix);
    let id = Id::hash(&plain);
    drop(plain);
    c.raw_blob_pack(BlobType::Tree, id, &bomb.zstd_frame(), Some(len as u32))
        .unwrap();
    let root = c.tree(vec![cairn::testing::dir("d", id)]).unwrap();
    let snap = c.snapshot(root).unwrap().to_hex();
    let expected = format!("tree has more than {MAX_TREE_NODES} nodes");
    let target = f.scratch("restored");
    let target = target.to_str().unwrap();
    for args in [&["ls", &snap][..], &["restore", &snap, "--target", target]] {
        let run = f.cairn_limited(limited(), args);
        run.assert_no_panic();
        assert_eq!(run.code, Some(1), "{}", run.describe());
        assert!(run.stderr.contains(&expected), "{}", run.describe());
    }
}

#[test]
fn the_limits_leave_real_work_alone() {
    let (f, mut c): (Fixture, Crafter) = Fixture::crafted(2);
    // A blob of restic's largest chunk size.
    let big = vec![7u8; 8 << 20];
    let blob = c.data(&big).unwrap();
    let root = c.tree(vec![file("f", &[blob], big.len() as u64)]).unwrap();
    let snap = c.snapshot(root).unwrap().to_hex();
    let run = f.cairn_limited(limited(), ["dump", &snap, "/f"]).ok();
    assert_eq!(run.stdout, big);
    f.cairn_limited(limited(), ["check", "--read-data"]).ok();
}
