//! `diff` against the real restic 0.14, byte for byte: text, `--metadata`
//! and `--json` output on the fixture repositories, and both `diff` and
//! `stats` (every mode) on a repository restic writes here from two
//! backups of a changing tree (added, removed, modified, type-changed and
//! metadata-only-changed entries, hard links, empty files, FIFOs).
//!
//! Needs restic on PATH and root (FIFOs), like CI.

#[macro_use]
mod common;
#[path = "backup_support/mod.rs"]
mod backup_support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use backup_support::fstree::{chmod, mkfifo, prng, write};
use backup_support::{snapshot_id, Repo};
use common::tree::set_times;
use common::{assert_same_text, Run, Tool};

/// Runs `args` with both tools; stdout and exit code must be identical.
fn same_output(what: &str, run: &dyn Fn(Tool, &[String]) -> Run, args: &[String]) -> Run {
    let [r, c] = both(run, args);
    let what = format!("{what}: {}", args.join(" "));
    assert_eq!(
        r.code,
        c.code,
        "{what}: exit codes\n{}\n{}",
        r.describe(),
        c.describe()
    );
    // `stats` prints restic 0.19's layout; compare it in 0.14's words.
    let cairn = if args.first().is_some_and(|a| a == "stats") {
        common::stats_as_restic_014(&c.stdout)
    } else {
        c.stdout.clone()
    };
    assert_same_text(&what, &r.stdout, &cairn);
    r
}

/// Runs `args` with restic, then with Cairn; neither may panic.
fn both(run: &dyn Fn(Tool, &[String]) -> Run, args: &[String]) -> [Run; 2] {
    let runs = [run(Tool::Restic, args), run(Tool::Cairn, args)];
    runs.iter().for_each(Run::assert_no_panic);
    runs
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `diff a b` with each set of `forms` (extra flags); all must succeed.
/// Returns restic's outputs.
fn diff_forms(
    what: &str,
    run: &dyn Fn(Tool, &[String]) -> Run,
    a: &str,
    b: &str,
    forms: &[&[&str]],
) -> Vec<Run> {
    forms
        .iter()
        .map(|flags| {
            let mut args = strings(&["diff"]);
            args.extend(strings(flags));
            args.extend([a.to_string(), b.to_string()]);
            let r = same_output(what, run, &args);
            assert_eq!(r.code, Some(0), "{}", r.describe());
            r
        })
        .collect()
}

const TEXT: &[&str] = &[];
const METADATA: &[&str] = &["--metadata"];
const JSON: &[&str] = &["--json"];
const JSON_METADATA: &[&str] = &["--json", "--metadata"];
const QUIET: &[&str] = &["--quiet", "--metadata"];

per_repo!(diff_fixture_snapshot_pairs, |fx| {
    let ids = fx.snapshot_ids();
    let run = |tool: Tool, args: &[String]| fx.run(tool, args);
    // Short and full IDs: first to fourth snapshot (every marker), reversed,
    // disjoint paths, and a snapshot with itself.
    let forms = [TEXT, METADATA, JSON, JSON_METADATA];
    let out = diff_forms(&fx.name, &run, &ids[0][..8], &ids[3], &forms);
    diff_forms(&fx.name, &run, &ids[3], &ids[0], &[TEXT]);
    diff_forms(&fx.name, &run, &ids[2], &ids[4][..10], &[JSON]);
    diff_forms(&fx.name, &run, &ids[4], &ids[4], &[TEXT]);
    // The fixtures must exercise every marker restic prints.
    let text = String::from_utf8_lossy(&out[1].stdout);
    for marker in ["+    /", "-    /", "M    /", "U    /"] {
        assert!(text.contains(marker), "no {marker:?} in:\n{text}");
    }
});

#[test]
fn diff_bad_snapshot_arguments() {
    let fx = common::Fixture::new("v2");
    let ids = fx.snapshot_ids();
    let run = |tool: Tool, args: &[String]| fx.run(tool, args);
    for args in [
        strings(&["diff", "abcdef", &ids[0]]),
        strings(&["diff", &ids[0], "0123456789"]),
        strings(&["diff", &ids[0]]),
        strings(&["diff", &ids[0], &ids[1], &ids[2]]),
        strings(&["diff", &format!("{}:/tmp", &ids[0][..8]), &ids[1]]),
        strings(&["diff", "", &ids[1]]),
    ] {
        let [r, c] = both(&run, &args);
        assert_eq!(r.code, Some(1), "{}", r.describe());
        assert_eq!(c.code, r.code, "{}", c.describe());
        assert_eq!(c.stderr.trim_end(), r.stderr.trim_end(), "{args:?}");
        assert_same_text(&format!("{args:?}"), &r.stdout, &c.stdout);
    }
}

#[test]
fn diff_accepts_latest() {
    // restic 0.14's diff only takes ID prefixes; Cairn also takes
    // `latest`, as later restic versions do.
    let fx = common::Fixture::new("v2");
    let ids = fx.snapshot_ids();
    let by_id = fx.cairn(["diff", &ids[0], &ids[4]]).ok();
    let by_latest = fx.cairn(["diff", &ids[0], "latest"]).ok();
    assert_same_text("diff latest", &by_id.stdout, &by_latest.stdout);
}

/// The first state of the changing tree.
fn build_round_one(src: &Path) {
    let p = |rel: &str| src.join(rel);
    for (name, text) in [
        ("files/keep.txt", "unchanged\n"),
        ("files/modify.txt", "version one\n"),
        ("files/remove.txt", "going away\n"),
        ("files/to-empty.txt", "soon empty\n"),
        ("files/chmod.txt", "mode changes\n"),
        ("files/touch.txt", "mtime changes\n"),
        ("type/file-to-link", "becomes a symlink\n"),
        ("type/file-to-dir", "becomes a directory\n"),
        ("type/dir-to-file/inner.txt", "inside a directory\n"),
        ("gone/a.txt", "a\n"),
        ("gone/sub/b.txt", "b\n"),
        ("links/orig", "hard-linked content\n"),
    ] {
        write(&p(name), text.as_bytes());
    }
    write(&p("files/empty"), b"");
    write(&p("big.bin"), &prng(3 << 20, 7));
    fs::hard_link(p("links/orig"), p("links/hl1")).unwrap();
    symlink("target", p("type/link-to-file")).unwrap();
    fs::create_dir_all(p("special")).unwrap();
    mkfifo(&p("special/fifo-old"), 0o644);
    chmod(&p("files/chmod.txt"), 0o644);
}

/// Every kind of change between the two backups.
fn change_to_round_two(src: &Path) {
    let p = |rel: &str| src.join(rel);
    write(&p("files/modify.txt"), b"version two, longer\n");
    fs::remove_file(p("files/remove.txt")).unwrap();
    write(&p("files/to-empty.txt"), b"");
    chmod(&p("files/chmod.txt"), 0o600);
    set_times(
        &p("files/touch.txt"),
        (1_600_000_000, 0),
        (1_600_000_000, 5),
    );
    fs::remove_file(p("type/file-to-link")).unwrap();
    symlink("somewhere", p("type/file-to-link")).unwrap();
    fs::remove_file(p("type/file-to-dir")).unwrap();
    write(&p("type/file-to-dir/child.txt"), b"now a directory\n");
    fs::remove_dir_all(p("type/dir-to-file")).unwrap();
    write(&p("type/dir-to-file"), b"now a file\n");
    fs::remove_file(p("type/link-to-file")).unwrap();
    write(&p("type/link-to-file"), b"now a file\n");
    fs::remove_dir_all(p("gone")).unwrap();
    fs::hard_link(p("links/orig"), p("links/hl2")).unwrap();
    write(&p("links/independent"), b"hard-linked content\n");
    let mut big = prng(3 << 20, 7);
    big[1 << 20..(1 << 20) + 4096].copy_from_slice(&prng(4096, 8));
    write(&p("big.bin"), &big);
    write(&p("new/n1.txt"), b"new file\n");
    write(&p("new/empty2"), b"");
    write(&p("new/deep/x.txt"), b"deep\n");
    write(&p("files/new-empty"), b"");
    fs::remove_file(p("special/fifo-old")).unwrap();
    mkfifo(&p("special/fifo-new"), 0o600);
}

#[test]
fn diff_and_stats_on_a_changing_tree_restic_wrote() {
    let r = Repo::init("diffstats", Tool::Restic, 2);
    let src = r.path("src");
    build_round_one(&src);
    let one = snapshot_id(&r.backup(Tool::Restic, [&src]));
    change_to_round_two(&src);
    let two = snapshot_id(&r.backup(Tool::Restic, [&src]));
    let run = |tool: Tool, args: &[String]| r.run(tool, args);

    let forward = [TEXT, METADATA, JSON_METADATA, QUIET];
    let out = diff_forms("changing tree", &run, &one, &two, &forward);
    diff_forms("changing tree, reversed", &run, &two, &one, &[TEXT, JSON]);

    // The tree must produce every marker (so that the byte comparison
    // covers them); restic's output is the reference.
    let src_text = src.to_str().unwrap();
    let expect = |run: &Run, lines: &[&str]| {
        let text = run.stdout_str();
        for line in lines {
            let line = line.replace("{}", src_text);
            assert!(
                text.lines().any(|l| l == line),
                "restic printed no {line:?}:\n{text}"
            );
        }
    };
    expect(
        &out[0],
        &[
            "M    {}/files/modify.txt",
            "M    {}/files/to-empty.txt",
            "-    {}/files/remove.txt",
            "+    {}/files/new-empty",
            "T    {}/type/file-to-link",
            "T    {}/type/dir-to-file",
            "T    {}/type/file-to-dir/",
            "T    {}/type/link-to-file",
            "-    {}/gone/sub/b.txt",
            "+    {}/new/deep/x.txt",
            "+    {}/links/hl2",
            "M    {}/big.bin",
            "+    {}/special/fifo-new",
        ],
    );
    expect(
        &out[1],
        &[
            "U    {}/files/chmod.txt",
            "U    {}/files/touch.txt",
            "U    {}/links/orig",
            "TU   {}/type/file-to-dir/",
        ],
    );

    for mode in [
        "restore-size",
        "files-by-contents",
        "raw-data",
        "blobs-per-file",
    ] {
        for extra in [&[][..], &[two.as_str(), "--json"], &["latest", &one[..8]]] {
            let mut args = strings(&["stats", "--mode", mode]);
            args.extend(strings(extra));
            same_output("changing tree", &run, &args).ok();
        }
    }
}
