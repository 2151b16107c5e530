//! `cairn init` + `cairn backup` against the real restic 0.14: repositories
//! Cairn writes pass `restic check --read-data` and restore (with restic and
//! with Cairn) to the source tree; both tools share repositories, dedup each
//! other's data, and select the same files for the same flags.
//!
//! Needs root (device nodes, other owners) and restic on PATH, like CI.

#[macro_use]
mod common;
#[path = "backup_support/mod.rs"]
mod backup_support;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::process::Stdio;

use backup_support::fstree::{
    self, build_full, build_random_files, build_select, copy_all, mutate, prng, write,
};
use backup_support::{num, snapshot_id, summary, to_run, Repo};
use common::Tool;

/// Back up a full tree into a fresh Cairn repository with `extra` global
/// flags, `restic check --read-data`, and restore with both tools.
fn full_tree_roundtrip(name: &str, version: u32, extra: &[&str]) {
    let r = Repo::init(name, Tool::Cairn, version);
    let src = r.path("src");
    build_full(&src);
    let mut args: Vec<&std::ffi::OsStr> = extra.iter().map(|s| s.as_ref()).collect();
    args.push(src.as_os_str());
    let s = r.backup(Tool::Cairn, &args);
    let id = snapshot_id(&s);
    assert!(num(&s, "data_blobs") > 10, "{s}");
    r.check(true);
    r.assert_restores(Tool::Restic, &id, &src, &src);
    r.assert_restores(Tool::Cairn, &id, &src, &src);
}

#[test]
fn v1_full_tree_passes_check_and_restores() {
    full_tree_roundtrip("v1", 1, &[]);
}

#[test]
fn v2_full_tree_every_compression_mode() {
    for mode in ["auto", "off", "fastest", "better", "max"] {
        full_tree_roundtrip(&format!("v2-{mode}"), 2, &["--compression", mode]);
    }
}

/// `--pack-size 4` with ~22 MiB of incompressible data: several packs, none
/// much larger than 4 MiB, and restic reads them all back.
#[test]
fn pack_size_4_makes_several_valid_packs() {
    let r = Repo::init("packsize", Tool::Cairn, 2);
    let src = r.path("src");
    build_random_files(&src, 11, 2 << 20, 7);
    r.backup(
        Tool::Cairn,
        ["--pack-size".as_ref(), "4".as_ref(), src.as_os_str()],
    );
    let packs = r.repo_files("data");
    assert!(
        packs.len() >= 5,
        "expected >= 5 packs of 4 MiB for 22 MiB, got {}",
        packs.len()
    );
    for p in &packs {
        let len = fs::metadata(p).unwrap().len();
        assert!(
            len <= (4 << 20) + (8 << 20),
            "pack {} is {len} bytes",
            p.display()
        );
    }
    let big = packs
        .iter()
        .filter(|p| fs::metadata(p).unwrap().len() >= 3 << 20)
        .count();
    assert!(big >= 4, "packs should be about 4 MiB each: {packs:?}");
    r.check(true);
    let id = r.snapshots()[0]["id"].as_str().unwrap().to_owned();
    r.assert_restores(Tool::Restic, &id, &src, &src);
}

/// Cairn backs up into a repository restic made, and restic into one Cairn
/// made; both pass `check --read-data` and restore with both tools.
#[test]
fn cross_tool_repositories() {
    // restic init (version 1), Cairn backup
    let r = Repo::init("restic-made", Tool::Restic, 1);
    let src = r.path("src");
    build_full(&src);
    let id = snapshot_id(&r.backup(Tool::Cairn, [&src]));
    r.check(true);
    r.assert_restores(Tool::Restic, &id, &src, &src);
    r.assert_restores(Tool::Cairn, &id, &src, &src);

    // Cairn init (version 2), restic backup
    let c = Repo::init("cairn-made", Tool::Cairn, 2);
    let src = c.path("src");
    build_full(&src);
    let id = snapshot_id(&c.backup(Tool::Restic, [&src]));
    c.check(true);
    c.assert_restores(Tool::Cairn, &id, &src, &src);
}

/// One tree changed between rounds, backed up alternately by restic and
/// Cairn into one repository; each uses the other's snapshot as parent.
#[test]
fn interleaved_backups_by_both_tools() {
    let r = Repo::init("interleaved", Tool::Cairn, 2);
    let src = r.path("src");
    build_full(&src);
    let states = r.scratch("states");
    let tools = [
        Tool::Restic,
        Tool::Cairn,
        Tool::Restic,
        Tool::Cairn,
        Tool::Restic,
    ];
    let mut files_total = 0;
    for (round, tool) in tools.iter().enumerate() {
        if round > 0 {
            mutate(&src, round as u64);
        }
        let s = r.backup(*tool, [&src]);
        let total = num(&s, "total_files_processed");
        if round == 0 {
            files_total = total;
        } else {
            // the other tool's snapshot was the parent: only the few files
            // `mutate` touched (and hard links whose ctime moved) were read
            assert!(
                num(&s, "files_unmodified") + 8 >= files_total,
                "round {round} ({}) did not use the parent from the other tool: {s}",
                tool.name()
            );
            assert!(num(&s, "files_new") + num(&s, "files_changed") >= 3, "{s}");
        }
        copy_all(&src, &states.join(format!("round-{round}")));
    }
    r.check(true);
    let snaps = r.snapshots();
    assert_eq!(snaps.len(), tools.len());
    for (round, sn) in snaps.iter().enumerate() {
        let id = sn["id"].as_str().unwrap();
        let want = states.join(format!("round-{round}"));
        for tool in [Tool::Restic, Tool::Cairn] {
            r.assert_restores(tool, id, &src, &want);
        }
    }
}

/// Files restic saved are not stored again by Cairn, and the other way
/// round: both chunk with the repository's polynomial and name blobs alike.
#[test]
fn dedup_with_restic_both_ways() {
    let r = Repo::init("dedup", Tool::Restic, 2);
    for (i, (first, second)) in [(Tool::Restic, Tool::Cairn), (Tool::Cairn, Tool::Restic)]
        .into_iter()
        .enumerate()
    {
        let src = r.path(&format!("src-{i}"));
        build_random_files(&src, 5, 4 << 20, 10 + i as u64);
        write(
            &src.join("text.txt"),
            &fstree::prtext(1 << 20, 20 + i as u64),
        );
        let a = r.backup(first, [&src]);
        assert!(num(&a, "data_blobs") >= 10, "{a}");
        let b = r.backup(second, ["--force".as_ref(), src.as_os_str()]);
        assert_eq!(
            num(&b, "data_blobs"),
            0,
            "{} stored again data that {} had saved: {b}",
            second.name(),
            first.name()
        );
        assert!(
            num(&b, "data_added") < 64 << 10,
            "{} added more than trees: {b}",
            second.name()
        );
        assert_eq!(
            num(&b, "total_bytes_processed"),
            num(&a, "total_bytes_processed")
        );
    }
    r.check(true);
}

/// Parent detection, `--force`, `--ignore-ctime`, `--skip-if-unchanged`,
/// `--dry-run`; the first backup's counts equal restic's for the same tree.
#[test]
fn incremental_backups_and_their_flags() {
    let r = Repo::init("incremental", Tool::Cairn, 2);
    let quiet = r.quiet_dir();
    let src = quiet.path().join("src");
    build_full(&src);
    let s = src.as_os_str();
    let repo_before = r.repo_files("");
    let rs = r.backup(Tool::Restic, ["--dry-run".as_ref(), s]);
    assert_eq!(r.repo_files(""), repo_before, "restic --dry-run wrote");
    let s1 = r.backup(Tool::Cairn, [s]);
    for k in [
        "files_new",
        "dirs_new",
        "total_files_processed",
        "total_bytes_processed",
        "data_blobs",
        "tree_blobs",
    ] {
        assert_eq!(
            num(&rs, k),
            num(&s1, k),
            "{k}: restic --dry-run {rs}\ncairn {s1}"
        );
    }
    let n = num(&s1, "files_new");
    let dirs = num(&s1, "dirs_new");

    // unchanged: nothing read, nothing added
    let s2 = r.backup(Tool::Cairn, [s]);
    assert_eq!(
        (
            num(&s2, "files_new"),
            num(&s2, "files_changed"),
            num(&s2, "files_unmodified")
        ),
        (0, 0, n),
        "{s2}"
    );
    assert_eq!(
        (num(&s2, "dirs_changed"), num(&s2, "dirs_unmodified")),
        (0, dirs),
        "{s2}"
    );
    assert_eq!(
        (num(&s2, "data_blobs"), num(&s2, "tree_blobs")),
        (0, 0),
        "{s2}"
    );

    // one file changed
    write(&src.join("files/small.txt"), b"hello, changed cairn\n");
    let s3 = r.backup(Tool::Cairn, [s]);
    assert_eq!(
        (num(&s3, "files_changed"), num(&s3, "files_unmodified")),
        (1, n - 1),
        "{s3}"
    );
    assert_eq!(num(&s3, "data_blobs"), 1, "{s3}");

    // same size and mtime, new content: --ignore-ctime keeps the old
    // content, --force reads it again
    let stale = src.join("files/no-newline.txt");
    fs::write(&stale, b"NO TRAILING NEWLINE").unwrap();
    common::tree::set_times(&stale, (0, 0), fstree::DEFAULT_MTIME);
    let s4 = r.backup(Tool::Cairn, ["--ignore-ctime".as_ref(), s]);
    assert_eq!(num(&s4, "files_unmodified"), n, "{s4}");
    let dump = |id: &str| {
        r.restic(["dump".as_ref(), id.as_ref(), stale.as_os_str()])
            .ok()
            .stdout
    };
    assert_eq!(dump(&snapshot_id(&s4)), b"no trailing newline");
    let s5 = r.backup(Tool::Cairn, ["--force".as_ref(), s]);
    assert_eq!(
        (num(&s5, "files_new"), num(&s5, "files_unmodified")),
        (n, 0),
        "{s5}"
    );
    assert_eq!(
        num(&s5, "data_blobs"),
        1,
        "--force must dedup all but the new content: {s5}"
    );
    assert_eq!(dump(&snapshot_id(&s5)), b"NO TRAILING NEWLINE");

    // --skip-if-unchanged
    let count = r.snapshots().len();
    let s6 = r.backup(Tool::Cairn, ["--skip-if-unchanged".as_ref(), s]);
    assert!(s6.get("snapshot_id").is_none(), "{s6}");
    assert_eq!(
        r.snapshots().len(),
        count,
        "--skip-if-unchanged wrote a snapshot"
    );
    write(&src.join("files/small.txt"), b"changed again\n");
    r.backup(Tool::Cairn, ["--skip-if-unchanged".as_ref(), s]);
    assert_eq!(r.snapshots().len(), count + 1);

    // --dry-run writes nothing at all
    write(&src.join("new-file"), &prng(300_000, 77));
    let before = r.repo_files("");
    let s7 = r.backup(Tool::Cairn, ["--dry-run".as_ref(), s]);
    assert_eq!(
        (num(&s7, "files_new"), num(&s7, "data_blobs")),
        (1, 1),
        "{s7}"
    );
    assert_eq!(r.repo_files(""), before, "--dry-run changed the repository");
    r.check(true);
}

/// `--tag`, `--host`, `--time` land in the snapshot as restic records them;
/// the `--json` summary carries restic's keys; both tools make the very same
/// tree for the same files.
#[test]
fn tags_host_time_and_json_like_restic() {
    let r = Repo::init("meta", Tool::Cairn, 2);
    let quiet = r.quiet_dir();
    let src = quiet.path().join("src");
    build_random_files(&src, 4, 50_000, 3);
    let args = [
        "--tag",
        "a,b",
        "--tag",
        "c",
        "--host",
        "elsewhere",
        "--time",
        "2021-02-03 04:05:06",
    ];
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    all.push(src.as_os_str());
    let rs = r.backup(Tool::Restic, &all);
    let cs = r.backup(Tool::Cairn, &all);
    let rkeys: BTreeSet<&String> = rs.as_object().unwrap().keys().collect();
    let ckeys: BTreeSet<&String> = cs.as_object().unwrap().keys().collect();
    assert!(
        rkeys.is_subset(&ckeys),
        "summary keys: restic {rkeys:?}, cairn {ckeys:?}"
    );
    let (rsn, csn) = (r.snapshot(&snapshot_id(&rs)), r.snapshot(&snapshot_id(&cs)));
    for k in ["tags", "hostname", "time", "paths", "username", "tree"] {
        assert_eq!(rsn[k], csn[k], "{k}: restic {rsn}\ncairn {csn}");
    }
    assert_eq!(csn["tags"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(csn["time"], "2021-02-03T04:05:06Z");
    assert_eq!(csn["parent"], rsn["id"], "restic's snapshot is the parent");
}

/// restic builds the tree of a relative target from the path as given
/// (`restic backup src` run in D saves `/src`, not `D/src`; `.` saves the
/// contents at the root), while recording the absolute path in `paths`.
#[test]
fn relative_targets_make_the_same_tree_as_restic() {
    let r = Repo::init("relative", Tool::Cairn, 2);
    let src = r.path("src");
    build_random_files(&src, 3, 10_000, 4);
    for (cwd, target) in [
        (r.dir.path(), "src"),
        (src.as_path(), "."),
        (src.as_path(), "d1/../d2"),
    ] {
        let mut ids = Vec::new();
        for tool in [Tool::Restic, Tool::Cairn] {
            let out = r
                .command(tool)
                .current_dir(cwd)
                .args(["backup", "--json", target])
                .output()
                .unwrap();
            let run = to_run(tool, vec![target.into()], out).ok();
            ids.push(snapshot_id(&summary(&run)));
        }
        let (rp, cp) = (r.ls_paths(&ids[0]), r.ls_paths(&ids[1]));
        assert_eq!(
            rp,
            cp,
            "`backup {target}` in {}: restic's tree vs cairn's",
            cwd.display()
        );
        assert_eq!(r.snapshot(&ids[0])["paths"], r.snapshot(&ids[1])["paths"]);
    }
}

/// The selection flags pick the same paths as restic's and record the same
/// `paths` and `excludes`.
#[test]
fn selection_flags_pick_the_same_paths_as_restic() {
    let r = Repo::init("select", Tool::Cairn, 2);
    let src = r.path("src");
    build_select(&src);
    let s = src.to_str().unwrap().to_owned();
    let lists = r.scratch("lists");
    let list = |name: &str, body: &[u8]| {
        let f = lists.join(name);
        fs::write(&f, body).unwrap();
        f.to_str().unwrap().to_owned()
    };
    let excl = list(
        "exclude",
        format!("# comment\n\n*.bin\n{s}/marked\n  \n").as_bytes(),
    );
    let from = list(
        "from",
        format!("# comment\n\n{s}/sub/*\n{s}/a.txt\n{s}/keep\n").as_bytes(),
    );
    let nomatch = list("nomatch", format!("{s}/a.txt\n{s}/nothing-*\n").as_bytes());
    let verbatim = list(
        "verbatim",
        format!("{s}/with space/f\n{s}/b.TMP\n").as_bytes(),
    );
    let mut rawl = format!("{s}/c.tmp\0{s}/").into_bytes();
    rawl.extend_from_slice(b"caf\xe9\0");
    let rawf = list("raw", &rawl);
    let cases: Vec<Vec<String>> = vec![
        vec![
            "--exclude".into(),
            "*.tmp".into(),
            "--exclude".into(),
            "sub/deeper".into(),
            s.clone(),
        ],
        vec!["--exclude-file".into(), excl.clone(), s.clone()],
        vec![
            "--iexclude".into(),
            "*.tmp".into(),
            "--iexclude".into(),
            "*mixed*".into(),
            s.clone(),
        ],
        vec!["--exclude-if-present".into(), ".nobackup".into(), s.clone()],
        vec!["--exclude-caches".into(), s.clone()],
        vec!["--exclude-larger-than".into(), "1M".into(), s.clone()],
        vec!["--exclude-larger-than".into(), "1023k".into(), s.clone()],
        vec!["--files-from".into(), from.clone()],
        vec!["--files-from".into(), nomatch],
        vec!["--files-from-verbatim".into(), verbatim],
        vec!["--files-from-raw".into(), rawf],
        vec![
            "--files-from".into(),
            from,
            "--exclude".into(),
            "e.txt".into(),
            "--exclude-file".into(),
            excl,
        ],
    ];
    let mut problems = Vec::new();
    for case in &cases {
        let rs = r.backup(Tool::Restic, case);
        let cr = r.run(
            Tool::Cairn,
            ["backup", "--json"]
                .iter()
                .map(|a| a.to_string())
                .chain(case.iter().cloned()),
        );
        cr.assert_no_panic();
        if cr.code != Some(0) {
            problems.push(format!(
                "{case:?}: cairn failed where restic succeeded:\n{}",
                cr.describe()
            ));
            continue;
        }
        let (rid, cid) = (snapshot_id(&rs), snapshot_id(&summary(&cr)));
        let (rp, cp) = (r.ls_paths(&rid), r.ls_paths(&cid));
        if rp != cp {
            problems.push(format!(
                "{case:?}: restic saved {} paths, cairn {}\n  only restic: {:?}\n  only cairn: {:?}",
                rp.len(),
                cp.len(),
                rp.difference(&cp).collect::<Vec<_>>(),
                cp.difference(&rp).collect::<Vec<_>>()
            ));
        }
        let (rsn, csn) = (r.snapshot(&rid), r.snapshot(&cid));
        for k in ["paths", "excludes"] {
            if rsn[k] != csn[k] {
                problems.push(format!(
                    "{case:?}: snapshot {k}: restic {}, cairn {}",
                    rsn[k], csn[k]
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// `--stdin`, `--stdin-filename`, `--stdin-from-command`; a failing
/// command saves no snapshot.
#[test]
fn stdin_and_stdin_from_command() {
    let r = Repo::init("stdin", Tool::Cairn, 2);
    let data = prng(3 << 20, 5);
    let piped = |tool: Tool, args: &[&str], input: &[u8]| {
        let mut child = r
            .command(tool)
            .arg("backup")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        to_run(tool, args.iter().map(Into::into).collect(), out)
    };
    let dump = |id: &str, path: &str| r.restic(["dump", id, path]).ok().stdout;
    for tool in [Tool::Restic, Tool::Cairn] {
        let s = summary(
            &piped(
                tool,
                &["--json", "--stdin", "--stdin-filename", "db.sql"],
                &data,
            )
            .ok(),
        );
        let id = snapshot_id(&s);
        assert_eq!(dump(&id, "/db.sql"), data, "{} --stdin", tool.name());
        let sn = r.snapshot(&id);
        assert_eq!(sn["paths"], serde_json::json!(["/db.sql"]));
    }
    let s = summary(&piped(Tool::Cairn, &["--json", "--stdin"], b"default name\n").ok());
    assert_eq!(dump(&snapshot_id(&s), "/stdin"), b"default name\n");

    let s = r.backup(
        Tool::Cairn,
        [
            "--stdin-from-command",
            "--stdin-filename",
            "cmd.txt",
            "--",
            "sh",
            "-c",
            "printf 'from a command\\n'",
        ],
    );
    assert_eq!(dump(&snapshot_id(&s), "/cmd.txt"), b"from a command\n");

    let count = r.snapshots().len();
    let bad = r.cairn([
        "backup",
        "--stdin-from-command",
        "--",
        "sh",
        "-c",
        "printf partial; exit 7",
    ]);
    bad.assert_no_panic();
    assert_ne!(
        bad.code,
        Some(0),
        "a failing command must fail the backup:\n{}",
        bad.describe()
    );
    assert!(
        !bad.stderr.trim().is_empty(),
        "no error message:\n{}",
        bad.describe()
    );
    assert_eq!(
        r.snapshots().len(),
        count,
        "a snapshot was saved from a failed command"
    );
    assert!(r.repo_files("locks").is_empty(), "lock left behind");
    r.check(false);
}
