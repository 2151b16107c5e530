//! `ls` of every snapshot: `--json` (same lines in the same order, restic's
//! keys with restic's values), `-l` and plain text (byte for byte, TZ=UTC).

#[macro_use]
mod common;

use common::{assert_json_lines_superset, assert_same_text, src, Fixture};

fn ls_json(fx: &Fixture, args: &[String]) {
    let mut full = vec!["ls".to_string(), "--json".to_string()];
    full.extend_from_slice(args);
    let r = fx.restic(&full).ok();
    let c = fx.cairn(&full).ok();
    let (rl, cl) = (r.json_lines(), c.json_lines());
    assert!(rl.len() > 1, "restic printed too little: {}", r.describe());
    assert_json_lines_superset(&format!("{}: {}", fx.name, full.join(" ")), &rl, &cl);
}

fn ls_text(fx: &Fixture, args: &[String]) {
    let r = fx.restic(args).ok();
    let c = fx.cairn(args).ok();
    assert_same_text(
        &format!("{}: {}", fx.name, args.join(" ")),
        &r.stdout,
        &c.stdout,
    );
}

per_repo!(ls_json_every_snapshot, |fx| {
    for id in fx.snapshot_ids() {
        ls_json(fx, &[id]);
    }
});

per_repo!(ls_json_latest_and_dir_filters, |fx| {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    ls_json(fx, &s(&["latest"]));
    ls_json(fx, &s(&["latest", "--host", "alpha"]));
    ls_json(fx, &s(&["latest", "--tag", "weekly"]));
    ls_json(fx, &s(&["latest", "--path", &src("")]));
    let first = fx.snapshot_with_tag("first");
    ls_json(fx, &[first.clone(), src("special"), src("links")]);
    ls_json(fx, &[first.clone(), "--recursive".into(), src("names")]);
    ls_json(fx, &[first[..8].to_string(), src("hardlinks/sub")]);
});

per_repo!(ls_long_every_snapshot, |fx| {
    for id in fx.snapshot_ids() {
        ls_text(fx, &["ls".into(), "-l".into(), id.clone()]);
        ls_text(
            fx,
            &[
                "ls".into(),
                "--long".into(),
                id.clone(),
                src("special"),
                src("owner"),
            ],
        );
    }
});

per_repo!(ls_plain_every_snapshot, |fx| {
    for id in fx.snapshot_ids() {
        ls_text(fx, &["ls".into(), id.clone()]);
    }
    let first = fx.snapshot_with_tag("first");
    ls_text(
        fx,
        &[
            "ls".into(),
            first,
            "--recursive".into(),
            src("deep/level1/level2"),
        ],
    );
});

per_repo!(ls_json_node_shape, |fx| {
    // What restic 0.14 prints, so the contract is written down and checked.
    let first = fx.snapshot_with_tag("first");
    let r = fx.restic(["ls", "--json", &first]).ok();
    let lines = r.json_lines();
    assert_eq!(lines[0]["struct_type"], "snapshot");
    assert_eq!(lines[0]["id"], first.as_str());
    let find = |p: &str| {
        lines
            .iter()
            .find(|l| l["path"] == src(p).as_str())
            .unwrap_or_else(|| panic!("{p} not in restic ls --json"))
            .clone()
    };
    let f = find("times/nanos");
    assert_eq!(f["struct_type"], "node");
    assert_eq!(f["type"], "file");
    assert_eq!(f["size"], 6);
    assert_eq!(f["mode"], 420);
    assert_eq!(f["permissions"], "-rw-r--r--");
    assert_eq!(f["mtime"], "2021-03-04T05:06:07.123456789Z");
    let d = find("perms/d1777");
    assert_eq!(d["type"], "dir");
    assert!(
        d.get("size").is_none(),
        "restic 0.14 prints no size for dirs: {d}"
    );
    assert_eq!(d["permissions"], "dtrwxrwxrwx");
    assert_eq!(find("special/chardev")["permissions"], "Dcrw-r--r--");
    assert_eq!(find("perms/setuid")["permissions"], "urwxr-xr-x");
    assert_eq!(find("links/relative")["type"], "symlink");
    assert_eq!(find("owner/file-1234")["uid"], 1234);
    assert_eq!(find("owner/file-1234")["gid"], 5678);
});
