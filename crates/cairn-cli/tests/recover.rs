//! `cairn recover` next to restic 0.14's `recover` on two identical copies
//! of a fixture from which one snapshot was forgotten (not pruned): the
//! same lost root is found, the new snapshots look alike (path `/recover`,
//! tag `recovered`, one directory per root named by its short ID), list
//! and restore the same, and `restic check --read-data` passes.

#[macro_use]
mod common;
mod repair_support;

use common::{tree, Fixture};
use repair_support::{ls_paths, restic_check_read_data, snapshots_by_id};
use serde_json::Value;

/// A fixture copy with the weekly snapshot forgotten by restic.
fn with_forgotten_snapshot() -> (Fixture, String) {
    let f = Fixture::new("v2");
    let weekly = f.snapshot_with_tag("weekly");
    f.restic(["forget", &weekly]).ok();
    (f, weekly)
}

/// Output lines without progress bars, blank lines and the new ID.
fn normalized(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('['))
        .map(|l| match l.strip_prefix("saved new snapshot ") {
            Some(_) => "saved new snapshot <id>".to_string(),
            None => l.to_string(),
        })
        .collect()
}

/// The snapshot tagged `recovered`.
fn recovered(f: &Fixture) -> Value {
    let found: Vec<Value> = snapshots_by_id(f)
        .into_values()
        .filter(|s| s["tags"] == serde_json::json!(["recovered"]))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

/// A tree blob's nodes without their times.
fn nodes_without_times(f: &Fixture, tree: &str) -> Value {
    let mut v = f.restic(["cat", "blob", tree]).ok().json();
    for n in v["nodes"].as_array_mut().unwrap() {
        let n = n.as_object_mut().unwrap();
        for key in ["mtime", "atime", "ctime"] {
            assert!(n.remove(key).is_some(), "{key} is set");
        }
    }
    v
}

#[test]
fn recover_finds_the_forgotten_tree_like_restic() {
    let (ours, weekly) = with_forgotten_snapshot();
    let (theirs, _) = with_forgotten_snapshot();
    let lost_root = {
        let fresh = Fixture::new("v2");
        snapshots_by_id(&fresh)[&weekly]["tree"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let cairn = ours.cairn(["recover", "-v"]).ok();
    let restic = theirs.restic(["recover", "-v"]).ok();
    assert_eq!(normalized(&cairn.stdout), normalized(&restic.stdout));
    let text = cairn.stdout_str();
    assert!(
        text.contains(&format!("found root tree {}\n", &lost_root[..8])),
        "{text}"
    );
    assert!(text.contains("\nfound 1 unreferenced roots\n"), "{text}");

    let (a, b) = (recovered(&ours), recovered(&theirs));
    for key in ["paths", "hostname", "username", "tags"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["paths"], serde_json::json!(["/recover"]));
    let (a_tree, b_tree) = (a["tree"].as_str().unwrap(), b["tree"].as_str().unwrap());
    assert_eq!(
        nodes_without_times(&ours, a_tree),
        nodes_without_times(&theirs, b_tree)
    );
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let listing = ls_paths(&ours, a_id);
    assert_eq!(listing, ls_paths(&theirs, b_id));
    assert!(
        listing.contains(&format!("/{}/tmp/cairn-fixture/src/files", &lost_root[..8]).into_bytes())
    );

    // The lost tree restores as restic's recovered snapshot does (the
    // directories made by recover carry the time they were made).
    let short = &lost_root[..8];
    let (ra, rb) = (ours.scratch("a"), theirs.scratch("b"));
    ours.restic(["restore", a_id, "--target", ra.to_str().unwrap()])
        .ok();
    theirs
        .restic(["restore", b_id, "--target", rb.to_str().unwrap()])
        .ok();
    tree::assert_same(
        "recovered tree",
        &rb.join(short),
        &ra.join(short),
        tree::Opts::default(),
    );
    restic_check_read_data(&ours);

    // Nothing is lost any more.
    let again = ours.cairn(["recover"]).ok().stdout_str();
    assert!(
        again.contains("found 0 unreferenced roots\nno snapshot to write."),
        "{again}"
    );
    assert_eq!(snapshots_by_id(&ours).len(), 5);
}
