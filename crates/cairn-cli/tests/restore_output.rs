//! What `cairn restore` prints, as restic 0.19 does (restic 0.14 has no
//! restore JSON, so the shapes are 0.19's `ui/restore` structs):
//! `verbose_status` and `summary` JSON, `-vv` item lines, the summary
//! line's `m:ss` time; and `--ownership-by-name`.

#[macro_use]
mod common;
#[path = "backup_support/mod.rs"]
mod backup_support;

use backup_support::Repo;
use cairn::testing::{file, Crafter};
use common::{Fixture, Tool};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::MetadataExt;

/// A repository with one snapshot of `src` (two files and a directory).
fn backed_up(name: &str) -> (Repo, std::path::PathBuf) {
    let r = Repo::init(name, Tool::Cairn, 2);
    let src = r.scratch("src");
    fs::write(src.join("a.txt"), b"hello\n").unwrap();
    fs::create_dir(src.join("sub")).unwrap();
    fs::write(src.join("sub/b.txt"), vec![1u8; 3000]).unwrap();
    r.backup(Tool::Cairn, [&src]);
    (r, src)
}

#[test]
fn json_verbose_status_and_summary_are_restic_019s() {
    let (r, src) = backed_up("rjson");
    let target = r.path("target");
    let t = target.to_str().unwrap();
    let run = r
        .cairn(["restore", "latest", "--json", "-vv", "--target", t])
        .ok();
    let lines = run.json_lines();
    let verbose: Vec<&Value> = lines
        .iter()
        .filter(|v| v["message_type"] == "verbose_status")
        .collect();
    let file_item = format!("{}/sub/b.txt", src.display());
    let b = verbose
        .iter()
        .find(|v| v["item"] == file_item.as_str())
        .unwrap_or_else(|| panic!("no line for {file_item}:\n{}", run.describe()));
    let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["action", "item", "message_type", "size"], "{b}");
    assert_eq!(b["action"], "restored");
    assert_eq!(b["size"], 3000);
    let dir_item = format!("{}/sub", src.display());
    assert!(
        verbose
            .iter()
            .any(|v| v["item"] == dir_item.as_str() && v["action"] == "restored" && v["size"] == 0),
        "{}",
        run.describe()
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["message_type"], "summary");
    assert_eq!(summary["total_bytes"], 3006);
    assert_eq!(summary["bytes_restored"], 3006);
    for zero_left_out in ["files_skipped", "files_deleted", "bytes_skipped"] {
        assert!(summary.get(zero_left_out).is_none(), "omitempty: {summary}");
    }
    // Once more with --overwrite if-changed: files are skipped (restic
    // lists them as unchanged) and counted as skipped.
    let again = r
        .cairn([
            "restore",
            "latest",
            "--json",
            "-vv",
            "--overwrite",
            "never",
            "--target",
            t,
        ])
        .ok();
    let lines = again.json_lines();
    assert!(
        lines
            .iter()
            .any(|v| v["item"] == file_item.as_str() && v["action"] == "unchanged"),
        "{}",
        again.describe()
    );
    assert!(
        lines.last().unwrap()["files_skipped"].as_u64().unwrap() >= 2,
        "{}",
        again.describe()
    );
    // -v is not enough for item lines (restic: verbosity 3).
    let v = r
        .cairn([
            "restore",
            "latest",
            "--json",
            "-v",
            "--target",
            r.path("t2").to_str().unwrap(),
        ])
        .ok();
    assert!(!v
        .json_lines()
        .iter()
        .any(|l| l["message_type"] == "verbose_status"));
}

#[test]
fn text_lines_and_summary_time_are_restics() {
    let (r, src) = backed_up("rtext");
    let target = r.path("target");
    let run = r
        .cairn([
            "restore",
            "latest",
            "-vv",
            "--target",
            target.to_str().unwrap(),
        ])
        .ok();
    let out = run.stdout_str();
    let file_line = format!("restored  {}/sub/b.txt with size 2.930 KiB", src.display());
    assert!(
        out.lines().any(|l| l == file_line),
        "missing {file_line:?}:\n{out}"
    );
    let dir_line = format!("restored  {}/sub", src.display());
    assert!(
        out.lines().any(|l| l == dir_line),
        "missing {dir_line:?}:\n{out}"
    );
    let summary = out.lines().last().unwrap();
    let (head, time) = summary.rsplit_once(" in ").unwrap();
    assert!(
        head.starts_with("Summary: Restored ") && head.ends_with("files/dirs (2.936 KiB)"),
        "{summary}"
    );
    let (m, s) = time.split_once(':').expect("m:ss");
    assert!(
        m.parse::<u32>().is_ok() && s.len() == 2 && s.parse::<u32>().is_ok(),
        "{summary}"
    );
    // Without -vv: no item lines.
    let plain = r
        .cairn([
            "restore",
            "latest",
            "--target",
            r.path("t2").to_str().unwrap(),
        ])
        .ok();
    assert!(
        !plain.stdout_str().contains("with size"),
        "{}",
        plain.describe()
    );
}

/// The uid of `name` in this machine's `/etc/passwd` (or gid in
/// `/etc/group`).
fn id_of(table: &str, name: &str) -> u32 {
    fs::read_to_string(table)
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[0] == name).then(|| f[2].parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{name} not in {table}"))
}

#[test]
fn ownership_by_name_looks_names_up_and_keeps_the_stored_ids_of_unknown_names() {
    let (f, mut c): (Fixture, Crafter) = Fixture::crafted(2);
    let blob = c.data(b"owned").unwrap();
    let mut known = file("known", &[blob], 5);
    // Names that exist here with IDs that differ from the stored ones.
    (known.user, known.uid) = ("daemon".into(), 4242);
    (known.group, known.gid) = ("daemon".into(), 4243);
    let mut unknown = file("unknown", &[blob], 5);
    (unknown.user, unknown.uid) = ("no-such-user-cairn".into(), 4244);
    (unknown.group, unknown.gid) = ("no-such-group-cairn".into(), 4245);
    let root = c.tree(vec![known, unknown]).unwrap();
    c.snapshot(root).unwrap();
    let ids = |dir: &std::path::Path, name: &str| {
        let m = fs::symlink_metadata(dir.join(name)).unwrap();
        (m.uid(), m.gid())
    };
    let by_id = f.scratch("by-id");
    f.cairn(["restore", "latest", "--target", by_id.to_str().unwrap()])
        .ok();
    assert_eq!(ids(&by_id, "known"), (4242, 4243));
    let by_name = f.scratch("by-name");
    f.cairn([
        "restore",
        "latest",
        "--ownership-by-name",
        "--target",
        by_name.to_str().unwrap(),
    ])
    .ok();
    let daemon = (
        id_of("/etc/passwd", "daemon"),
        id_of("/etc/group", "daemon"),
    );
    assert_eq!(ids(&by_name, "known"), daemon);
    assert_eq!(
        ids(&by_name, "unknown"),
        (4244, 4245),
        "unknown names keep the stored IDs (restic would make them root's)"
    );
}

#[test]
fn progress_fps_prints_restore_status_by_bytes_on_a_pipe() {
    let r = Repo::init("rstatus", Tool::Cairn, 2);
    let src = r.scratch("src");
    let random: Vec<u8> = (0..24u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(src.join("big"), random).unwrap();
    r.backup(Tool::Cairn, [&src]);
    let target = r.path("target");
    let out = r
        .command(Tool::Cairn)
        .env("RESTIC_PROGRESS_FPS", "60")
        .args(["restore", "latest", "--target", target.to_str().unwrap()])
        .output()
        .unwrap();
    let run = backup_support::to_run(Tool::Cairn, vec![], out).ok();
    let text = run.stdout_str();
    // "[0:00] 41.67%  3 files/dirs 10.000 MiB, total 6 files/dirs 24.000 MiB"
    let status: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("[0:0") && l.contains(" files/dirs "))
        .collect();
    assert!(!status.is_empty(), "no status lines:\n{text}");
    assert!(
        status
            .iter()
            .all(|l| l.ends_with(" files/dirs 24.000 MiB") || l.contains("total 0 files/dirs")),
        "{status:?}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("Summary: Restored "),
        "{text}"
    );
}
