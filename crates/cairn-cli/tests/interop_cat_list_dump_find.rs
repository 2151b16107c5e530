//! `cat`, `list`, `dump` and `find` compared with restic 0.14.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::ffi::OsString;

use common::{assert_json_superset, assert_same_text, by_key, src, src_bytes, Fixture};
use serde_json::Value;

// ---------------------------------------------------------------- list

per_repo!(list_files_as_sets, |fx| {
    for what in ["snapshots", "index", "packs", "keys", "locks"] {
        let r = fx.restic(["list", what]).ok();
        let c = fx.cairn(["list", what]).ok();
        assert_eq!(
            r.sorted_lines(),
            c.sorted_lines(),
            "{}: list {what}",
            fx.name
        );
    }
    // sanity: the repository really has these
    assert_eq!(
        fx.restic(["list", "snapshots"]).ok().sorted_lines().len(),
        5
    );
});

per_repo!(list_blobs_as_set, |fx| {
    let r = fx.restic(["list", "blobs"]).ok();
    let c = fx.cairn(["list", "blobs"]).ok();
    let (rs, cs): (BTreeSet<String>, BTreeSet<String>) = (
        r.sorted_lines().into_iter().collect(),
        c.sorted_lines().into_iter().collect(),
    );
    assert!(
        rs.iter()
            .all(|l| l.starts_with("data ") || l.starts_with("tree ")),
        "{rs:?}"
    );
    assert_eq!(rs, cs, "{}: list blobs", fx.name);
});

// ---------------------------------------------------------------- cat

fn cat_json_equal(fx: &Fixture, args: &[&str]) {
    let r = fx.restic(args).ok();
    let c = fx.cairn(args).ok();
    let (rj, cj) = (r.json(), c.json());
    // cat prints the stored object: it must be equal, not just a superset.
    assert_eq!(rj, cj, "{}: {}", fx.name, args.join(" "));
}

per_repo!(cat_config, |fx| {
    cat_json_equal(fx, &["cat", "config"]);
    let c = fx.restic(["cat", "config"]).ok().json();
    let want = if fx.name == "v1" { 1 } else { 2 };
    assert_eq!(c["version"], want);
});

per_repo!(cat_snapshot_every_id, |fx| {
    for id in fx.snapshot_ids() {
        cat_json_equal(fx, &["cat", "snapshot", &id]);
        cat_json_equal(fx, &["cat", "snapshot", &id[..8]]);
    }
});

per_repo!(cat_index_key_masterkey, |fx| {
    for id in fx.restic(["list", "index"]).ok().sorted_lines() {
        cat_json_equal(fx, &["cat", "index", &id]);
    }
    for id in fx.restic(["list", "keys"]).ok().sorted_lines() {
        cat_json_equal(fx, &["cat", "key", &id]);
    }
    cat_json_equal(fx, &["cat", "masterkey"]);
});

per_repo!(cat_pack_and_blobs_bytes, |fx| {
    for id in fx
        .restic(["list", "packs"])
        .ok()
        .sorted_lines()
        .iter()
        .take(3)
    {
        let r = fx.restic(["cat", "pack", id]).ok();
        let c = fx.cairn(["cat", "pack", id]).ok();
        assert!(
            r.stdout == c.stdout,
            "{}: cat pack {id}: {} vs {} bytes",
            fx.name,
            r.stdout.len(),
            c.stdout.len()
        );
    }
    let blobs = fx.restic(["list", "blobs"]).ok().sorted_lines();
    for line in blobs.iter().step_by(7).take(8) {
        let (kind, id) = line.split_once(' ').unwrap();
        let r = fx.restic(["cat", "blob", id]).ok();
        let c = fx.cairn(["cat", "blob", id]).ok();
        assert!(
            r.stdout == c.stdout,
            "{}: cat blob {id} ({kind}) differs",
            fx.name
        );
    }
});

// ---------------------------------------------------------------- dump

per_repo!(dump_files, |fx| {
    let first = fx.snapshot_with_tag("first");
    let second = fx.snapshot_with_tag("second");
    let files: Vec<(String, OsString)> = vec![
        (first.clone(), src("files/small.txt").into()),
        (first.clone(), src("files/empty").into()),
        (first.clone(), src("files/big.bin").into()),
        (first.clone(), src("files/512KiB-plus-1.bin").into()),
        (first.clone(), src("sparse/sparse.img").into()),
        (first.clone(), src("hardlinks/sub/c").into()),
        (first.clone(), src_bytes(b"names/\xff\xfe")),
        (
            first.clone(),
            src_bytes("names/emoji-\u{1faa8}-cairn".as_bytes()),
        ),
        (second.clone(), src("files/medium.bin").into()),
        (second.clone(), src("new-dir/new.txt").into()),
        ("latest".to_string(), src("times/nanos").into()),
    ];
    for (snap, path) in files {
        let args: Vec<OsString> = vec!["dump".into(), snap.clone().into(), path.clone()];
        let r = fx.restic(&args).ok();
        let c = fx.cairn(&args).ok();
        assert!(
            r.stdout == c.stdout,
            "{}: dump {snap} {}: restic {} bytes, cairn {} bytes",
            fx.name,
            path.to_string_lossy(),
            r.stdout.len(),
            c.stdout.len()
        );
    }
});

per_repo!(dump_missing_path_fails_like_restic, |fx| {
    let first = fx.snapshot_with_tag("first");
    let args = [
        "dump",
        first.as_str(),
        "/tmp/cairn-fixture/src/no/such/file",
    ];
    let r = fx.restic(args);
    let c = fx.cairn(args);
    c.assert_no_panic();
    assert_ne!(r.code, Some(0));
    assert_ne!(c.code, Some(0), "{}", c.describe());
    assert!(c.stdout.is_empty(), "{}", c.describe());
});

/// Everything a tar member says, in a comparable form: name, type, mode,
/// owner, mtime (seconds: restic writes USTAR headers), link target,
/// content and PAX records (restic carries xattrs there).
fn tar_members(archive: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut ar = tar::Archive::new(archive);
    for entry in ar.entries().expect("tar archive") {
        let mut e = entry.expect("tar entry");
        let mut pax: Vec<String> = Vec::new();
        if let Ok(Some(exts)) = e.pax_extensions() {
            for ext in exts {
                let ext = ext.expect("pax record");
                if ext.key_bytes().starts_with(b"SCHILY.xattr.") {
                    pax.push(format!("{:?}={:?}", ext.key_bytes(), ext.value_bytes()));
                }
            }
        }
        let h = e.header().clone();
        let name = e.path_bytes().into_owned();
        let link = e.link_name_bytes().map(|l| l.into_owned());
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut content).expect("tar content");
        out.push(format!(
            "{:?} type={:?} mode={:o} uid={:?} gid={:?} user={:?} group={:?} mtime={:?} size={} link={:?} content={:x?} pax={:?}",
            name,
            h.entry_type(),
            h.mode().unwrap_or(0),
            h.uid().ok(),
            h.gid().ok(),
            h.username().ok().flatten(),
            h.groupname().ok().flatten(),
            h.mtime().ok(),
            content.len(),
            link,
            &content[..content.len().min(64)],
            pax
        ));
    }
    out
}

per_repo!(dump_directory_as_tar, |fx| {
    // restic 0.14 writes a tar archive for a directory (and for "/"); the
    // members must say the same things (byte-level header encoding may
    // differ: Go picks USTAR/PAX, we may use GNU long names).
    let first = fx.snapshot_with_tag("first");
    for path in [
        src("links"),
        src("perms"),
        src("xattr"),
        src("special"),
        src("names"),
    ] {
        let args = ["dump", first.as_str(), path.as_str()];
        let r = fx.restic(args).ok();
        let c = fx.cairn(args).ok();
        let (rm, cm) = (tar_members(&r.stdout), tar_members(&c.stdout));
        assert!(
            !rm.is_empty(),
            "{}: restic dumped no members for {path}",
            fx.name
        );
        assert_eq!(rm, cm, "{}: dump {path} (tar) differs", fx.name);
    }
});

// ---------------------------------------------------------------- find

/// find --json: an array of {matches, hits, snapshot}; restic 0.14's order of
/// snapshots is not stable, so compare keyed by snapshot ID.
fn find_json(fx: &Fixture, args: &[&str]) {
    let mut full = vec!["find", "--json"];
    full.extend_from_slice(args);
    let r = fx.restic(&full).ok();
    let c = fx.cairn(&full).ok();
    let (rj, cj) = (r.json(), c.json());
    let empty = Vec::new();
    let ra = rj.as_array().unwrap_or(&empty);
    let ca = cj.as_array().unwrap_or(&empty);
    let (rm, cm) = (by_key(ra, "snapshot"), by_key(ca, "snapshot"));
    assert_eq!(
        rm.keys().collect::<Vec<_>>(),
        cm.keys().collect::<Vec<_>>(),
        "{}: find --json {args:?}: snapshots with matches differ",
        fx.name
    );
    for (id, rv) in &rm {
        assert_json_superset(
            &format!("{}: find --json {args:?} in {id}", fx.name),
            rv,
            &cm[id],
        );
    }
}

/// Plain find output: blocks "Found matching entries in snapshot …\n<paths>\n"
/// compared as a set of blocks (order of snapshots is not stable).
fn find_text(fx: &Fixture, args: &[&str]) {
    let mut full = vec!["find"];
    full.extend_from_slice(args);
    let r = fx.restic(&full).ok();
    let c = fx.cairn(&full).ok();
    let blocks = |s: &[u8]| -> BTreeSet<String> {
        String::from_utf8_lossy(s)
            .split("\n\n")
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty())
            .collect()
    };
    assert_eq!(
        blocks(&r.stdout),
        blocks(&c.stdout),
        "{}: find {args:?}",
        fx.name
    );
}

per_repo!(find_json_patterns, |fx| {
    find_json(fx, &["nanos"]);
    find_json(fx, &["*.txt"]);
    find_json(fx, &["*.bin", "--host", "alpha"]);
    find_json(fx, &["a", "c"]); // the hard-linked file's names
    find_json(fx, &["-i", "UPPER.TXT"]);
    find_json(fx, &[&src("files/*")]);
    find_json(fx, &["does-not-exist"]);
    let first = fx.snapshot_with_tag("first");
    find_json(fx, &["--snapshot", &first, "*"]);
    find_json(fx, &["--tag", "weekly", "*quote*"]);
    find_json(
        fx,
        &["--oldest", "2020-01-01", "--newest", "2021-12-31", "*"],
    );
});

per_repo!(find_text_patterns, |fx| {
    find_text(fx, &["nanos"]);
    find_text(fx, &["*.txt", "--path", &src("")]);
    let first = fx.snapshot_with_tag("first");
    find_text(fx, &["-s", &first, "--long", "*link*"]);
});

per_repo!(find_json_shape, |fx| {
    let first = fx.snapshot_with_tag("first");
    let r = fx
        .restic(["find", "--json", "-s", &first, "nanos"])
        .ok()
        .json();
    let arr = r.as_array().unwrap();
    assert_eq!(arr.len(), 1);
    let hit = &arr[0];
    assert_eq!(hit["snapshot"], first.as_str());
    assert_eq!(hit["hits"], 1);
    let m = &hit["matches"][0];
    for k in [
        "path",
        "permissions",
        "type",
        "mode",
        "mtime",
        "atime",
        "ctime",
        "uid",
        "gid",
        "user",
        "group",
        "device_id",
        "size",
        "links",
    ] {
        assert!(
            m.get(k).is_some(),
            "restic find --json match lacks {k}: {m}"
        );
    }
    let _: &Value = m;
});

// ---------------------------------------------------------------- ls vs text of big dirs

per_repo!(cat_snapshot_text_equal, |fx| {
    // restic prints stored JSON indented; Cairn should print the same bytes.
    let id = fx.snapshot_ids()[2].clone();
    let r = fx.restic(["cat", "snapshot", &id]).ok();
    let c = fx.cairn(["cat", "snapshot", &id]).ok();
    assert_same_text(&format!("{}: cat snapshot", fx.name), &r.stdout, &c.stdout);
    let r = fx.restic(["cat", "config"]).ok();
    let c = fx.cairn(["cat", "config"]).ok();
    assert_same_text(&format!("{}: cat config", fx.name), &r.stdout, &c.stdout);
});
