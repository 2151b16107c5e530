//! restic 0.19's `find --blob/--tree/--pack/--show-pack-id/--reverse/
//! --human-readable` and `ls --sort/--reverse/--ncdu/--human-readable`,
//! compared with restic 0.14 where 0.14 has the flag and with 0.19's
//! source (cmd/restic/cmd_find.go, cmd_ls.go, format.go) where it does not.

#[macro_use]
mod common;

use common::Fixture;
use serde_json::Value;
use std::collections::BTreeSet;

/// The first data blob or tree blob `restic list blobs` names. A tree must
/// not be a snapshot's root: restic (0.14 and 0.19) only reports trees met
/// as a directory node's subtree, and the order of `list blobs` varies
/// between runs, so picking any tree made this test flaky.
fn some_blob(f: &Fixture, kind: &str) -> String {
    let roots: BTreeSet<String> = f
        .restic(["snapshots", "--json"])
        .ok()
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|s| s["tree"].as_str().map(str::to_owned))
        .collect();
    f.restic(["list", "blobs"])
        .ok()
        .stdout_str()
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{kind} ")).map(str::to_owned))
        .find(|id| !roots.contains(id))
        .unwrap_or_else(|| panic!("no {kind} blob outside the snapshots' roots"))
}

/// `find --json ARGS` objects, as a sorted list of their JSON texts.
fn objects(run: &common::Run) -> Vec<String> {
    let mut v: Vec<String> = run
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .map(Value::to_string)
        .collect();
    v.sort();
    v
}

/// Text output split into the blocks starting with "Found ", sorted (restic
/// 0.14 walks snapshots in no stable order).
fn blocks(run: &common::Run) -> Vec<String> {
    let text = String::from_utf8_lossy(&run.stdout);
    let mut v: Vec<String> = text
        .split("Found ")
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

fn same_objects(f: &Fixture, args: &[&str]) {
    let mut json = vec!["find", "--json"];
    json.extend_from_slice(args);
    let r = objects(&f.restic(&json).ok());
    let c = objects(&f.cairn(&json).ok());
    assert!(
        !r.is_empty(),
        "{}: restic found nothing for {args:?}",
        f.name
    );
    assert_eq!(r, c, "{}: find --json {args:?}", f.name);
    let mut text = vec!["find"];
    text.extend_from_slice(args);
    let r = blocks(&f.restic(&text).ok());
    let c = blocks(&f.cairn(&text).ok());
    assert_eq!(r, c, "{}: find {args:?}", f.name);
}

per_repo!(find_blob_tree_and_pack_match_restic, |f| {
    let data = some_blob(f, "data");
    let tree = some_blob(f, "tree");
    same_objects(f, &["--blob", &data]);
    same_objects(f, &["--blob", &data[..8]]);
    same_objects(f, &["--tree", &tree]);
    let pack = f.restic(["list", "packs"]).ok().sorted_lines()[0].clone();
    same_objects(f, &["--pack", &pack]);
});

per_repo!(find_show_pack_id_matches_restic, |f| {
    let data = some_blob(f, "data");
    // Lossy: the blob may sit in a file whose name is not UTF-8 (the
    // fixtures have one), and `list blobs` order varies between runs.
    let tail = |run: common::Run| -> Vec<String> {
        String::from_utf8_lossy(&run.stdout)
            .lines()
            .skip_while(|l| !l.starts_with("Object belongs"))
            .map(str::to_owned)
            .collect()
    };
    let r = tail(f.restic(["find", "--show-pack-id", "--blob", &data]).ok());
    let c = tail(f.cairn(["find", "--show-pack-id", "--blob", &data]).ok());
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r, c);
});

/// restic 0.19 walks the newest snapshot first, the oldest with -R.
#[test]
fn find_orders_snapshots_newest_first_and_reverse() {
    let f = Fixture::new("v2");
    let times = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["find", "--json"];
        full.extend_from_slice(args);
        f.cairn(&full)
            .ok()
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["time"].as_str().map(str::to_owned).unwrap_or_default())
            .collect()
    };
    let root_trees: Vec<String> = f
        .snapshots()
        .iter()
        .map(|s| s["tree"].as_str().unwrap().to_owned())
        .collect();
    let mut args = vec!["--tree"];
    args.extend(root_trees.iter().map(String::as_str));
    let newest_first = times(&args);
    assert_eq!(newest_first.len(), 5, "{newest_first:?}");
    let mut sorted = newest_first.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(newest_first, sorted, "newest first");
    args.push("-R");
    let oldest_first = times(&args);
    sorted.reverse();
    assert_eq!(oldest_first, sorted, "oldest first with -R");
    // Pattern search follows the same order.
    let snaps: Vec<String> = f
        .cairn(["find", "--json", "*"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["snapshot"].as_str().unwrap().to_owned())
        .collect();
    let by_time: Vec<String> = f
        .snapshots()
        .iter()
        .rev()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(snaps, by_time);
}

#[test]
fn find_refuses_several_id_types_and_finds_nothing_as_empty_array() {
    let f = Fixture::new("v2");
    let run = f.cairn(["find", "--blob", "--tree", "abcd"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stderr.contains("cannot have several ID types"),
        "{}",
        run.stderr
    );
    let run = f
        .cairn(["find", "--json", "--blob", "0123456789abcdef"])
        .ok();
    assert_eq!(run.stdout_str(), "[]\n");
    let run = f.cairn(["find", "--pack", "01234567"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stderr.contains("unable to find pack(s): [01234567]"),
        "{}",
        run.stderr
    );
}

/// A long line of `find`/`ls` with --human-readable: restic's
/// `ui.FormatBytes` in place of the padded byte count.
#[test]
fn human_readable_sizes_in_long_listings() {
    let f = Fixture::new("v2");
    // A snapshot holding a file of at least 1 KiB.
    let (latest, big) = f
        .snapshot_ids()
        .into_iter()
        .find_map(|id| {
            let nodes = f.cairn(["ls", "--json", &id]).ok().json_lines();
            let big = nodes
                .into_iter()
                .filter(|n| n["type"] == "file")
                .find(|n| n["size"].as_u64().unwrap_or(0) >= 1024)?;
            Some((id, big))
        })
        .expect("a file of at least 1 KiB");
    let latest = latest.as_str();
    let lossy = |run: common::Run| String::from_utf8_lossy(&run.stdout).into_owned();
    let plain = lossy(f.cairn(["ls", "-l", latest]).ok());
    let human = lossy(f.cairn(["ls", "-l", "--human-readable", latest]).ok());
    let path = big["path"].as_str().unwrap();
    let size = big["size"].as_u64().unwrap();
    let line = human
        .lines()
        .find(|l| l.ends_with(&format!(" {path}")))
        .unwrap();
    let want = if size >= 1 << 20 {
        format!(" {:.3} MiB ", size as f64 / (1u64 << 20) as f64)
    } else {
        format!(" {:.3} KiB ", size as f64 / 1024.0)
    };
    assert!(line.contains(&want), "{line:?} should hold {want:?}");
    assert!(plain.contains(&format!(" {size:6} ")), "{plain}");
    let found = lossy(
        f.cairn(["find", "-s", latest, "-l", "--human-readable", path])
            .ok(),
    );
    assert!(found.contains(&want), "{found}");
}

fn ls_json_paths(f: &Fixture, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["ls", "--json"];
    full.extend_from_slice(args);
    let mut lines = f.cairn(&full).ok().json_lines();
    assert_eq!(lines.remove(0)["message_type"], "snapshot");
    lines
}

#[test]
fn ls_sort_and_reverse_as_restic_0_19() {
    let f = Fixture::new("v2");
    let walk = ls_json_paths(&f, &["latest"]);
    let path = |n: &Value| n["path"].as_str().unwrap().to_owned();
    // restic 0.14 lists in walk order: the same as cairn without --sort.
    let r: Vec<String> = f.restic(["ls", "--json", "latest"]).ok().json_lines()[1..]
        .iter()
        .map(path)
        .collect();
    assert_eq!(r, walk.iter().map(path).collect::<Vec<_>>());

    let mut by_size = walk.clone();
    by_size.sort_by_key(|n| (n["size"].as_u64().unwrap_or(0), path(n)));
    let sorted = ls_json_paths(&f, &["latest", "--sort", "size"]);
    assert_eq!(
        sorted.iter().map(path).collect::<Vec<_>>(),
        by_size.iter().map(path).collect::<Vec<_>>()
    );

    let reversed = ls_json_paths(&f, &["latest", "--reverse"]);
    let mut want: Vec<String> = walk.iter().map(path).collect();
    want.reverse();
    assert_eq!(reversed.iter().map(path).collect::<Vec<_>>(), want);

    let ext = |p: &str| -> String {
        let name = p.rsplit('/').next().unwrap();
        name.rfind('.')
            .map(|i| name[i..].to_owned())
            .unwrap_or_default()
    };
    let mut by_ext: Vec<String> = walk.iter().map(path).collect();
    by_ext.sort_by_key(|p| (ext(p), p.clone()));
    by_ext.reverse();
    let got = ls_json_paths(&f, &["latest", "-s", "extension", "--reverse"]);
    assert_eq!(got.iter().map(path).collect::<Vec<_>>(), by_ext);

    let mut by_mtime = walk.clone();
    by_mtime.sort_by_key(|n| {
        let t = chrono::DateTime::parse_from_rfc3339(n["mtime"].as_str().unwrap()).unwrap();
        (t.timestamp(), t.timestamp_subsec_nanos(), path(n))
    });
    let got = ls_json_paths(&f, &["latest", "--sort", "time"]);
    assert_eq!(
        got.iter().map(path).collect::<Vec<_>>(),
        by_mtime.iter().map(path).collect::<Vec<_>>()
    );

    let run = f.cairn(["ls", "latest", "--sort", "bogus"]);
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains("invalid sort mode \"bogus\""),
        "{}",
        run.stderr
    );
}

#[test]
fn ls_ncdu_export_has_restic_0_19_shape() {
    let f = Fixture::new("v2");
    let run = f.cairn(["ls", "--ncdu", "latest"]).ok();
    let text = run.stdout_str();
    assert!(
        text.starts_with("[1, 2, {\"time\":"),
        "{}",
        &text[..80.min(text.len())]
    );
    assert!(text.ends_with("\n]\n]\n"), "{text}");
    let doc: Value = serde_json::from_str(&text).expect("ncdu export is JSON");
    let arr = doc.as_array().unwrap();
    assert_eq!((arr[0].as_u64(), arr[1].as_u64()), (Some(1), Some(2)));
    let sn = f.cairn(["snapshots", "--json", "latest"]).ok().json()[0].clone();
    assert_eq!(arr[2]["tree"], sn["tree"]);
    assert!(
        arr[2].get("id").is_none(),
        "the snapshot is marshalled without its ID"
    );
    let root = arr[3].as_array().unwrap();
    assert_eq!(root[0], serde_json::json!({"name": "/"}));
    // Rebuild the paths from the nesting and compare with `ls --json`.
    let mut paths = BTreeSet::new();
    fn collect(items: &[Value], prefix: &str, out: &mut BTreeSet<String>, nodes: &mut Vec<Value>) {
        for item in items {
            match item {
                Value::Array(dir) => {
                    let name = dir[0]["name"].as_str().unwrap();
                    let p = format!("{prefix}/{name}");
                    nodes.push(dir[0].clone());
                    out.insert(p.clone());
                    collect(&dir[1..], &p, out, nodes);
                }
                node => {
                    let p = format!("{prefix}/{}", node["name"].as_str().unwrap());
                    nodes.push(node.clone());
                    out.insert(p);
                }
            }
        }
    }
    let mut nodes = Vec::new();
    collect(&root[1..], "", &mut paths, &mut nodes);
    let listed = ls_json_paths(&f, &["latest"]);
    let want: BTreeSet<String> = listed
        .iter()
        .map(|n| n["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, want);
    let keys: Vec<&str> = [
        "name", "asize", "dsize", "dev", "ino", "nlink", "notreg", "uid", "gid", "mode", "mtime",
    ]
    .to_vec();
    for n in &nodes {
        let got: Vec<&str> = n.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted_keys = keys.clone();
        sorted_keys.sort();
        let mut g = got.clone();
        g.sort();
        assert_eq!(g, sorted_keys, "{n}");
        let asize = n["asize"].as_u64().unwrap();
        assert_eq!(n["dsize"].as_u64().unwrap(), asize.div_ceil(512) * 512);
        assert!(
            n["mtime"].as_i64().unwrap() >= 0,
            "ncdu has no negative times: {n}"
        );
        assert!(n["mode"].as_u64().unwrap() <= 0o7777);
    }
    // Field order as restic's struct, and the two-space indentation.
    assert!(
        text.contains(",\n  [\n    {\"name\":"),
        "a top-level directory opens a nested list: {}",
        &text[..300.min(text.len())]
    );
    assert!(text.contains("\"asize\":"), "{text}");
    let asize = text.find("\"asize\":").unwrap();
    let first = text[..asize].rfind('{').unwrap();
    let obj_end = first + text[first..].find('}').unwrap();
    let order: Vec<usize> = keys
        .iter()
        .map(|k| text[first..=obj_end].find(&format!("\"{k}\":")).unwrap())
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "fields in restic's order");

    for (args, msg) in [
        (
            vec!["--json", "ls", "--ncdu", "latest"],
            "only either '--json' or '--ncdu' can be specified",
        ),
        (
            vec!["ls", "--ncdu", "--sort", "size", "latest"],
            "--sort and --ncdu are mutually exclusive",
        ),
        (
            vec!["ls", "--ncdu", "--reverse", "latest"],
            "--reverse and --ncdu are mutually exclusive",
        ),
    ] {
        let run = f.cairn(&args);
        assert_eq!(run.code, Some(1), "{}", run.describe());
        assert!(run.stderr.contains(msg), "{}", run.stderr);
    }
}

/// restic (0.14 and 0.19) refuses relative directory filters in `ls`.
#[test]
fn ls_refuses_relative_directories_like_restic() {
    let f = Fixture::new("v2");
    let r = f.restic(["ls", "latest", "tmp"]);
    let c = f.cairn(["ls", "latest", "tmp"]);
    assert_eq!(r.code, Some(1), "{}", r.describe());
    assert_eq!(c.code, Some(1), "{}", c.describe());
    let msg = "All path filters must be absolute, starting with a forward slash '/'";
    assert!(r.stderr.contains(msg), "{}", r.stderr);
    assert!(c.stderr.contains(msg), "{}", c.stderr);
}

/// restic 0.19's `find` also takes `02.01.2006` dates and explicit offsets.
#[test]
fn find_takes_restic_0_19_time_formats() {
    let f = Fixture::new("v2");
    let run = |args: &[&str]| {
        let mut full = vec!["find", "--json"];
        full.extend_from_slice(args);
        full.push("*");
        f.cairn(&full).ok().json()
    };
    let iso = run(&["--oldest", "2020-01-01", "--newest", "2021-12-31 23:59"]);
    assert!(!iso.as_array().unwrap().is_empty());
    assert_eq!(
        run(&["--oldest", "01.01.2020", "--newest", "31.12.2021 23:59"]),
        iso
    );
    assert_eq!(
        run(&[
            "-O",
            "2020-01-01 00:00:00 +0000",
            "-N",
            "31.12.2021 23:59:00 +0000"
        ]),
        iso
    );
    let bad = f.cairn(["find", "--oldest", "2021/01/01", "*"]);
    assert_eq!(bad.code, Some(1), "{}", bad.describe());
    assert!(
        bad.stderr.contains("unable to parse time: \"2021/01/01\""),
        "{}",
        bad.stderr
    );
    let swapped = f.cairn(["find", "-O", "2022-01-01", "-N", "2021-01-01", "*"]);
    assert_eq!(swapped.code, Some(1), "{}", swapped.describe());
    assert!(swapped
        .stderr
        .contains("--oldest must specify a time before --newest"));
}
