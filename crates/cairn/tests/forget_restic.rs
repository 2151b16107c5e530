//! Differential test of the keep policy against the real restic: random
//! snapshot histories are written into Cairn-made repositories, then
//! `restic forget --dry-run --json <policy>` and Cairn's grouping and
//! `apply_policy` must keep and remove the same snapshots, for the same
//! reasons and with the same counters, group by group.
//!
//! A missing restic fails the test (set `CAIRN_TEST_RESTIC` or put restic
//! on `PATH`).

#[path = "common/restic_cli.rs"]
mod common;

use cairn::forget::{apply_policy, group_snapshots, GroupBy, KeepDuration, KeepPolicy};
use cairn::format::GoTime;
use cairn::write::{BlobWriter, WriteOptions};
use cairn::{BlobType, FileType, Id, Repository, Snapshot, SnapshotFilter, StoredSnapshot, Tree};
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

/// Histories compared, and policies tried on each.
const HISTORIES: u64 = 30;
const POLICIES_PER_HISTORY: usize = 5;

/// SplitMix64: a small seeded generator, so failures can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const HOSTS: [&str; 3] = ["alpha", "beta", "gamma"];
const PATH_SETS: [&[&str]; 3] = [&["/srv"], &["/home", "/etc"], &["/etc", "/home"]];
const TAGS: [&str; 3] = ["a", "b", "c"];
const OFFSETS: [i32; 4] = [0, 7200, -18000, 19800];

/// A history: strictly increasing times over several years, with steps
/// from minutes to months, and a few snapshots in the future.
fn write_history(rng: &mut Rng, repo: &Repository, tree: Id) -> usize {
    let count = 20 + rng.below(181) as usize;
    let mut t: i64 = 1_420_070_400 + rng.below(5 * 365 * 86_400) as i64; // 2015..2020
    for i in 0..count {
        let step = match rng.below(6) {
            0 => 60 + rng.below(3600),
            1 => 3600 + rng.below(6 * 3600),
            2 => 86_400 / 2 + rng.below(86_400),
            3 => 86_400 + rng.below(7 * 86_400),
            4 => 20 * 86_400 + rng.below(30 * 86_400),
            _ => 1 + rng.below(600),
        };
        t += step as i64;
        let future = i + 1 == count && rng.chance(20);
        let time = GoTime {
            unix_secs: if future { 2_500_000_000 } else { t },
            nanos: if rng.chance(30) {
                rng.below(1_000_000_000) as u32
            } else {
                0
            },
            offset_secs: *rng.pick(&OFFSETS),
        };
        let mut sn = Snapshot::new(time, tree);
        sn.hostname = rng.pick(&HOSTS).to_string();
        sn.paths = rng.pick(&PATH_SETS).iter().map(|p| p.to_string()).collect();
        sn.tags = TAGS
            .iter()
            .filter(|_| rng.chance(35))
            .map(|t| t.to_string())
            .collect();
        if rng.chance(30) {
            sn.tags.reverse();
        }
        sn.username = "root".into();
        repo.save_unpacked(FileType::Snapshot, &sn.to_json())
            .unwrap();
    }
    count
}

fn random_duration(rng: &mut Rng) -> (KeepDuration, String) {
    let mut d = KeepDuration::default();
    match rng.below(4) {
        0 => d.days = 1 + rng.below(60) as i32,
        1 => d.hours = 1 + rng.below(100) as i32,
        2 => d.months = 1 + rng.below(18) as i32,
        _ => {
            d.years = rng.below(2) as i32;
            d.months = rng.below(3) as i32;
            d.days = rng.below(10) as i32;
            d.hours = 1 + rng.below(5) as i32;
        }
    }
    let text = d.to_string();
    (d, text)
}

/// A random non-empty policy, with restic's flags for it, plus a group-by
/// and a filter.
fn random_case(rng: &mut Rng) -> (KeepPolicy, GroupBy, SnapshotFilter, Vec<String>) {
    loop {
        let mut p = KeepPolicy::default();
        let mut args: Vec<String> = Vec::new();
        let counts: [(&str, &mut i64); 6] = [
            ("--keep-last", &mut p.last),
            ("--keep-hourly", &mut p.hourly),
            ("--keep-daily", &mut p.daily),
            ("--keep-weekly", &mut p.weekly),
            ("--keep-monthly", &mut p.monthly),
            ("--keep-yearly", &mut p.yearly),
        ];
        for (flag, slot) in counts {
            if rng.chance(30) {
                *slot = 1 + rng.below(12) as i64;
                args.extend([flag.to_string(), slot.to_string()]);
            }
        }
        let durations: [(&str, &mut KeepDuration); 6] = [
            ("--keep-within", &mut p.within),
            ("--keep-within-hourly", &mut p.within_hourly),
            ("--keep-within-daily", &mut p.within_daily),
            ("--keep-within-weekly", &mut p.within_weekly),
            ("--keep-within-monthly", &mut p.within_monthly),
            ("--keep-within-yearly", &mut p.within_yearly),
        ];
        for (flag, slot) in durations {
            if rng.chance(15) {
                let (d, text) = random_duration(rng);
                *slot = d;
                args.extend([flag.to_string(), text]);
            }
        }
        if rng.chance(25) {
            let value = *rng.pick(&["a", "b,c", "", "c", " a , b"]);
            p.tags
                .push(value.split(',').map(|t| t.trim().to_string()).collect());
            args.extend(["--keep-tag".to_string(), value.to_string()]);
        }
        if p.is_empty() {
            continue;
        }
        let group_text = *rng.pick(&["host,paths", "", "host", "tags", "paths,tags", "host,tags"]);
        args.extend(["--group-by".to_string(), group_text.to_string()]);
        let mut filter = SnapshotFilter::default();
        match rng.below(6) {
            0 => {
                filter.hosts.push("alpha".into());
                args.extend(["--host".into(), "alpha".into()]);
            }
            1 => {
                filter.tags.push(vec!["a".into()]);
                args.extend(["--tag".into(), "a".into()]);
            }
            _ => {}
        }
        return (p, GroupBy::parse(group_text).unwrap(), filter, args);
    }
}

/// A Cairn-made repository, in memory (`/dev/shm`) when possible: the
/// backend syncs every file, which makes thousands of snapshot files slow
/// on disk.
fn fast_repo() -> (tempfile::TempDir, std::path::PathBuf, Repository) {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let path = dir.path().join("repo");
    let opts = cairn::InitOptions {
        scrypt: Some(small_scrypt()),
        ..Default::default()
    };
    let backend = std::sync::Arc::new(cairn::LocalBackend::new(&path));
    let repo = Repository::init(backend, PASSWORD, &opts).unwrap();
    (dir, path, repo)
}

/// Per group (host, paths, tags): kept IDs with reasons and counters, and
/// removed IDs.
type Outcome = BTreeMap<String, (Vec<(String, Value)>, Vec<String>)>;

fn list_of(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        other => panic!("not a list: {other}"),
    }
}

fn group_name(host: &str, paths: &[String], tags: &[String]) -> String {
    format!("host={host} paths={paths:?} tags={tags:?}")
}

fn restic_outcome(json: &str) -> Outcome {
    let groups: Value = serde_json::from_str(json).expect("restic forget --json output");
    let mut out = Outcome::new();
    for g in groups.as_array().unwrap() {
        let name = group_name(
            g["host"].as_str().unwrap(),
            &list_of(&g["paths"]),
            &list_of(&g["tags"]),
        );
        let ids = |k: &str| -> Vec<String> {
            g[k].as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| s["id"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let reasons = g["reasons"].as_array().cloned().unwrap_or_default();
        let keep: Vec<(String, Value)> = ids("keep")
            .into_iter()
            .zip(reasons)
            .map(|(id, r)| {
                (
                    id,
                    serde_json::json!({"matches": r["matches"], "counters": r["counters"]}),
                )
            })
            .collect();
        out.insert(name, (keep, ids("remove")));
    }
    out
}

fn cairn_outcome(
    snaps: &[StoredSnapshot],
    policy: &KeepPolicy,
    group_by: GroupBy,
    filter: &SnapshotFilter,
) -> Outcome {
    let selected: Vec<_> = snaps
        .iter()
        .filter(|s| filter.matches(&s.snapshot))
        .cloned()
        .collect();
    let mut out = Outcome::new();
    for (key, group) in group_snapshots(&selected, group_by) {
        let r = apply_policy(&group, policy, GoTime::now_local());
        let keep = r
            .keep
            .iter()
            .map(|(s, why)| {
                let c = &why.counters;
                let mut counters = serde_json::Map::new();
                for (k, v) in [
                    ("last", c.last),
                    ("hourly", c.hourly),
                    ("daily", c.daily),
                    ("weekly", c.weekly),
                    ("monthly", c.monthly),
                    ("yearly", c.yearly),
                ] {
                    if v != 0 {
                        counters.insert(k.into(), v.into());
                    }
                }
                (
                    s.id.to_hex(),
                    serde_json::json!({"matches": why.matches, "counters": counters}),
                )
            })
            .collect();
        let remove = r.remove.iter().map(|s| s.id.to_hex()).collect();
        out.insert(
            group_name(&key.hostname, &key.paths, &key.tags),
            (keep, remove),
        );
    }
    out
}

#[test]
fn keep_policy_matches_restic() {
    // restic buckets in the zone each time was recorded in, like Cairn;
    // run both in UTC anyway so that nothing depends on the machine.
    std::env::set_var("TZ", "UTC");
    let seed = std::env::var("CAIRN_FORGET_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f0e7_u64);
    let mut total_snapshots = 0;
    let mut compared = 0;
    for history in 0..HISTORIES {
        let mut rng = Rng(seed ^ history.wrapping_mul(0x1000_0000_01b3));
        let (_dir, path, repo) = fast_repo();
        let writer = BlobWriter::new(&repo, WriteOptions::default()).unwrap();
        let tree = writer
            .save_blob(BlobType::Tree, &Tree { nodes: Vec::new() }.to_json())
            .unwrap()
            .id;
        writer.flush().unwrap();
        total_snapshots += write_history(&mut rng, &repo, tree);
        let (snaps, problems) = repo.snapshots().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        for case in 0..POLICIES_PER_HISTORY {
            let (policy, group_by, filter, args) = random_case(&mut rng);
            let mut cmd: Vec<String> = ["--no-lock", "forget", "--dry-run", "--json"]
                .map(String::from)
                .to_vec();
            cmd.extend(args.iter().cloned());
            let out = restic(&path, PASSWORD, &cmd);
            let stdout = ok(out);
            let expected = if stdout.trim().is_empty() {
                Outcome::new()
            } else {
                restic_outcome(&stdout)
            };
            let got = cairn_outcome(&snaps, &policy, group_by, &filter);
            assert_eq!(
                got, expected,
                "history {history} case {case} (seed {seed:#x}): restic {args:?}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, HISTORIES as usize * POLICIES_PER_HISTORY);
    eprintln!(
        "compared {compared} policies on {HISTORIES} histories ({total_snapshots} snapshots) with restic"
    );
}
