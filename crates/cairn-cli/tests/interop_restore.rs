//! `restore` by restic and by Cairn into two directories, then a full
//! comparison of the two trees: type, content, mode bits incl.
//! setuid/setgid/sticky, uid/gid, mtime and atime to the nanosecond, symlink
//! targets and names as raw bytes, hard-link groups, xattrs, device numbers.
//!
//! Run as root to exercise ownership and device nodes the way CI does (restic
//! silently skips lchown errors when not root, and mknod fails; Cairn must
//! then behave the same, which the comparison also checks).

#[macro_use]
mod common;

use std::ffi::OsString;

use common::tree::{assert_same, Opts, Tree};
use common::{src, Fixture, Tool};

/// Restore with both tools (same extra arguments) and compare.
fn restore_both(fx: &Fixture, tag: &str, snapshot: &str, extra: &[&str]) {
    let rdir = fx.scratch(&format!("restic-{tag}"));
    let cdir = fx.scratch(&format!("cairn-{tag}"));
    let run = |tool: Tool, dir: &std::path::Path| {
        let mut args: Vec<OsString> = vec![
            "restore".into(),
            snapshot.into(),
            "--target".into(),
            dir.into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        fx.run(tool, &args)
    };
    let r = run(Tool::Restic, &rdir).ok();
    let c = run(Tool::Cairn, &cdir);
    assert_eq!(
        c.code,
        Some(0),
        "cairn restore failed where restic succeeded:\n{}\nrestic: {}",
        c.describe(),
        r.describe()
    );
    c.assert_no_panic();
    assert_same(
        &format!("{}: restore {snapshot} {}", fx.name, extra.join(" ")),
        &rdir,
        &cdir,
        Opts::default(),
    );
}

per_repo!(restore_every_snapshot, |fx| {
    for (i, id) in fx.snapshot_ids().iter().enumerate() {
        restore_both(fx, &format!("snap{i}"), id, &[]);
    }
});

per_repo!(restore_latest_with_filters, |fx| {
    restore_both(fx, "latest-alpha", "latest", &["--host", "alpha"]);
    restore_both(fx, "latest-weekly", "latest", &["--tag", "weekly"]);
    restore_both(fx, "latest-path", "latest", &["--path", &src("times")]);
});

per_repo!(restore_include_exclude, |fx| {
    let first = fx.snapshot_with_tag("first");
    let second = fx.snapshot_with_tag("second");
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        ("inc-txt", &first, vec!["--include".into(), "*.txt".into()]),
        ("inc-dir", &first, vec!["--include".into(), src("files")]),
        (
            "inc-two",
            &second,
            vec!["-i".into(), src("hardlinks/a"), "-i".into(), src("special")],
        ),
        (
            "inc-hardlink-part",
            &first,
            vec!["--include".into(), src("hardlinks/sub")],
        ),
        (
            "exc-names",
            &first,
            vec!["--exclude".into(), "names".into()],
        ),
        (
            "exc-many",
            &second,
            vec![
                "-e".into(),
                "*.bin".into(),
                "-e".into(),
                "special".into(),
                "-e".into(),
                "deep".into(),
            ],
        ),
        ("exc-abs", &first, vec!["--exclude".into(), src("sparse")]),
        ("iinc", &first, vec!["--iinclude".into(), "*.TXT".into()]),
        (
            "iexc",
            &first,
            vec![
                "--iexclude".into(),
                "UPPER.TXT".into(),
                "--iexclude".into(),
                "SPARSE".into(),
            ],
        ),
    ];
    for (tag, snap, args) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        restore_both(fx, tag, snap, &a);
    }
});

per_repo!(restore_expected_content, |fx| {
    // Independent of restic: a few things we know about the source tree.
    let first = fx.snapshot_with_tag("first");
    let dir = fx.scratch("cairn-check");
    fx.cairn(["restore", &first, "--target", dir.to_str().unwrap()])
        .ok();
    let t = Tree::scan(&dir);
    let root = src("").trim_start_matches('/').to_owned();
    let get = |p: &str| {
        t.get(&format!("{root}/{p}"))
            .unwrap_or_else(|| {
                panic!(
                    "{p} missing in cairn's restore; have {:?}",
                    t.paths().iter().take(20).collect::<Vec<_>>()
                )
            })
            .clone()
    };
    assert_eq!(
        get("files/small.txt").content.as_deref(),
        Some(&b"hello, cairn\n"[..])
    );
    assert_eq!(get("files/big.bin").size, Some(2_298_775));
    let sparse = get("sparse/sparse.img").content.unwrap();
    assert_eq!(sparse.len(), 8 << 20);
    assert_eq!(
        &sparse[4 << 20..(4 << 20) + 24],
        b"in the middle of nothing"
    );
    assert!(sparse[..4 << 20].iter().all(|&b| b == 0));
    assert_eq!(get("perms/d1777").perm, 0o1777);
    assert_eq!(get("perms/setuid").perm, 0o4755);
    assert_eq!(get("perms/setgid").perm, 0o2755);
    assert_eq!(get("times/nanos").mtime, (1_614_834_367, 123_456_789));
    assert_eq!(get("times/pre-1970").mtime, (-14_182_940, 999_999_999));
    assert_eq!(
        get("links/dangling").link_target.as_deref(),
        Some(&b"does/not/exist"[..])
    );
    assert_eq!(get("hardlinks/a").hardlinks.len(), 2);
    assert_eq!(
        get("xattr/file")
            .xattrs
            .get(&b"user.binary"[..])
            .map(Vec::as_slice),
        Some(&b"\x00\xff\x01\xfe\x7f\x80"[..])
    );
    // restic 0.14 records no sockets at all
    assert!(t.get(&format!("{root}/special/socket")).is_none());
});

#[test]
fn restic_vs_restic_is_clean() {
    // The comparator must not report differences between two restores by
    // the same program; otherwise the tests above would be noise.
    let fx = Fixture::new("v2");
    let first = fx.snapshot_with_tag("second");
    let a = fx.scratch("a");
    let b = fx.scratch("b");
    fx.restic(["restore", &first, "--target", a.to_str().unwrap()])
        .ok();
    fx.restic(["restore", &first, "--target", b.to_str().unwrap()])
        .ok();
    assert_same("restic vs restic", &a, &b, Opts::default());
}
