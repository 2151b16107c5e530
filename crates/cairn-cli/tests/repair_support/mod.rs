//! Helpers shared by the `rewrite`, `repair` and `recover` tests.
#![allow(dead_code)]

use crate::common::Fixture;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// `restic check --read-data` must pass.
pub fn restic_check_read_data(f: &Fixture) {
    f.reset_caches();
    f.restic(["check", "--read-data"]).ok();
}

/// `restic check` must fail (the repository is damaged), naming `what`.
pub fn restic_check_fails(f: &Fixture, what: &str) {
    f.reset_caches();
    let run = f.restic(["check"]);
    assert_ne!(run.code, Some(0), "check should fail:\n{}", run.describe());
    let all = format!("{}{}", run.stderr, String::from_utf8_lossy(&run.stdout));
    assert!(all.contains(what), "check should report {what:?}:\n{all}");
}

/// Every snapshot by full ID, as restic 0.14 lists them.
pub fn snapshots_by_id(f: &Fixture) -> BTreeMap<String, Value> {
    let all = f.restic(["snapshots", "--json"]).ok().json();
    all.as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

/// The snapshots whose `original` is `old`.
pub fn replacements<'a>(snaps: &'a BTreeMap<String, Value>, old: &str) -> Vec<&'a Value> {
    snaps
        .values()
        .filter(|s| s["original"].as_str() == Some(old))
        .collect()
}

/// The one snapshot whose `original` is `old`.
pub fn replacement<'a>(snaps: &'a BTreeMap<String, Value>, old: &str) -> &'a Value {
    let found = replacements(snaps, old);
    assert_eq!(found.len(), 1, "one replacement of {old}");
    found[0]
}

/// The paths restic 0.14's `ls` prints for a snapshot (header dropped).
pub fn ls_paths(f: &Fixture, id: &str) -> Vec<Vec<u8>> {
    let run = f.restic(["ls", id]).ok();
    run.stdout
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The tags of a snapshot as strings.
pub fn tags(s: &Value) -> Vec<String> {
    s["tags"]
        .as_array()
        .map(|t| t.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Restores a snapshot with restic into `target`.
pub fn restic_restore(f: &Fixture, id: &str, target: &Path) {
    f.restic(["restore", id, "--target", target.to_str().unwrap()])
        .ok();
}
