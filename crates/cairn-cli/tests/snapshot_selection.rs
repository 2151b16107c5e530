//! Snapshot selection and listing as restic 0.19 does it: `snapshots
//! --group-by` (text and JSON, against restic 0.14, which has the same
//! shapes), `--latest` with groups, the deprecated `--last`, the empty
//! repository, unknown and ambiguous IDs, `--host ""` over `RESTIC_HOST`,
//! `tag --json` (restic 0.19's `changed`/`summary` messages), and
//! `backup --group-by`/`--hostname` (the parent a backup picks).

#[macro_use]
mod common;

use common::{assert_json_superset, assert_same_text, run_from_output, Fixture, Run, Tool};
use serde_json::Value;
use std::ffi::OsString;

/// restic 0.19 adds the time zone line to the footer; restic 0.14 (the
/// reference here) does not. Returns cairn's text without it, after
/// checking it is there whenever a table is.
fn without_zone_line(cairn: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(cairn.to_vec()).unwrap();
    let tables = text.lines().filter(|l| l.ends_with(" snapshots")).count();
    let zones = text
        .lines()
        .filter(|l| *l == "Timestamps shown in UTC")
        .count();
    assert_eq!(tables, zones, "every table names the zone:\n{text}");
    let kept: Vec<&str> = text
        .split_inclusive('\n')
        .filter(|l| l.trim_end() != "Timestamps shown in UTC")
        .collect();
    kept.concat().into_bytes()
}

/// Groups of a grouped `snapshots --json`, keyed by their group key.
fn groups_by_key(v: &Value) -> Vec<(String, Value)> {
    let mut groups: Vec<(String, Value)> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|g| (g["group_key"].to_string(), g.clone()))
        .collect();
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
}

per_repo!(group_by_json_matches_restic, |fx| {
    for g in ["host", "paths", "tags", "host,tags", "host,paths,tags"] {
        for extra in [&[][..], &["--tag", "daily"][..]] {
            let mut args = vec!["snapshots", "--json", "--group-by", g];
            args.extend_from_slice(extra);
            let r = groups_by_key(&fx.restic(&args).ok().json());
            let c = groups_by_key(&fx.cairn(&args).ok().json());
            let what = format!("{}: {args:?}", fx.name);
            assert_eq!(
                r.iter().map(|g| &g.0).collect::<Vec<_>>(),
                c.iter().map(|g| &g.0).collect::<Vec<_>>(),
                "{what}: group keys"
            );
            for ((_, rg), (_, cg)) in r.iter().zip(&c) {
                assert_json_superset(&what, rg, cg);
                assert_eq!(
                    rg["snapshots"].as_array().unwrap().len(),
                    cg["snapshots"].as_array().unwrap().len(),
                    "{what}"
                );
            }
        }
    }
});

/// restic 0.19 (unlike 0.14) keeps the newest n of each group when
/// grouping, not of each host and path set.
#[test]
fn latest_with_groups_keeps_the_newest_of_each_group() {
    let fx = Fixture::new("v1");
    for g in ["host", "tags", "paths"] {
        let all = fx.cairn(["snapshots", "--json", "-g", g]).ok().json();
        let latest = fx
            .cairn(["snapshots", "--json", "-g", g, "--latest", "1"])
            .ok()
            .json();
        let (all, latest) = (groups_by_key(&all), groups_by_key(&latest));
        assert_eq!(all.len(), latest.len(), "{g}");
        for ((ka, a), (kl, l)) in all.iter().zip(&latest) {
            assert_eq!(ka, kl);
            let newest = a["snapshots"].as_array().unwrap().last().unwrap();
            assert_eq!(
                l["snapshots"].as_array().unwrap(),
                &vec![newest.clone()],
                "{g}"
            );
        }
    }
    // Two per group keeps the order (oldest first).
    let two = fx
        .cairn(["snapshots", "--json", "-g", "host", "--latest", "2"])
        .ok()
        .json();
    for (_, g) in groups_by_key(&two) {
        let times: Vec<&str> = g["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["time"].as_str().unwrap())
            .collect();
        assert!(times.len() <= 2 && times.windows(2).all(|w| w[0] <= w[1]));
    }
}

#[test]
fn group_by_text_matches_restic() {
    let fx = Fixture::new("v2");
    for args in [
        &["snapshots", "-g", "host"][..],
        &["snapshots", "-g", "tags", "--compact"],
        &["snapshots", "-g", "host,paths"],
        &["snapshots", "--group-by", "host", "--host", "alpha"],
    ] {
        let r = fx.restic(args).ok();
        let c = fx.cairn(args).ok();
        // restic prints the groups in random order: compare the lines.
        let lines = |b: &[u8]| {
            let mut v: Vec<String> = String::from_utf8_lossy(b)
                .lines()
                .map(String::from)
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            lines(&r.stdout),
            lines(&without_zone_line(&c.stdout)),
            "{args:?}\n{}",
            c.stdout_str()
        );
        assert!(c.stdout_str().contains("snapshots for ("), "{args:?}");
    }
    // One group: the order is fixed, so the bytes must match.
    let args = ["snapshots", "-g", "host", "--host", "beta"];
    let (r, c) = (fx.restic(args).ok(), fx.cairn(args).ok());
    assert_same_text("one group", &r.stdout, &without_zone_line(&c.stdout));
}

#[test]
fn bad_group_by_is_refused() {
    let fx = Fixture::new("v1");
    let c = fx.cairn(["snapshots", "--group-by", "color"]);
    assert_ne!(c.code, Some(0), "{}", c.describe());
    assert!(
        c.stderr.contains("unknown grouping option: \"color\""),
        "{}",
        c.describe()
    );
}

#[test]
fn last_is_latest_one_with_a_warning() {
    let fx = Fixture::new("v1");
    let latest = fx.cairn(["snapshots", "--json", "--latest", "1"]).ok();
    let last = fx.cairn(["snapshots", "--json", "--last"]).ok();
    assert_eq!(latest.json(), last.json());
    assert!(
        last.stderr
            .contains("Flag --last has been deprecated, use --latest 1"),
        "{}",
        last.describe()
    );
    let all = fx.cairn(["snapshots", "--json"]).ok().json();
    assert!(latest.json().as_array().unwrap().len() < all.as_array().unwrap().len());
}

#[test]
fn empty_repository_prints_no_table() {
    let fx = Fixture::new("v2");
    for f in fx.repo_files("snapshots") {
        std::fs::remove_file(f).unwrap();
    }
    for args in [
        &["snapshots"][..],
        &["snapshots", "--json"],
        &["snapshots", "-g", "host", "--json"],
        &["snapshots", "-g", "host"],
        &["snapshots", "--compact"],
    ] {
        let r = fx.restic(args).ok();
        let c = fx.cairn(args).ok();
        assert_same_text(&format!("{args:?}"), &r.stdout, &c.stdout);
        assert_eq!(r.stderr, c.stderr, "{args:?}");
    }
}

#[test]
fn unknown_ids_are_ignored_with_restics_message() {
    let fx = Fixture::new("v1");
    let ids = fx.snapshot_ids();
    for args in [
        &["snapshots", "abcdef"][..],
        &["snapshots", "--json", "abcdef"],
        &["snapshots", "--json", "0123", &ids[1]],
        &["snapshots", "--json", "not-hex"],
    ] {
        let r = fx.restic(args);
        let c = fx.cairn(args);
        assert_eq!(c.code, Some(0), "{}", c.describe());
        assert_eq!(r.code, c.code, "{args:?}");
        assert_eq!(r.stderr, c.stderr, "{args:?}\n{}", c.describe());
        assert!(c.stderr.starts_with("Ignoring \""), "{}", c.describe());
        if args.contains(&"--json") {
            assert_json_superset(&format!("{args:?}"), &r.json(), &c.json());
        } else {
            assert_same_text(&format!("{args:?}"), &r.stdout, &c.stdout);
        }
    }
    let c = fx.cairn(["snapshots", "--json", "abcdef"]).ok();
    assert_eq!(c.stdout_str(), "[]\n");
}

/// A second snapshot file whose name shares all but the last character
/// with an existing one, so that the 63-character prefix is ambiguous.
fn make_ambiguous(fx: &Fixture) -> String {
    let id = &fx.snapshot_ids()[0];
    let last = id.chars().last().unwrap();
    let other = if last == '0' { '1' } else { '0' };
    let twin = format!("{}{other}", &id[..63]);
    std::fs::copy(
        fx.repo.join("snapshots").join(id),
        fx.repo.join("snapshots").join(&twin),
    )
    .unwrap();
    id[..63].to_string()
}

#[test]
fn ambiguous_prefix_says_what_restic_says() {
    let fx = Fixture::new("v1");
    let prefix = make_ambiguous(&fx);
    let expected = format!("Ignoring \"{prefix}\": multiple IDs with prefix \"{prefix}\" found");
    for args in [
        &["snapshots", &prefix][..],
        &["snapshots", "--json", &prefix],
    ] {
        let r = fx.restic(args);
        let c = fx.cairn(args);
        assert_eq!(c.code, Some(0), "{}", c.describe());
        assert_eq!(r.code, c.code);
        assert_eq!(c.stderr.trim_end(), expected, "{}", c.describe());
        assert_eq!(r.stderr.trim_end(), expected, "{}", r.describe());
    }
    // Commands that need one snapshot fail with the same words.
    let c = fx.cairn(["ls", &prefix]);
    assert_eq!(c.code, Some(1), "{}", c.describe());
    assert!(
        c.stderr
            .contains(&format!("multiple IDs with prefix \"{prefix}\" found")),
        "{}",
        c.describe()
    );
}

/// `cairn ARGS` with extra environment variables.
fn cairn_env(fx: &Fixture, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut c = fx.command(Tool::Cairn);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).output().unwrap();
    run_from_output(Tool::Cairn, args.iter().map(OsString::from).collect(), out)
}

#[test]
fn empty_host_clears_restic_host() {
    let fx = Fixture::new("v1");
    let all = fx.cairn(["snapshots", "--json"]).ok().json();
    let only = cairn_env(&fx, &[("RESTIC_HOST", "alpha")], &["snapshots", "--json"]).ok();
    assert!(only.json().as_array().unwrap().len() < all.as_array().unwrap().len());
    let cleared = cairn_env(
        &fx,
        &[("RESTIC_HOST", "alpha")],
        &["snapshots", "--json", "--host", ""],
    )
    .ok();
    assert_eq!(cleared.json(), all);
}

#[test]
fn tag_json_prints_changed_and_summary() {
    let fx = Fixture::new("v2");
    let ids = fx.snapshot_ids();
    let r = fx
        .cairn(["tag", "--json", "--add", "new-tag", &ids[0]])
        .ok();
    let lines = r.json_lines();
    assert_eq!(lines.len(), 2, "{}", r.describe());
    let changed = lines[0].as_object().unwrap();
    assert_eq!(
        changed.keys().collect::<Vec<_>>(),
        ["message_type", "new_snapshot_id", "old_snapshot_id"]
    );
    assert_eq!(changed["message_type"], "changed");
    assert_eq!(changed["old_snapshot_id"], ids[0].as_str());
    let new_id = changed["new_snapshot_id"].as_str().unwrap().to_string();
    assert!(fx.snapshot_ids().contains(&new_id));
    // restic's field order.
    let first = r.stdout_str().lines().next().unwrap().to_string();
    assert!(
        first.starts_with("{\"message_type\":\"changed\",\"old_snapshot_id\":"),
        "{first}"
    );
    assert_eq!(
        r.stdout_str().lines().nth(1).unwrap(),
        "{\"message_type\":\"summary\",\"changed_snapshots\":1}"
    );
    // Nothing to change: only the summary.
    let r = fx
        .cairn(["tag", "--json", "--add", "new-tag", &new_id])
        .ok();
    assert_eq!(
        r.stdout_str(),
        "{\"message_type\":\"summary\",\"changed_snapshots\":0}\n"
    );
    // Text: the IDs with -v, and restic 0.19's count line.
    let r = fx.cairn(["tag", "-v", "--remove", "new-tag", &new_id]).ok();
    let out = r.stdout_str();
    assert!(
        out.contains(&format!("old snapshot ID: {new_id} -> new snapshot ID: ")),
        "{out}"
    );
    assert!(out.contains("modified 1 snapshots"), "{out}");
}

/// The snapshot `cairn backup` just wrote (the newest), as JSON.
fn newest(fx: &Fixture) -> Value {
    let v = fx.cairn(["snapshots", "--json"]).ok().json();
    let mut v = v.as_array().unwrap().clone();
    v.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    v.pop().unwrap()
}

#[test]
fn backup_group_by_picks_the_parent_of_the_group() {
    let fx = Fixture::new("v2");
    let src = fx.scratch("src");
    std::fs::write(src.join("f"), b"content").unwrap();
    let src = src.to_str().unwrap();
    fx.cairn(["backup", "-q", "--host", "hx", "--tag", "t1", src])
        .ok();
    let first = newest(&fx)["id"].as_str().unwrap().to_string();
    // Default host,paths: the tagged snapshot is the parent.
    fx.cairn(["backup", "-q", "--host", "hx", "--tag", "t2", src])
        .ok();
    assert_eq!(newest(&fx)["parent"], first.as_str());
    // Grouping by tags too: no snapshot with tag t3 yet, so no parent.
    fx.cairn([
        "backup",
        "-q",
        "--host",
        "hx",
        "--tag",
        "t3",
        "-g",
        "host,paths,tags",
        src,
    ])
    .ok();
    assert!(newest(&fx).get("parent").is_none(), "{}", newest(&fx));
    // Grouping by tags alone: the t1 snapshot of any host is the parent.
    fx.cairn([
        "backup",
        "-q",
        "--host",
        "hy",
        "--tag",
        "t1",
        "--group-by",
        "tags",
        src,
    ])
    .ok();
    assert_eq!(newest(&fx)["parent"], first.as_str());
    // Another host with the default grouping: none.
    fx.cairn(["backup", "-q", "--host", "hz", src]).ok();
    assert!(newest(&fx).get("parent").is_none());
    let bad = fx.cairn(["backup", "-q", "--group-by", "color", src]);
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("unknown grouping option"));
}

#[test]
fn backup_hostname_and_empty_host() {
    let fx = Fixture::new("v1");
    let src = fx.scratch("src");
    std::fs::write(src.join("f"), b"content").unwrap();
    let src = src.to_str().unwrap();
    let r = fx
        .cairn(["backup", "-q", "--hostname", "old-flag", src])
        .ok();
    assert!(
        r.stderr
            .contains("Flag --hostname has been deprecated, use --host"),
        "{}",
        r.describe()
    );
    assert_eq!(newest(&fx)["hostname"], "old-flag");
    cairn_env(&fx, &[("RESTIC_HOST", "from-env")], &["backup", "-q", src]).ok();
    assert_eq!(newest(&fx)["hostname"], "from-env");
    // `--host ""` overrides RESTIC_HOST with this machine's name.
    cairn_env(
        &fx,
        &[("RESTIC_HOST", "from-env")],
        &["backup", "-q", "--host", "", src],
    )
    .ok();
    let host = newest(&fx)["hostname"].as_str().unwrap().to_string();
    assert!(!host.is_empty() && host != "from-env", "{host:?}");
}

/// restic 0.17+'s Size column: shown when a snapshot has a summary (as
/// cairn's and restic 0.17+'s backups write), from its
/// `total_bytes_processed`; empty for snapshots without one.
#[test]
fn size_column_from_the_summary() {
    let fx = Fixture::new("v1");
    let text = fx.cairn(["snapshots"]).ok().stdout_str();
    assert!(!text.lines().next().unwrap().contains("Size"), "{text}");
    let src = fx.scratch("src");
    std::fs::write(src.join("f"), vec![b'x'; 3000]).unwrap();
    fx.cairn(["backup", "-q", "--host", "sized", src.to_str().unwrap()])
        .ok();
    let sn = newest(&fx);
    assert_eq!(sn["summary"]["total_bytes_processed"], 3000, "{sn}");
    let text = fx.cairn(["snapshots"]).ok().stdout_str();
    let header = text.lines().next().unwrap();
    assert!(
        header.contains("  Paths  ") && header.ends_with("  Size"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.contains("sized"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.ends_with("  2.930 KiB"), "{row}");
    let compact = fx
        .cairn(["snapshots", "-c", "--host", "sized"])
        .ok()
        .stdout_str();
    assert!(
        compact.lines().next().unwrap().ends_with("Size"),
        "{compact}"
    );
}
