//! Repositories written by rustic (`testdata/rustic/`, made by rustic 0.11.4
//! with `testdata/rustic/make-fixtures.sh`), and rustic reading what Cairn
//! writes.
//!
//! Without rustic: Cairn opens the fixture (rustic's key file has no
//! `created`/`username`/`hostname`), lists, restores and checks it; `tag`,
//! `rewrite` and `copy` keep rustic's snapshot fields byte for byte;
//! `forget` keeps what rustic protects (`delete: Never`); restic's
//! `check --read-data` accepts every result.
//!
//! With `rustic` on PATH (or `$CAIRN_TEST_RUSTIC`), also: rustic's
//! `check --read-data` accepts what Cairn changed, and rustic restores and
//! checks a repository Cairn wrote. Without it those parts are skipped with
//! a message, unless `CAIRN_REQUIRE_RUSTIC=1`, which makes a missing rustic
//! fail the tests.

#[macro_use]
mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cairn::format::{Id, UnknownFields};
use cairn::FileType;
use common::{assert_json_superset, open_fixture_repo, run_from_output, Fixture, Run, Tool};

/// Where the rustic source tree was (snapshots record absolute paths).
const RUSTIC_SRC: &str = "/tmp/cairn-rustic-fixture/src";

/// Snapshot members only rustic writes.
const RUSTIC_FIELDS: [&str; 3] = ["label", "description", "delete"];

/// `summary` members only rustic writes.
const RUSTIC_SUMMARY_FIELDS: [&str; 9] = [
    "total_dirs_processed",
    "total_dirsize_processed",
    "data_added_files",
    "data_added_files_packed",
    "data_added_trees",
    "data_added_trees_packed",
    "command",
    "backup_duration",
    "total_duration",
];

fn rustic_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rustic/repos")
}

fn rustic_fixture() -> Fixture {
    let d = rustic_fixtures();
    Fixture::copy_of("rustic-v2", &d.join("v2"), &d.join("password"))
}

/// The rustic binary, if there is one. With `CAIRN_REQUIRE_RUSTIC=1` a
/// missing rustic is a test failure, not a skip.
fn rustic_bin() -> Option<PathBuf> {
    let bin = std::env::var_os("CAIRN_TEST_RUSTIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("rustic"));
    let works = Command::new(&bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"rustic "));
    if works {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CAIRN_REQUIRE_RUSTIC").is_none_or(|v| v != "1"),
        "CAIRN_REQUIRE_RUSTIC=1 but {} does not run; install it with \
         `cargo install rustic-rs --version 0.11.4 --no-default-features --locked` \
         or set CAIRN_TEST_RUSTIC",
        bin.display()
    );
    eprintln!("rustic not found: skipping the parts of this test that run rustic");
    None
}

/// Runs rustic on `repo` with no config profile and no cache.
fn rustic<S: AsRef<OsStr>>(bin: &Path, f: &Fixture, repo: &Path, args: &[S]) -> Run {
    let home = f.dir.path().join("rustic-home");
    fs::create_dir_all(&home).unwrap();
    let mut c = Command::new(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RUSTIC_") {
            c.env_remove(&k);
        }
    }
    c.env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .args(["--no-progress", "--no-cache", "-r"])
        .arg(repo)
        .arg("--password-file")
        .arg(&f.password_file)
        .args(args);
    let out = c.output().expect("start rustic");
    let mut args: Vec<_> = args.iter().map(|a| a.as_ref().to_os_string()).collect();
    // `Run` knows restic and Cairn only; say in the arguments who ran.
    args.insert(0, "(rustic)".into());
    run_from_output(Tool::Restic, args, out)
}

/// The repository's snapshot IDs as restic lists them, oldest first (in
/// the fixture: snapshot 1, 2, 3).
fn ids_by_time(f: &Fixture) -> Vec<String> {
    let list = f.restic(["snapshots", "--json"]).ok().json();
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// A directory tree in the format of `manifest-<n>.txt` (see
/// `testdata/rustic/make-fixtures.sh`).
fn manifest(root: &Path) -> String {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let path = format!("{rel}/{name}");
            let meta = fs::symlink_metadata(e.path()).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let line = if meta.file_type().is_symlink() {
                let t = fs::read_link(e.path()).unwrap();
                format!("l {mode:o} {path} {}", t.display())
            } else if meta.is_dir() {
                walk(&e.path(), &path, out);
                format!("d {mode:o} {path}")
            } else {
                let data = fs::read(e.path()).unwrap();
                format!("f {mode:o} {path} {}", sha256_hex(&data))
            };
            out.push((path, line));
        }
    }
    let mut entries = Vec::new();
    walk(root, ".", &mut entries);
    entries.sort();
    entries.into_iter().map(|(_, l)| l + "\n").collect()
}

fn sha256_hex(data: &[u8]) -> String {
    Id::hash(data).to_hex()
}

fn expected_manifest(n: usize) -> String {
    fs::read_to_string(rustic_fixtures().join(format!("manifest-{n}.txt"))).unwrap()
}

/// The decrypted bytes of snapshot file `id`, as stored.
fn raw_snapshot(f: &Fixture, id: &str) -> String {
    let repo = open_fixture_repo(f);
    let plain = repo
        .load_unpacked(FileType::Snapshot, &Id::from_hex(id).unwrap())
        .unwrap();
    String::from_utf8(plain).unwrap()
}

/// `(name, exact JSON text)` of the top-level members in `names`, and of
/// the `summary` members in `summary_names`.
fn members(json: &str, names: &[&str], summary_names: &[&str]) -> Vec<(String, String)> {
    let top = UnknownFields::collect(json, &[]).unwrap();
    let mut out: Vec<(String, String)> = top
        .iter()
        .filter(|(n, _)| names.contains(n))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    if let Some(sum) = top.get("summary") {
        let sum = UnknownFields::collect(sum, &[]).unwrap();
        out.extend(
            sum.iter()
                .filter(|(n, _)| summary_names.contains(n))
                .map(|(n, v)| (format!("summary.{n}"), v.to_string())),
        );
    }
    out
}

/// rustic's own members of snapshot `old` are in `new` with the same bytes.
fn assert_rustic_fields_kept(old: &str, new: &str) {
    let want = members(old, &RUSTIC_FIELDS, &RUSTIC_SUMMARY_FIELDS);
    assert!(
        want.len() > 9,
        "fixture snapshot lacks rustic's fields: {old}"
    );
    assert_eq!(
        members(new, &RUSTIC_FIELDS, &RUSTIC_SUMMARY_FIELDS),
        want,
        "rustic's fields changed:\nold {old}\nnew {new}"
    );
}

fn restic_check(f: &Fixture, repo: &Path) {
    let out = f
        .command(Tool::Restic)
        .env("RESTIC_REPOSITORY", repo)
        .args(["check", "--read-data"])
        .output()
        .unwrap();
    let run = run_from_output(Tool::Restic, vec!["check".into()], out);
    assert_eq!(run.code, Some(0), "{}", run.describe());
}

fn rustic_check(bin: &Path, f: &Fixture, repo: &Path) {
    let run = rustic(bin, f, repo, &["check", "--read-data"]);
    assert_eq!(run.code, Some(0), "rustic check: {}", run.describe());
    assert!(!run.stderr.contains("ERROR"), "{}", run.describe());
}

/// The snapshot IDs that appeared between two listings.
fn added(before: &[String], after: &[String]) -> Vec<String> {
    after
        .iter()
        .filter(|id| !before.contains(id))
        .cloned()
        .collect()
}

#[test]
fn cairn_opens_lists_restores_and_checks_a_rustic_repository() {
    let f = rustic_fixture();
    // The key file has no created/username/hostname: shown as restic does.
    let theirs = f.restic(["key", "list"]).ok();
    let ours = f.cairn(["key", "list"]).ok();
    assert_eq!(ours.stdout_str(), theirs.stdout_str());

    // Listing: what restic shows (plus `summary`, as newer restic prints
    // it), and none of rustic's own fields, which restic does not print.
    let restic_list = f.restic(["snapshots", "--json"]).ok().json();
    let cairn_list = f.cairn(["snapshots", "--json"]).ok().json();
    assert_json_superset("snapshots --json", &restic_list, &cairn_list);
    for s in cairn_list.as_array().unwrap() {
        for field in RUSTIC_FIELDS {
            assert!(s.get(field).is_none(), "{field} listed: {s}");
        }
    }

    f.cairn(["check", "--read-data"]).ok();

    for (n, id) in ids_by_time(&f).iter().enumerate() {
        let target = f.scratch(&format!("restore-{}", n + 1));
        let t = target.to_str().unwrap();
        f.cairn(["restore", id.as_str(), "--target", t]).ok();
        let got = manifest(&target.join(RUSTIC_SRC.trim_start_matches('/')));
        assert_eq!(got, expected_manifest(n + 1), "snapshot {}", n + 1);
    }
}

#[test]
fn tag_rewrite_and_copy_keep_rustic_fields_and_forget_keeps_protected() {
    let rustic_bin = rustic_bin();
    let f = rustic_fixture();
    let ids = ids_by_time(&f);
    let labelled = &ids[1];
    let original = raw_snapshot(&f, labelled);
    assert!(
        original.contains(r#""label":"nightly <db> & co""#),
        "{original}"
    );

    // Nothing to change: no snapshot file is rewritten (same IDs, bytes).
    // (Not `rewrite --exclude`: like restic 0.17+, it rewrites a snapshot
    // whose summary counts files differently from restic, as rustic's do.)
    let files = |f: &Fixture| {
        f.repo_files("snapshots")
            .iter()
            .map(|p| (p.clone(), fs::read(p).unwrap()))
            .collect::<Vec<_>>()
    };
    let untouched = files(&f);
    f.cairn(["repair", "snapshots", "--forget"]).ok();
    f.cairn(["tag", "--add", "daily", labelled.as_str()]).ok();
    assert_eq!(files(&f), untouched, "a snapshot was rewritten needlessly");

    // tag: new snapshot, rustic's fields byte for byte.
    f.cairn(["tag", "--add", "extra", labelled.as_str()]).ok();
    let after_tag = ids_by_time(&f);
    let tagged = added(&ids, &after_tag);
    assert_eq!(tagged.len(), 1, "{after_tag:?}");
    let tagged_raw = raw_snapshot(&f, &tagged[0]);
    assert_rustic_fields_kept(&original, &tagged_raw);
    assert!(tagged_raw.contains(&format!(r#""original":"{labelled}""#)));

    // rewrite --exclude refuses, as restic does, to re-encode a directory
    // rustic wrote: its tree JSON is not what Go writes, so the new tree
    // could lose information. Nothing changes.
    let exclude = format!("{RUSTIC_SRC}/dir/random.bin");
    let refused = f.cairn([
        "rewrite",
        "--forget",
        "--exclude",
        &exclude,
        tagged[0].as_str(),
    ]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(refused.stderr.contains("without losing information"));
    assert_eq!(ids_by_time(&f), after_tag);

    // rewrite of the metadata: rustic's members still there and unchanged.
    f.cairn([
        "rewrite",
        "--forget",
        "--new-host",
        "beta",
        tagged[0].as_str(),
    ])
    .ok();
    let rewritten = added(&after_tag, &ids_by_time(&f));
    assert_eq!(rewritten.len(), 1);
    let rewritten_raw = raw_snapshot(&f, &rewritten[0]);
    assert_rustic_fields_kept(&original, &rewritten_raw);
    assert!(rewritten_raw.contains(r#""hostname":"beta""#));

    // copy into a Cairn-made repository: the copy keeps them too.
    let dst = f.dir.path().join("dst");
    let on_dst = |args: &[&str]| {
        let mut c = f.command(Tool::Cairn);
        c.env("RESTIC_REPOSITORY", &dst);
        if args[0] == "copy" {
            c.env("RESTIC_FROM_REPOSITORY", &f.repo)
                .env("RESTIC_FROM_PASSWORD_FILE", &f.password_file);
        }
        let out = c.args(args).output().unwrap();
        run_from_output(Tool::Cairn, args.iter().map(Into::into).collect(), out).ok()
    };
    on_dst(&["init", "--repository-version", "2"]);
    on_dst(&["copy", rewritten[0].as_str()]);
    let copied = on_dst(&["snapshots", "--json"]).json();
    let copied_id = copied[0]["id"].as_str().unwrap();
    let dst_fixture_view = Fixture {
        name: "dst".into(),
        dir: tempfile::tempdir().unwrap(),
        repo: dst.clone(),
        password_file: f.password_file.clone(),
    };
    assert_rustic_fields_kept(&original, &raw_snapshot(&dst_fixture_view, copied_id));
    restic_check(&f, &dst);

    // forget by policy: restic's choice (the newest) plus what rustic
    // protects (the labelled snapshot's latest version, host "beta" now).
    let before = ids_by_time(&f);
    let out = f
        .cairn([
            "forget",
            "--group-by",
            "paths",
            "--keep-last",
            "1",
            "--prune",
        ])
        .ok()
        .stdout_str();
    assert!(out.contains("protected by rustic"), "{out}");
    let left = ids_by_time(&f);
    assert_eq!(added(&left, &before), [ids[0].clone()], "{out}");
    // explicitly named: still kept, with a warning.
    let run = f.cairn(["forget", rewritten[0].as_str()]).ok();
    assert!(run.stderr.contains("rustic protects"), "{}", run.describe());
    assert_eq!(ids_by_time(&f), left);

    restic_check(&f, &f.repo);
    f.cairn(["check", "--read-data"]).ok();
    if let Some(bin) = &rustic_bin {
        rustic_check(bin, &f, &f.repo);
        rustic_check(bin, &f, &dst);
        // rustic sees its own fields on the snapshots Cairn wrote.
        let listed = rustic(bin, &f, &f.repo, &["snapshots", "--json"]);
        let text = listed.stdout_str();
        assert!(text.contains("nightly <db> & co"), "{}", listed.describe());
    }
}

#[test]
fn rustic_restores_and_checks_what_cairn_wrote() {
    let Some(bin) = rustic_bin() else { return };
    let f = rustic_fixture();
    let src = f.scratch("src");
    fs::create_dir_all(src.join("dir/sub")).unwrap();
    fs::write(src.join("hello.txt"), "hello from cairn\n").unwrap();
    fs::write(src.join("empty"), "").unwrap();
    fs::write(src.join("dir/sub/n.txt"), "nested\n").unwrap();
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(src.join("dir/big.bin"), &big).unwrap();
    std::os::unix::fs::symlink("hello.txt", src.join("link")).unwrap();
    fs::set_permissions(src.join("dir/sub"), fs::Permissions::from_mode(0o750)).unwrap();

    let repo = f.dir.path().join("cairn-made");
    let cairn = |args: &[&str]| {
        let out = f
            .command(Tool::Cairn)
            .env("RESTIC_REPOSITORY", &repo)
            .args(args)
            .output()
            .unwrap();
        run_from_output(Tool::Cairn, args.iter().map(Into::into).collect(), out).ok()
    };
    cairn(&["init", "--repository-version", "2"]);
    cairn(&["backup", "--host", "h", src.to_str().unwrap()]);
    fs::write(src.join("hello.txt"), "changed\n").unwrap();
    cairn(&["backup", "--host", "h", src.to_str().unwrap()]);
    cairn(&["tag", "--add", "t", "latest"]);

    rustic_check(&bin, &f, &repo);
    let target = f.scratch("rustic-restore");
    let run = rustic(
        &bin,
        &f,
        &repo,
        &[
            OsStr::new("restore"),
            OsStr::new("latest"),
            target.as_os_str(),
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    // rustic restores the snapshot's paths below the target.
    let restored = target.join(src.strip_prefix("/").unwrap());
    assert_eq!(manifest(&restored), manifest(&src));
}

#[test]
fn repair_snapshots_keeps_rustic_fields() {
    let f = rustic_fixture();
    let ids = ids_by_time(&f);
    let later = &ids[2];
    let original = raw_snapshot(&f, later);
    // Lose the pack holding the blob only snapshot 3 has: `hello.txt` as
    // changed for it (a data blob's ID is the SHA-256 of its content).
    let blob = Id::hash(b"hello again\n").to_hex();
    let mut lost = None;
    for index in f.cairn(["list", "index"]).ok().stdout_str().lines() {
        let idx = f.cairn(["cat", "index", index]).ok().json();
        for pack in idx["packs"].as_array().unwrap() {
            if pack["blobs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["id"] == blob.as_str())
            {
                lost = Some(pack["id"].as_str().unwrap().to_string());
            }
        }
    }
    let lost = lost.expect("the fixture stores hello.txt's second version");
    fs::remove_file(f.repo.join("data").join(&lost[..2]).join(&lost)).unwrap();
    f.cairn(["repair", "index"]).ok();
    f.cairn(["repair", "snapshots", "--forget"]).ok();

    let after = ids_by_time(&f);
    assert_eq!(after[..2], ids[..2], "snapshots 1 and 2 were rewritten");
    let repaired = added(&ids, &after);
    assert_eq!(repaired.len(), 1, "{after:?}");
    let repaired_raw = raw_snapshot(&f, &repaired[0]);
    assert!(
        repaired_raw.contains(r#""label":"later""#),
        "{repaired_raw}"
    );
    assert_rustic_fields_kept(&original, &repaired_raw);
    f.cairn(["check", "--read-data"]).ok();
    restic_check(&f, &f.repo);
    if let Some(bin) = rustic_bin() {
        rustic_check(&bin, &f, &f.repo);
    }
}
