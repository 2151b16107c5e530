//! Tests of `diff` on trees built by hand, plus the small repository
//! builder the `stats` tests share.

use super::*;
use crate::write::{BlobWriter, WriteOptions};
use crate::InitOptions;
use cairn_format::Tree;
use std::sync::Arc;

/// A temporary repository that trees and blobs are written into; the
/// plaintext size of everything saved is remembered for expectations.
pub(crate) struct TestRepo {
    _dir: tempfile::TempDir,
    pub repo: Repository,
    writer: Option<BlobWriter>,
    pub plain_sizes: HashMap<Id, u64>,
}

impl TestRepo {
    pub fn new(version: u32) -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(crate::LocalBackend::new(dir.path().join("repo")));
        let opts = InitOptions {
            version,
            scrypt: Some(cairn_crypto::ScryptParams {
                n: 1024,
                r: 8,
                p: 1,
            }),
            ..InitOptions::default()
        };
        let repo = Repository::init(backend, "pw", &opts).unwrap();
        let writer = BlobWriter::new(&repo, WriteOptions::default()).unwrap();
        TestRepo {
            _dir: dir,
            repo,
            writer: Some(writer),
            plain_sizes: HashMap::new(),
        }
    }

    fn save(&mut self, blob_type: BlobType, plain: &[u8]) -> Id {
        let saved = self.writer.as_ref().unwrap().save_blob(blob_type, plain);
        let id = saved.unwrap().id;
        self.plain_sizes.insert(id, plain.len() as u64);
        id
    }

    /// A data blob holding `bytes`.
    pub fn blob(&mut self, bytes: &[u8]) -> Id {
        self.save(BlobType::Data, bytes)
    }

    /// A file node whose content is `blobs` (all of type data).
    pub fn file(&mut self, name: &str, blobs: &[Id]) -> Node {
        let mut n = Node::new(name, NodeType::File);
        n.size = blobs.iter().map(|b| self.plain_sizes[b]).sum();
        n.content = Some(blobs.to_vec());
        n
    }

    /// A tree of `nodes` (sorted by name, as restic stores them).
    pub fn tree(&mut self, mut nodes: Vec<Node>) -> Id {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        self.save(BlobType::Tree, &Tree { nodes }.to_json())
    }

    /// A directory node holding `nodes`.
    pub fn dir(&mut self, name: &str, nodes: Vec<Node>) -> Node {
        let mut n = Node::new(name, NodeType::Dir);
        n.subtree = Some(self.tree(nodes));
        n
    }

    /// Writes the packs and the index, then loads it.
    pub fn finish(&mut self) {
        self.writer.take().unwrap().flush().unwrap();
        self.repo.invalidate_index();
        self.repo.load_index().unwrap();
    }
}

fn tree_of(node: &Node) -> Id {
    node.subtree.unwrap()
}

fn lines(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| format!("{:<5}{}", c.modifier, String::from_utf8_lossy(&c.path)))
        .collect()
}

/// Every kind of change at once; the expected counts follow restic 0.14's
/// rules (see the module docs), worked out by hand.
#[test]
fn diff_reports_changes_and_blob_counts_like_restic() {
    let mut t = TestRepo::new(2);
    let [a, a2, c, d, f, k, m, n, x, y, z, tt] =
        ["a", "a2", "c", "d", "f", "k", "m", "n", "x", "y", "z", "t"]
            .map(|s| t.blob(format!("content of {s}").as_bytes()));

    let mut meta_before = t.file("meta", &[m]);
    meta_before.mode = 0o644;
    let mut meta_after = meta_before.clone();
    meta_after.mode = 0o600;
    let same_x = t.file("x", &[x]);
    let same_before = t.dir("same", vec![same_x.clone()]);
    let same_after = t.dir("same", vec![same_x]);
    let zf = t.file("z", &[z]);
    let sub = t.dir("sub", vec![zf]);
    let gone_sub = tree_of(&sub);
    let yf = t.file("y", &[y]);
    let gone_node = t.dir("gone", vec![sub, yf]);
    let before_nodes = vec![
        t.file("a.txt", &[a]),
        {
            let child = t.file("c", &[c]);
            t.dir("d2f", vec![child])
        },
        t.file("f2d", &[f]),
        gone_node,
        meta_before,
        same_before.clone(),
        t.file("typechange", &[tt]),
    ];
    let after_nodes = vec![
        t.file("a.txt", &[a2]),
        t.file("d2f", &[d]),
        {
            let child = t.file("k", &[k]);
            t.dir("f2d", vec![child])
        },
        meta_after,
        {
            let nf = t.file("n", &[n]);
            t.dir("new", vec![nf])
        },
        same_after,
        {
            let mut l = Node::new("typechange", NodeType::Symlink);
            l.link_target = b"/elsewhere".to_vec();
            l
        },
    ];
    let trees_of = |nodes: &[Node], name: &str| {
        tree_of(nodes.iter().find(|n| n.name == name.as_bytes()).unwrap())
    };
    let (gone, d2f, f2d, new) = (
        trees_of(&before_nodes, "gone"),
        trees_of(&before_nodes, "d2f"),
        trees_of(&after_nodes, "f2d"),
        trees_of(&after_nodes, "new"),
    );
    let root1 = t.tree(before_nodes);
    let root2 = t.tree(after_nodes);
    t.finish();

    let plain = diff(&t.repo, &root1, &root2, &DiffOptions::default()).unwrap();
    assert_eq!(
        lines(&plain.changes),
        [
            "M    /a.txt",
            "T    /d2f",
            "T    /f2d/",
            "-    /gone/",
            "-    /gone/sub/",
            "-    /gone/sub/z",
            "-    /gone/y",
            "+    /new/",
            "+    /new/n",
            "T    /typechange",
        ]
    );
    let with_meta = diff(
        &t.repo,
        &root1,
        &root2,
        &DiffOptions {
            metadata: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        lines(&with_meta.changes),
        [
            "M    /a.txt",
            "TU   /d2f",
            "TU   /f2d/",
            "-    /gone/",
            "-    /gone/sub/",
            "-    /gone/sub/z",
            "-    /gone/y",
            "U    /meta",
            "+    /new/",
            "+    /new/n",
            "TU   /typechange",
        ]
    );

    let s = &plain.summary;
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.changed_files, 1);
    // Only blobs the walk saw count: the children of d2f and f2d (c, k)
    // are never visited; x sits below a shared subtree, m on both sides.
    let size = |ids: &[Id]| ids.iter().map(|i| t.plain_sizes[i]).sum::<u64>();
    let removed = DiffStat {
        files: 2,
        dirs: 2,
        others: 0,
        data_blobs: 5,
        tree_blobs: 4,
        bytes: size(&[a, f, z, y, tt, root1, d2f, gone, gone_sub]),
    };
    let added = DiffStat {
        files: 1,
        dirs: 1,
        others: 0,
        data_blobs: 3,
        tree_blobs: 3,
        bytes: size(&[a2, d, n, root2, f2d, new]),
    };
    assert_eq!(s.removed, removed);
    assert_eq!(s.added, added);
    assert_eq!(with_meta.summary.added, added);

    // Reversed, added and removed swap.
    let back = diff(&t.repo, &root2, &root1, &DiffOptions::default()).unwrap();
    assert_eq!(back.summary.added, removed);
    assert_eq!(back.summary.removed, added);

    // A tree compared with itself has no changes and no blobs of its own.
    let same = diff(
        &t.repo,
        &root1,
        &root1,
        &DiffOptions {
            metadata: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(same.changes.is_empty());
    assert_eq!(same.summary.added, DiffStat::default());
    assert_eq!(same.summary.removed, DiffStat::default());
}

#[test]
fn unreadable_subtrees_are_problems_and_missing_roots_errors() {
    let mut t = TestRepo::new(1);
    let mut ghost = Node::new("ghost", NodeType::Dir);
    ghost.subtree = Some(Id::hash(b"not stored"));
    let root1 = t.tree(vec![]);
    let root2 = t.tree(vec![ghost]);
    t.finish();
    let d = diff(&t.repo, &root1, &root2, &DiffOptions::default()).unwrap();
    assert_eq!(lines(&d.changes), ["+    /ghost/"]);
    let problems: Vec<String> = d.summary.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("error: "), "{problems:?}");
    assert!(
        problems[1].starts_with("unable to find blob size for <tree/"),
        "{problems:?}"
    );
    assert!(diff(
        &t.repo,
        &root1,
        &Id::hash(b"nothing"),
        &DiffOptions::default()
    )
    .is_err());
}

#[test]
fn xattrs_compare_as_sets() {
    let attr = |n: &str, v: &[u8]| ExtendedAttribute {
        name: n.into(),
        value: v.to_vec(),
    };
    let mut a = Node::new("f", NodeType::File);
    a.extended_attributes = vec![attr("user.a", b"1"), attr("user.b", b"")];
    let mut b = a.clone();
    b.extended_attributes.reverse();
    assert!(same_node(&a, &b));
    b.extended_attributes[0].value = b"x".to_vec();
    assert!(!same_node(&a, &b));
    b.extended_attributes = vec![attr("user.a", b"1")];
    assert!(!same_node(&a, &b));
    // Times are compared as instants, whatever the zone.
    let mut c = a.clone();
    c.mtime.offset_secs = 3600;
    assert!(same_node(&a, &c));
    c.mtime.nanos += 1;
    assert!(!same_node(&a, &c));
}

/// Builds a small tree from `script` (consumed byte by byte): up to four
/// entries per directory, each a file (one of four contents), a symlink,
/// or (above `depth` 0) a directory.
fn scripted_tree(t: &mut TestRepo, script: &mut impl Iterator<Item = u8>, depth: u32) -> Vec<Node> {
    let mut nodes = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let pick = script.next().unwrap_or(0);
        match pick % 5 {
            0 => {}
            1 | 2 => {
                let blob = t.blob(format!("blob {}", pick / 5 % 4).as_bytes());
                nodes.push(t.file(name, &[blob]));
            }
            3 if depth > 0 => {
                let children = scripted_tree(t, script, depth - 1);
                nodes.push(t.dir(name, children));
            }
            _ => {
                let mut l = Node::new(name, NodeType::Symlink);
                l.link_target = vec![b'0' + pick % 3];
                nodes.push(l);
            }
        }
    }
    nodes
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
    /// Swapping the sides swaps added and removed, keeps the changed files,
    /// and turns every `+` into a `-`; a tree has no diff with itself.
    #[test]
    fn reversing_a_diff_swaps_its_sides(
        s1 in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        s2 in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
    ) {
        let mut t = TestRepo::new(2);
        let n1 = scripted_tree(&mut t, &mut s1.into_iter(), 2);
        let n2 = scripted_tree(&mut t, &mut s2.into_iter(), 2);
        let (r1, r2) = (t.tree(n1), t.tree(n2));
        t.finish();
        let opts = DiffOptions { metadata: true, ..Default::default() };
        let ab = diff(&t.repo, &r1, &r2, &opts).unwrap();
        let ba = diff(&t.repo, &r2, &r1, &opts).unwrap();
        proptest::prop_assert_eq!(ab.summary.added, ba.summary.removed);
        proptest::prop_assert_eq!(ab.summary.removed, ba.summary.added);
        proptest::prop_assert_eq!(ab.summary.changed_files, ba.summary.changed_files);
        let with = |d: &Diff, m: &str| -> Vec<Vec<u8>> {
            let mut v: Vec<Vec<u8>> = d.changes.iter().filter(|c| c.modifier == m).map(|c| c.path.clone()).collect();
            v.sort();
            v
        };
        proptest::prop_assert_eq!(with(&ab, "+"), with(&ba, "-"));
        proptest::prop_assert_eq!(with(&ab, "M").len() as u64, ab.summary.changed_files);
        let a = &ab.summary.added;
        proptest::prop_assert_eq!(a.files + a.dirs + a.others, with(&ab, "+").len() as u64);
        let same = diff(&t.repo, &r1, &r1, &opts).unwrap();
        proptest::prop_assert!(same.changes.is_empty());
        proptest::prop_assert_eq!(same.summary.added, DiffStat::default());
    }
}
