//! `stats` in every mode on two hand-built snapshots; the expected totals
//! are worked out by hand from restic 0.14's counting rules.

use super::*;
use crate::diff::tests::TestRepo;

struct Setup {
    t: TestRepo,
    roots: [Id; 2],
    /// Data blobs p, q, r, s, u.
    blobs: [Id; 5],
    trees: Vec<Id>,
}

fn with_inode(mut n: Node, inode: u64, size: u64) -> Node {
    n.inode = inode;
    n.size = size;
    n
}

/// Snapshot 1: `a` and `b` hard-linked (inode 10), `c` and `d` with inode
/// 0 and the same content, `dir/` holding `e` and an empty file, and a
/// symlink. Snapshot 2: `a` again, `c` with new content at the same path,
/// `moved/e` (the same `e` elsewhere) and a new `z`.
fn setup() -> Setup {
    // Version 1: stored length = plaintext + 32 bytes, never compressed.
    let mut t = TestRepo::new(1);
    let [p, q, r, s, u] = ["p", "qq", "rrr", "ssss", "uuuuu"].map(|x| t.blob(x.as_bytes()));
    let e = with_inode(t.file("e", &[p, r]), 21, 4);
    let dir = {
        let empty = with_inode(t.file("empty", &[]), 22, 0);
        with_inode(t.dir("dir", vec![e.clone(), empty]), 20, 0)
    };
    let mut link = with_inode(Node::new("link", NodeType::Symlink), 23, 0);
    link.link_target = b"a".to_vec();
    let snap1 = vec![
        with_inode(t.file("a", &[p]), 10, 5),
        with_inode(t.file("b", &[p]), 10, 5),
        with_inode(t.file("c", &[q]), 0, 3),
        with_inode(t.file("d", &[q]), 0, 3),
        dir.clone(),
        link,
    ];
    let moved = with_inode(t.dir("moved", vec![e]), 24, 0);
    let snap2 = vec![
        with_inode(t.file("a", &[p]), 10, 5),
        with_inode(t.file("c", &[q, u]), 0, 9),
        moved.clone(),
        with_inode(t.file("z", &[s, p]), 30, 7),
    ];
    let roots = [t.tree(snap1), t.tree(snap2)];
    let trees = vec![
        roots[0],
        roots[1],
        dir.subtree.unwrap(),
        moved.subtree.unwrap(),
    ];
    t.finish();
    Setup {
        t,
        roots,
        blobs: [p, q, r, s, u],
        trees,
    }
}

fn run(s: &Setup, mode: CountMode, roots: &[Id]) -> StatsReport {
    stats(
        &s.t.repo,
        roots,
        &StatsOptions {
            mode,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn restore_size_counts_every_node_and_hard_links_once() {
    let s = setup();
    // 8 nodes; a=5 (b is its hard link), c=3, d=3 (inode 0), e=4.
    let one = run(&s, CountMode::RestoreSize, &s.roots[..1]);
    assert_eq!((one.total_file_count, one.total_size), (8, 15));
    // Inodes are forgotten between snapshots: + a, c, moved, e, z.
    let both = run(&s, CountMode::RestoreSize, &s.roots);
    let expected = StatsReport {
        total_size: 15 + 5 + 9 + 4 + 7,
        total_file_count: 13,
        total_blob_count: 0,
        snapshots_count: 2,
        ..Default::default()
    };
    assert_eq!(both, expected);
}

#[test]
fn files_by_contents_counts_each_content_once() {
    let s = setup();
    // a [p] 5, c [q] 3, dir (empty content) 0, e [p r] 4; the empty file
    // and the symlink share the directory's empty content.
    let one = run(&s, CountMode::FilesByContents, &s.roots[..1]);
    assert_eq!((one.total_file_count, one.total_size), (4, 12));
    // + c [q u] 9, z [s p] 7.
    let both = run(&s, CountMode::FilesByContents, &s.roots);
    assert_eq!((both.total_file_count, both.total_size), (6, 28));
    assert_eq!(both.total_blob_count, 0);
}

#[test]
fn blobs_per_file_counts_blobs_per_path() {
    let s = setup();
    let [p, q, r, s_, u] = s.blobs.map(|b| s.t.plain_sizes[&b]);
    let one = run(&s, CountMode::BlobsPerFile, &s.roots[..1]);
    // /a: p; /c: q; /dir/e: p r.
    assert_eq!(
        (one.total_file_count, one.total_blob_count, one.total_size),
        (3, 4, p + q + p + r)
    );
    // /c again (new content): only u is new there; /z: s p.
    let both = run(&s, CountMode::BlobsPerFile, &s.roots);
    assert_eq!(
        (
            both.total_file_count,
            both.total_blob_count,
            both.total_size
        ),
        (4, 7, p + q + p + r + u + s_ + p)
    );
}

#[test]
fn raw_data_counts_stored_blobs_once() {
    let s = setup();
    let stored = |ids: &[Id]| ids.iter().map(|i| s.t.plain_sizes[i] + 32).sum::<u64>();
    let all: Vec<Id> = s.blobs.iter().chain(&s.trees).copied().collect();
    let both = run(&s, CountMode::RawData, &s.roots);
    let expected = StatsReport {
        total_size: stored(&all),
        total_file_count: 0,
        total_blob_count: 9,
        snapshots_count: 2,
        ..Default::default()
    };
    assert_eq!(both, expected);
    // The same snapshot twice counts its blobs once, but twice as a snapshot.
    let twice = run(&s, CountMode::RawData, &[s.roots[0], s.roots[0]]);
    assert_eq!(twice.snapshots_count, 2);
    assert_eq!(twice.total_blob_count, 2 + 3); // root, dir; p, q, r
}

#[test]
fn modes_parse_by_restic_name_only() {
    for m in [
        CountMode::RestoreSize,
        CountMode::FilesByContents,
        CountMode::BlobsPerFile,
        CountMode::RawData,
    ] {
        assert_eq!(CountMode::parse(m.as_str()).unwrap(), m);
    }
    let e = CountMode::parse("Raw-Data").unwrap_err().to_string();
    assert_eq!(
        e,
        "unknown counting mode: Raw-Data (use the -h flag to get a list of supported modes)"
    );
    assert_eq!(CountMode::default(), CountMode::RestoreSize);
}

#[test]
fn a_missing_tree_ends_the_walk() {
    let s = setup();
    let ghost = Id::hash(b"no such tree");
    for mode in [CountMode::RestoreSize, CountMode::RawData] {
        assert!(stats(
            &s.t.repo,
            &[ghost],
            &StatsOptions {
                mode,
                ..Default::default()
            }
        )
        .is_err());
    }
}
