//! Crafted trees that fail verification or carry hostile names: every
//! command that reads them says so and exits 1 (restic does), and archives
//! never hold a member name that climbs out of the extraction directory.

mod common;

use cairn::format::BlobType;
use cairn::testing::{dir, file, Crafter};
use cairn::Id;
use common::Fixture;
use std::io::Read;
use std::path::{Component, Path};

/// Snapshots of one repository whose tree `bad` fails its hash check.
struct Damaged {
    f: Fixture,
    /// Root: a file `ok` and a directory `sub` whose tree is `bad`.
    below: String,
    /// Root: `bad` itself.
    root: String,
    /// Like `below`, but with a readable `sub`.
    good: String,
}

fn damaged() -> Damaged {
    let (f, mut c): (Fixture, Crafter) = Fixture::crafted(2);
    let blob = c.data(b"hello").unwrap();
    // Stored under an ID that is not its SHA-256: decrypts, fails the hash.
    let bad = Id::hash(b"not this tree");
    c.mismatched_blob(BlobType::Tree, bad, b"{\"nodes\":[]}\n")
        .unwrap();
    let sub = c.tree(vec![file("inner", &[blob], 5)]).unwrap();
    let good_root = c
        .tree(vec![file("ok", &[blob], 5), dir("sub", sub)])
        .unwrap();
    let bad_root = c
        .tree(vec![file("ok", &[blob], 5), dir("sub", bad)])
        .unwrap();
    let good = c.snapshot(good_root).unwrap().to_hex();
    let below = c.snapshot(bad_root).unwrap().to_hex();
    let root = c.snapshot(bad).unwrap().to_hex();
    Damaged {
        f,
        below,
        root,
        good,
    }
}

fn assert_fails(run: &common::Run) {
    run.assert_no_panic();
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("SHA-256"), "{}", run.describe());
}

#[test]
fn a_tree_that_fails_its_hash_check_makes_every_reader_exit_1() {
    let d = damaged();
    let f = &d.f;
    assert_fails(&f.cairn(["ls", &d.root]));
    let ls = f.cairn(["ls", &d.below]);
    assert_fails(&ls);
    // Everything readable is still listed.
    assert!(ls.stdout_str().contains("/ok\n"), "{}", ls.describe());
    assert_fails(&f.cairn(["find", &d.below, "*"]));
    assert_fails(&f.cairn(["find", &d.root, "*"]));
    assert_fails(&f.cairn(["dump", &d.below, "/"]));
    assert_fails(&f.cairn(["dump", "--archive", "zip", &d.below, "/"]));
    assert_fails(&f.cairn(["stats", &d.below]));
    assert_fails(&f.cairn(["stats", "--mode", "raw-data", &d.below]));
    assert_fails(&f.cairn(["diff", &d.good, &d.below]));
    // The good snapshot reads fine.
    f.cairn(["ls", &d.good]).ok();
    f.cairn(["diff", &d.good, &d.good]).ok();
}

#[test]
fn a_tree_that_fails_its_mac_check_makes_ls_exit_1() {
    let (f, mut c): (Fixture, Crafter) = Fixture::crafted(1);
    let sub = c.tree(vec![file("inner", &[], 0)]).unwrap();
    let root = c.tree(vec![dir("sub", sub)]).unwrap();
    let id = c.snapshot(root).unwrap().to_hex();
    c.corrupt_blob(BlobType::Tree, &sub).unwrap();
    let run = f.cairn(["ls", &id]);
    run.assert_no_panic();
    assert_eq!(run.code, Some(1), "{}", run.describe());
}

/// A tree whose names try to climb out: `../../evil`, a directory `..`
/// holding `x`, and `a/../../b`.
fn climbing_fixture() -> (Fixture, String) {
    let (f, mut c): (Fixture, Crafter) = Fixture::crafted(2);
    let blob = c.data(b"hello").unwrap();
    let inside = c.tree(vec![file("x", &[blob], 5)]).unwrap();
    let root = c
        .tree(vec![
            file("../../evil", &[blob], 5),
            dir("..", inside),
            file("a/../../b", &[blob], 5),
        ])
        .unwrap();
    let id = c.snapshot(root).unwrap().to_hex();
    (f, id)
}

fn assert_stays_inside(name: &str) {
    let path = Path::new(name);
    assert!(
        path.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
        "member name {name:?} climbs out"
    );
}

#[test]
fn zip_member_names_are_cleaned_like_restic_cleans_them() {
    let (f, id) = climbing_fixture();
    let run = f.cairn(["dump", "--archive", "zip", &id, "/"]).ok();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(run.stdout)).unwrap();
    let mut names = Vec::new();
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).unwrap();
        let name = member.name().to_string();
        assert_stays_inside(&name);
        if member.is_file() {
            let mut content = Vec::new();
            member.read_to_end(&mut content).unwrap();
            assert_eq!(content, b"hello", "{name}");
        }
        names.push(name);
    }
    names.sort();
    assert_eq!(names, ["b", "evil", "x"]);
}

#[test]
fn tar_member_names_are_cleaned_too() {
    let (f, id) = climbing_fixture();
    let run = f.cairn(["dump", &id, "/"]).ok();
    let mut tar = tar::Archive::new(&run.stdout[..]);
    let mut names = Vec::new();
    for entry in tar.entries().unwrap() {
        let entry = entry.unwrap();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        assert_stays_inside(&name);
        names.push(name);
    }
    names.sort();
    assert_eq!(names, ["b", "evil", "x"]);
}
