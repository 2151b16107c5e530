//! What `cairn backup` prints, against restic: JSON `verbose_status`
//! lines in the shape restic 0.14 prints them (0.19 prints the same
//! fields), `status` lines with `current_files` from the start, status
//! lines on a pipe with `RESTIC_PROGRESS_FPS`, the `-v`/`-vv` text lines
//! (restic 0.19's wording), and restic 0.19's exit codes and messages for
//! sources that do not exist.

#[macro_use]
mod common;
#[path = "backup_support/mod.rs"]
mod backup_support;

use backup_support::Repo;
use common::{Run, Tool};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::Path;

/// A small source tree: two files in `src`, one in `src/sub`.
fn source(r: &Repo) -> std::path::PathBuf {
    let src = r.scratch("src");
    fs::write(src.join("a.txt"), b"hello\n").unwrap();
    fs::write(src.join("b.bin"), vec![7u8; 5000]).unwrap();
    fs::create_dir(src.join("sub")).unwrap();
    fs::write(src.join("sub/c.txt"), b"third file").unwrap();
    src
}

/// `words`, then `paths`, as arguments.
fn args(words: &[&str], paths: &[&Path]) -> Vec<OsString> {
    let mut v: Vec<OsString> = words.iter().map(OsString::from).collect();
    v.extend(paths.iter().map(|p| p.as_os_str().to_owned()));
    v
}

fn lines_of(run: &Run, message_type: &str) -> Vec<Value> {
    run.json_lines()
        .into_iter()
        .filter(|v| v["message_type"] == message_type)
        .collect()
}

/// `verbose_status` lines by item.
fn verbose_by_item(run: &Run) -> BTreeMap<String, Value> {
    lines_of(run, "verbose_status")
        .into_iter()
        .filter(|v| v["action"] != "scan_finished")
        .map(|v| (v["item"].as_str().unwrap().to_string(), v))
        .collect()
}

#[test]
fn json_verbose_status_lines_have_restics_fields_and_actions() {
    let (rr, rc) = (
        Repo::init("vjson-r", Tool::Restic, 2),
        Repo::init("vjson-c", Tool::Cairn, 2),
    );
    let src = source(&rc);
    let restic = rr.restic(args(&["backup", "--json", "-v"], &[&src])).ok();
    let cairn = rc.cairn(args(&["backup", "--json", "-v"], &[&src])).ok();
    let (r, c) = (verbose_by_item(&restic), verbose_by_item(&cairn));
    assert!(r.len() >= 5, "restic printed {r:?}");
    assert_eq!(
        r.keys().collect::<Vec<_>>(),
        c.keys().collect::<Vec<_>>(),
        "the same items (files, and directories with a trailing /)"
    );
    for (item, rv) in &r {
        let cv = &c[item];
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(rv), keys(cv), "fields of {item}");
        assert_eq!(rv["action"], cv["action"], "{item}");
        if !item.ends_with('/') {
            assert_eq!(rv["data_size"], cv["data_size"], "{item}");
        }
    }
    // A second backup: everything unchanged, as restic says it.
    let again = rc.cairn(args(&["backup", "--json", "-v"], &[&src])).ok();
    for (item, v) in verbose_by_item(&again) {
        assert_eq!(v["action"], "unchanged", "{item}: {v}");
        assert_eq!(v["data_size"], 0, "{item}");
    }
    // Without -v there are none.
    let plain = rc.cairn(args(&["backup", "--json"], &[&src])).ok();
    assert!(lines_of(&plain, "verbose_status").is_empty());
}

/// `sh -c` printing 24 MiB of random data (several chunks), then waiting
/// a second, for a backup from a command that is still running.
fn slow_command_args() -> Vec<String> {
    [
        "backup",
        "--stdin-from-command",
        "--",
        "sh",
        "-c",
        "head -c 25165824 /dev/urandom; sleep 1",
    ]
    .map(String::from)
    .to_vec()
}

fn run_with_fps(r: &Repo, fps: Option<&str>, extra: &[&str]) -> Run {
    let mut c = r.command(Tool::Cairn);
    if let Some(fps) = fps {
        c.env("RESTIC_PROGRESS_FPS", fps);
    }
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.extend(slow_command_args());
    let out = c.args(&args).output().unwrap();
    backup_support::to_run(Tool::Cairn, args.iter().map(Into::into).collect(), out)
}

#[test]
fn json_status_lines_carry_the_files_being_read() {
    let r = Repo::init("status-json", Tool::Cairn, 2);
    let run = run_with_fps(&r, None, &["--json"]).ok();
    let status = lines_of(&run, "status");
    assert!(!status.is_empty(), "no status lines:\n{}", run.describe());
    let reading: Vec<&Value> = status
        .iter()
        .filter(|s| s["current_files"] == serde_json::json!(["/stdin"]))
        .collect();
    assert!(
        !reading.is_empty(),
        "no status names the file being read:\n{}",
        run.describe()
    );
    for s in &status {
        assert!(s.get("percent_done").is_some(), "{s}");
        for zero_left_out in ["total_files", "error_count", "seconds_remaining"] {
            assert_ne!(
                s.get(zero_left_out),
                Some(&Value::from(0)),
                "omitempty: {s}"
            );
        }
    }
    assert_eq!(lines_of(&run, "summary").len(), 1);
}

#[test]
fn progress_fps_prints_status_lines_on_a_pipe() {
    let r = Repo::init("status-fps", Tool::Cairn, 2);
    let with = run_with_fps(&r, Some("20"), &[]).ok();
    let text = with.stdout_str();
    let status: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("[0:0") && l.ends_with(" errors"))
        .collect();
    assert!(!status.is_empty(), "no status lines:\n{}", with.describe());
    // restic's shape before the totals are known: "[0:01] 0 files, 24.000 MiB, 0 errors".
    let shape = regex_lite(status[0]);
    assert!(shape, "unexpected status line {:?}", status[0]);
    assert!(
        text.lines().any(|l| l == "/stdin"),
        "the file being read is listed:\n{text}"
    );
    let without = run_with_fps(&r, None, &[]).ok();
    assert!(
        !without.stdout_str().lines().any(|l| l.starts_with("[0:")),
        "no status lines on a pipe without RESTIC_PROGRESS_FPS:\n{}",
        without.describe()
    );
}

/// `[m:ss] N files, SIZE, E errors`.
fn regex_lite(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('[') else {
        return false;
    };
    let Some((time, rest)) = rest.split_once("] ") else {
        return false;
    };
    let parts: Vec<&str> = rest.split(", ").collect();
    time.split_once(':')
        .is_some_and(|(m, s)| m.parse::<u32>().is_ok() && s.len() == 2)
        && parts.len() == 3
        && parts[0].ends_with(" files")
        && parts[1].ends_with('B')
        && parts[2].ends_with(" errors")
}

/// `saved in 0.001s (...)` varies from run to run and tool to tool.
fn without_times(line: &str) -> String {
    match line.split_once(", saved in ") {
        Some((head, _)) => format!("{head}, saved in ..."),
        None => line.to_string(),
    }
}

#[test]
fn verbose_text_lines_are_restics() {
    let (rr, rc) = (
        Repo::init("vtext-r", Tool::Restic, 2),
        Repo::init("vtext-c", Tool::Cairn, 2),
    );
    let src = source(&rc);
    let restic = rr.restic(args(&["backup", "-vv"], &[&src])).ok();
    let cairn = rc.cairn(args(&["backup", "-vv"], &[&src])).ok();
    let items = |run: &Run| -> Vec<String> {
        let mut v: Vec<String> = run
            .stdout_str()
            .lines()
            .filter(|l| {
                l.starts_with("new ") || l.starts_with("modified ") || l.starts_with("unchanged ")
            })
            .map(without_times)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        items(&restic),
        items(&cairn),
        "per-item lines\n{}",
        cairn.describe()
    );
    let out = cairn.stdout_str();
    let src_name = src.display().to_string();
    for expected in [
        "open repository".to_string(),
        "load index files".to_string(),
        format!("start scan on [{src_name}]"),
        format!("start backup on [{src_name}]"),
        "no parent snapshot found, will read all files".to_string(),
    ] {
        assert!(
            out.lines().any(|l| l == expected),
            "missing {expected:?}:\n{out}"
        );
    }
    // In restic's order (restic loads the index after choosing the
    // parent; Cairn before, but the other lines keep restic's order).
    let at = |prefix: &str| out.lines().position(|l| l.starts_with(prefix)).unwrap();
    assert!(at("open repository") < at("load index files"), "{out}");
    assert!(
        at("no parent snapshot found") < at("start scan on ["),
        "{out}"
    );
    assert!(at("start scan on [") < at("start backup on ["), "{out}");
    assert!(at("start backup on [") < at("new       "), "{out}");
    for prefix in [
        "Data Blobs:      ",
        "Tree Blobs:      ",
        "Added to the repository: ",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(prefix)),
            "missing {prefix:?}:\n{out}"
        );
    }
    // Like restic, the line only comes if the scanner finished before the
    // backup (which stops it).
    if let Some(scan) = out.lines().find(|l| l.starts_with("scan finished in ")) {
        assert!(scan.ends_with("s: 3 files, 4.898 KiB"), "{scan}");
    }
    // A relative target is named by its place in the snapshot, as restic does.
    let parent = src.parent().unwrap();
    let relative = |tool: Tool, r: &Repo| -> Vec<String> {
        let out = r
            .command(tool)
            .current_dir(parent)
            .args(["backup", "-vv", "--force", "src"])
            .output()
            .unwrap();
        let run = backup_support::to_run(tool, vec![], out).ok();
        items(&run)
            .into_iter()
            .map(|l| l.replace("modified ", "new      "))
            .collect()
    };
    let (r_items, c_items) = (relative(Tool::Restic, &rr), relative(Tool::Cairn, &rc));
    assert!(
        c_items
            .iter()
            .any(|l| l.starts_with("new       /src/a.txt")),
        "{c_items:?}"
    );
    assert_eq!(r_items, c_items, "items of a relative target");
    let second = rc.cairn(args(&["backup"], &[&src])).ok().stdout_str();
    assert!(
        second
            .lines()
            .next()
            .unwrap()
            .starts_with("using parent snapshot "),
        "{second}"
    );
    // At the default verbosity: none of them.
    let plain = rc.cairn(args(&["backup"], &[&src])).ok().stdout_str();
    assert!(
        !plain.contains("Data Blobs")
            && !plain.contains("unchanged ")
            && !plain.contains("open repository"),
        "{plain}"
    );
}

#[test]
fn missing_sources_give_restic_019s_exit_codes() {
    let r = Repo::init("missing", Tool::Cairn, 2);
    let src = source(&r);
    let gone = r.path("gone");
    // Some missing: skipped with a warning, the rest is saved, exit 3.
    let some = r.cairn(args(&["backup"], &[&src, &gone]));
    assert_eq!(some.code, Some(3), "{}", some.describe());
    let warning = format!("{} does not exist, skipping", gone.display());
    assert!(
        some.stderr.lines().any(|l| l == warning),
        "{}",
        some.describe()
    );
    assert!(
        some.stderr
            .lines()
            .any(|l| l == "Warning: at least one source file could not be read"),
        "{}",
        some.describe()
    );
    assert_eq!(
        r.snapshots().len(),
        1,
        "the snapshot of what exists is saved"
    );
    assert_eq!(
        r.snapshots()[0]["paths"],
        serde_json::json!([src.display().to_string()])
    );
    // All missing: fatal, exit 1, no snapshot.
    let all = r.cairn(args(&["backup"], &[&gone, Path::new("/nonexistent-cairn")]));
    assert_eq!(all.code, Some(1), "{}", all.describe());
    assert!(
        all.stderr.lines().any(|l| l == warning),
        "{}",
        all.describe()
    );
    assert!(
        all.stderr
            .lines()
            .any(|l| l == "Fatal: all source directories/files do not exist"),
        "{}",
        all.describe()
    );
    assert_eq!(r.snapshots().len(), 1);
}

#[test]
fn read_concurrency_accepts_one_and_restics_zero() {
    let r = Repo::init("readers", Tool::Cairn, 2);
    let src = source(&r);
    for n in ["1", "0", "3"] {
        r.cairn(args(&["backup", "--read-concurrency", n], &[&src]))
            .ok();
    }
    assert_eq!(r.snapshots().len(), 3);
}
