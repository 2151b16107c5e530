//! `cairn check` against restic 0.14: exit codes, the text it prints, the
//! packs each `--read-data-subset` form reads, flag errors and `--json`.

mod common;

use common::{Fixture, Run, REPOS};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A fixture whose cache directories exist, so that both tools make
/// their temporary check cache in them.
fn fixture(name: &str) -> Fixture {
    let f = Fixture::new(name);
    for tool in ["restic", "cairn"] {
        std::fs::create_dir_all(f.dir.path().join(format!("cache-{tool}"))).unwrap();
    }
    f
}

/// Standard output with what legitimately differs between runs replaced
/// (the temporary cache path and the elapsed time), without the `-vv`
/// "read pack" lines restic does not print.
fn normalized(run: &Run) -> Vec<String> {
    run.stdout_str()
        .lines()
        .filter(|l| !l.starts_with("read pack "))
        .map(|l| {
            if l.starts_with("using temporary cache in ") {
                "using temporary cache in <dir>".to_string()
            } else if let Some(rest) = l.strip_prefix('[').and_then(|r| r.split_once(']')) {
                format!("[T]{}", rest.1)
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// [`normalized`], sorted: restic prints some lists in random order.
fn sorted(run: &Run) -> Vec<String> {
    let mut v = normalized(run);
    v.sort();
    v
}

/// The packs a `-vv` run says it read.
fn packs_read(run: &Run) -> BTreeSet<String> {
    run.stdout_str()
        .lines()
        .filter_map(|l| l.strip_prefix("read pack "))
        .map(str::to_string)
        .collect()
}

/// Every pack file of the fixture, by ID.
fn all_packs(f: &Fixture) -> BTreeSet<String> {
    f.repo_files("data")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The line `[T] 100.00%  n / n packs` restic and cairn print.
fn packs_line(run: &Run) -> String {
    normalized(run)
        .into_iter()
        .find(|l| l.starts_with("[T]") && l.ends_with(" packs"))
        .unwrap_or_else(|| panic!("no packs progress line\n{}", run.describe()))
}

fn flip_byte(path: &PathBuf, at: usize) -> Vec<u8> {
    let original = std::fs::read(path).unwrap();
    let mut damaged = original.clone();
    damaged[at] ^= 0x20;
    std::fs::write(path, damaged).unwrap();
    original
}

#[test]
fn clean_repositories_exit_zero_with_restics_lines() {
    for name in REPOS {
        let f = fixture(name);
        for args in [vec!["check"], vec!["check", "--read-data"]] {
            let restic = f.restic(&args);
            let cairn = f.cairn(&args);
            assert_eq!(restic.code, Some(0), "{}", restic.describe());
            assert_eq!(cairn.code, Some(0), "{}", cairn.describe());
            assert_eq!(normalized(&cairn), normalized(&restic), "{name} {args:?}");
            assert!(cairn.stderr.is_empty(), "{}", cairn.describe());
        }
        let lines = normalized(&f.cairn(["check", "--read-data"]));
        for want in [
            "using temporary cache in <dir>",
            "create exclusive lock for repository",
            "load indexes",
            "check all packs",
            "check snapshots, trees and blobs",
            "read all data",
            "no errors were found",
        ] {
            assert!(
                lines.iter().any(|l| l == want),
                "{name}: {want:?} in {lines:?}"
            );
        }
        let quiet = f.cairn(["check", "-q", "--read-data"]);
        assert_eq!(quiet.code, Some(0));
        assert!(quiet.stdout.is_empty(), "{}", quiet.describe());
        let unlocked = normalized(&f.cairn(["check", "--no-lock"]));
        assert!(!unlocked.iter().any(|l| l.contains("lock")), "{unlocked:?}");
        let cached = normalized(&f.cairn(["check", "--with-cache"]));
        assert_eq!(cached[0], "create exclusive lock for repository");
        assert!(f.repo_files("locks").is_empty(), "lock left behind");
    }
}

#[test]
fn damaged_repositories_exit_one() {
    let f = fixture("v2");
    let packs = f.repo_files("data");
    let pack = packs
        .iter()
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    let id = pack.file_name().unwrap().to_string_lossy().into_owned();
    let original = flip_byte(pack, 1000);
    let restic = f.restic(["check", "--read-data"]);
    let cairn = f.cairn(["check", "--read-data"]);
    assert_eq!(restic.code, Some(1), "{}", restic.describe());
    assert_eq!(cairn.code, Some(1), "{}", cairn.describe());
    assert_eq!(normalized(&cairn), normalized(&restic));
    assert!(cairn.stderr.contains(&id), "{}", cairn.describe());
    assert!(cairn
        .stderr
        .ends_with("Fatal: repository contains errors\n"));
    // Only reading the data finds this one.
    assert_eq!(f.cairn(["check"]).code, Some(0));

    let json = f.cairn(["check", "--read-data", "--json"]);
    assert_eq!(json.code, Some(1));
    let summary = json.json();
    assert_eq!(summary["message_type"], "summary");
    assert!(summary["num_errors"].as_u64().unwrap() >= 1);
    assert_eq!(summary["broken_packs"], serde_json::json!([id]));
    assert_eq!(summary["suggest_repair_index"], false);
    let lines: Vec<serde_json::Value> = json
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (last, errors) = lines.split_last().unwrap();
    for v in errors {
        assert_eq!(v["message_type"], "error");
    }
    // restic 0.19 ends with the fatal error as an exit_error object.
    assert_eq!(
        *last,
        serde_json::json!({"message_type": "exit_error", "code": 1, "message": "Fatal: repository contains errors"})
    );
    std::fs::write(pack, original).unwrap();

    // A deleted index file: the trees it listed are gone.
    let index = f.repo_files("index");
    let biggest = index
        .iter()
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    let saved = std::fs::read(biggest).unwrap();
    std::fs::remove_file(biggest).unwrap();
    let restic = f.restic(["check"]);
    let cairn = f.cairn(["check"]);
    assert_eq!(
        (restic.code, cairn.code),
        (Some(1), Some(1)),
        "{}",
        cairn.describe()
    );
    assert_eq!(sorted(&cairn), sorted(&restic));
    assert!(
        cairn.stderr.contains("error for tree "),
        "{}",
        cairn.describe()
    );
    std::fs::write(biggest, saved).unwrap();

    let json = f.cairn(["check", "--json"]);
    assert_eq!(json.code, Some(0), "{}", json.describe());
    assert_eq!(
        json.stdout_str().trim(),
        r#"{"message_type":"summary","num_errors":0,"broken_packs":null,"suggest_repair_index":false,"suggest_prune":false}"#
    );
}

#[test]
fn bucket_subsets_together_read_every_pack_once() {
    for name in REPOS {
        let f = fixture(name);
        let mut seen = BTreeSet::new();
        for n in 1..=2u8 {
            let arg = format!("{n}/2");
            let cairn = f.cairn(["check", "--read-data-subset", &arg, "-vv"]);
            let restic = f.restic(["check", "--read-data-subset", &arg]);
            assert_eq!(cairn.code, Some(0), "{}", cairn.describe());
            let read = packs_read(&cairn);
            for id in &read {
                let first = u8::from_str_radix(&id[..2], 16).unwrap();
                assert_eq!(first % 2, n - 1, "{id} in group {arg}");
                assert!(seen.insert(id.clone()), "{id} read twice");
            }
            let group = |r: &Run| {
                normalized(r)
                    .into_iter()
                    .find(|l| l.starts_with("read group #"))
                    .unwrap()
            };
            assert_eq!(group(&cairn), group(&restic));
            assert_eq!(packs_line(&cairn), packs_line(&restic));
            assert_eq!(
                packs_line(&cairn),
                format!("[T] 100.00%  {0} / {0} packs", read.len())
            );
        }
        assert_eq!(seen, all_packs(&f), "{name}: 1/2 + 2/2 read every pack");
    }
}

#[test]
fn random_subsets_read_the_share_restic_reads() {
    let f = fixture("v1");
    let total = all_packs(&f).len();
    for (arg, line) in [
        ("50%", "read 50.0% of data packs"),
        ("12.5%", "read 12.5% of data packs"),
        ("1M", "read 1048576 bytes of data packs"),
        ("100k", "read 102400 bytes of data packs"),
    ] {
        let cairn = f.cairn(["check", "--read-data-subset", arg, "-vv"]);
        let restic = f.restic(["check", "--read-data-subset", arg]);
        assert_eq!(cairn.code, Some(0), "{}", cairn.describe());
        assert!(
            normalized(&cairn).iter().any(|l| l == line),
            "{}",
            cairn.describe()
        );
        assert_eq!(normalized(&cairn), normalized(&restic), "{arg}");
        let read = packs_read(&cairn);
        assert!(!read.is_empty() && read.len() <= total);
        assert!(read.is_subset(&all_packs(&f)));
        assert_eq!(
            packs_line(&cairn),
            format!("[T] 100.00%  {0} / {0} packs", read.len())
        );
    }
    let half = packs_read(&f.cairn(["check", "--read-data-subset", "50%", "-vv"]));
    assert_eq!(half.len(), total / 2);
}

#[test]
fn bad_flags_are_refused_like_restic() {
    let f = fixture("v2");
    for args in [
        vec!["check", "--read-data", "--read-data-subset", "1/2"],
        vec!["check", "--read-data-subset", "0/2"],
        vec!["check", "--read-data-subset", "3/2"],
        vec!["check", "--read-data-subset", "1/300"],
        vec!["check", "--read-data-subset", "101%"],
        vec!["check", "--read-data-subset", "x"],
        vec!["check", "--read-data-subset", "0"],
    ] {
        let restic = f.restic(&args);
        let cairn = f.cairn(&args);
        assert_eq!(restic.code, Some(1), "{}", restic.describe());
        assert_eq!(cairn.code, Some(1), "{}", cairn.describe());
        let fatal = |r: &Run| {
            r.stderr
                .lines()
                .find(|l| l.starts_with("Fatal: "))
                .map(str::to_string)
        };
        assert_eq!(fatal(&cairn), fatal(&restic), "{args:?}");
    }
}

/// `check` starts reading while its lock waits for the second look for
/// conflicting locks. Another process that locks the repository in that
/// moment (after check's first look) is still found: check stops with
/// restic's lock-conflict exit code 11 and removes its own lock, leaving
/// the other one.
#[test]
fn a_lock_taken_during_the_lock_wait_stops_check() {
    let f = fixture(REPOS[1]);
    let args = ["check", "--read-data", "--no-cache"].map(std::ffi::OsStr::new);
    common::assert_stopped_by_a_lock_taken_meanwhile(&f, &args, false);
}
