use super::*;
use crate::restore::dirs::DirFds;
use crate::restore::tests::{dir, file, node, Fake};

fn plan(fake: &Fake, root: &Id, opts: &RestoreOptions) -> Plan {
    let load = |id: &Id| fake.load(id);
    let selector = Selector::new(opts);
    let fds = DirFds::new(None);
    Planner::run(
        &load,
        &selector,
        opts.overwrite,
        root,
        Path::new("/t"),
        &fds,
        &|| false,
        None,
    )
    .unwrap()
}

fn locations(tree: &DirTree, d: usize, out: &mut Vec<String>) {
    for item in &tree.dirs[d].items {
        match item {
            PlanItem::Dir(sub) => {
                let l = tree.location(*sub, None);
                out.push(format!("dir {}", String::from_utf8_lossy(&l)));
                locations(tree, *sub, out);
            }
            PlanItem::File(i) => out.push(format!("file {i}")),
            PlanItem::Hardlink { node, first } => {
                let l = tree.location(d, Some(&node.name));
                out.push(format!("link {} -> {first}", String::from_utf8_lossy(&l)))
            }
            PlanItem::Special { node } => {
                let l = tree.location(d, Some(&node.name));
                out.push(format!("special {}", String::from_utf8_lossy(&l)))
            }
        }
    }
}

#[test]
fn hard_links_share_the_first_restored_name() {
    let mut fake = Fake::default();
    let mut nodes = Vec::new();
    for (name, inode, dev, links) in [
        ("a", 1, 1, 2),
        ("b", 1, 1, 2),
        ("c", 1, 2, 2),
        ("d", 1, 1, 1),
    ] {
        let mut n = file(name.as_bytes(), Vec::new(), &[]);
        (n.inode, n.device_id, n.links) = (inode, dev, links);
        nodes.push(n);
    }
    let root = fake.tree(nodes);
    let p = plan(&fake, &root, &RestoreOptions::default());
    let mut got = Vec::new();
    locations(&p.tree, 0, &mut got);
    // Same inode on another device, or a single link, is its own file.
    assert_eq!(got, ["file 0", "link /b -> 0", "file 1", "file 2"]);
    assert_eq!(p.hardlinks, 1);
}

#[test]
fn includes_descend_only_where_children_may_match() {
    let mut fake = Fake::default();
    let inner = fake.tree(vec![file(b"x", Vec::new(), &[])]);
    let other = fake.tree(vec![file(b"y", Vec::new(), &[])]);
    let root = fake.tree(vec![dir(b"a", inner), dir(b"b", other)]);
    let opts = RestoreOptions {
        includes: vec![crate::filter::PatternList::new(["/a/x"], false).unwrap()],
        ..RestoreOptions::default()
    };
    // Count tree loads: /b must not be read at all.
    let loads = std::sync::atomic::AtomicUsize::new(0);
    let load = |id: &Id| {
        loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        fake.load(id)
    };
    let selector = Selector::new(&opts);
    let fds = DirFds::new(None);
    let p = Planner::run(
        &load,
        &selector,
        opts.overwrite,
        &root,
        Path::new("/t"),
        &fds,
        &|| false,
        None,
    )
    .unwrap();
    let mut got = Vec::new();
    locations(&p.tree, 0, &mut got);
    assert_eq!(got, ["dir /a", "file 0"]);
    assert_eq!(loads.into_inner(), 2);
    assert_eq!(p.dirs, 0, "/a is only a parent");
    let f = &p.files.list[0];
    assert_eq!(p.tree.path(f.dir, Some(b"x")), Path::new("/t/a/x"));
    assert_eq!(p.tree.entry_name(f.dir, f.name), b"x");
}

#[test]
fn invalid_names_and_sockets_are_not_restored() {
    let mut fake = Fake::default();
    let mut bad = file(b"..", Vec::new(), &[]);
    bad.name = b"..".to_vec();
    let slash = file(b"a/b", Vec::new(), &[]);
    let sock = node(b"s", NodeType::Socket, 0o755);
    let root = fake.tree(vec![bad, slash, sock, file(b"ok", Vec::new(), &[])]);
    let p = plan(&fake, &root, &RestoreOptions::default());
    assert_eq!(p.errors.len(), 2);
    assert!(!p.delete_allowed);
    assert_eq!(p.files.list.len(), 1);
    let f = &p.files.list[0];
    assert_eq!(p.tree.entry_name(f.dir, f.name), b"ok");
    assert_eq!(p.tree.dirs[0].names.as_ref().unwrap().len(), 4);
}

#[test]
fn missing_subtree_is_an_error_and_blocks_deletion_there() {
    let mut fake = Fake::default();
    let root = fake.tree(vec![dir(b"gone", Id([9; 32]))]);
    let p = plan(&fake, &root, &RestoreOptions::default());
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].location, b"/gone");
    let PlanItem::Dir(d) = &p.tree.dirs[0].items[0] else {
        panic!()
    };
    assert!(p.tree.dirs[*d].names.is_none());
}

#[test]
fn selector_matches_restic() {
    let ex = RestoreOptions {
        excludes: vec![crate::filter::PatternList::new(["*.o"], false).unwrap()],
        ..RestoreOptions::default()
    };
    let s = Selector::new(&ex);
    assert_eq!(s.select(b"/a.o", false), (false, false));
    assert_eq!(s.select(b"/src", true), (true, true));
    assert_eq!(s.select(b"/src", false), (true, false));
    let none = RestoreOptions::default();
    assert_eq!(Selector::new(&none).select(b"/x", false), (true, true));
    assert_eq!(child_location(b"/", b"a"), b"/a");
    assert_eq!(child_location(b"/a", b"b"), b"/a/b");
}

#[test]
fn plan_items_stay_small() {
    // A plan holds every item of the snapshot: nodes are boxed so that a
    // file reference does not cost as much as a whole node.
    assert!(std::mem::size_of::<PlanItem>() <= 128);
    assert!(std::mem::size_of::<PlanItem>() * 3 < std::mem::size_of::<Node>());
}
