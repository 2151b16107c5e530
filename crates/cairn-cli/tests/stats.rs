//! `stats` against the real restic 0.14 on the fixture repositories, byte
//! for byte: every counting mode, text and `--json`, all snapshots or some
//! (IDs, prefixes, `latest`, duplicates), snapshot filters, and restic's
//! warnings and errors for bad input. (The repository restic writes from a
//! changing tree is covered in `tests/diff.rs`, which builds it.)

#[macro_use]
mod common;

use common::{assert_same_text, src, Fixture, Run, Tool};

const MODES: [&str; 4] = [
    "restore-size",
    "files-by-contents",
    "raw-data",
    "blobs-per-file",
];

/// Runs `stats <args>` with both tools; exit code, stdout and stderr must
/// be identical.
fn compare(fx: &Fixture, args: &[&str]) -> Run {
    let mut full = vec!["stats"];
    full.extend_from_slice(args);
    let r = fx.restic(&full);
    let c = fx.cairn(&full);
    c.assert_no_panic();
    let what = format!("{}: {}", fx.name, full.join(" "));
    assert_eq!(r.code, c.code, "{what}\n{}\n{}", r.describe(), c.describe());
    assert_same_text(&what, &r.stdout, &c.stdout);
    assert_same_text(&what, r.stderr.as_bytes(), c.stderr.as_bytes());
    r
}

per_repo!(stats_json_every_mode, |fx| {
    for mode in MODES {
        let r = compare(fx, &["--json", "--mode", mode]).ok();
        assert!(r.json()["total_size"].as_u64().unwrap() > 0, "{mode}");
    }
});

#[test]
fn stats_text_modes_selections_and_filters() {
    let fx = Fixture::new("v2");
    let ids = fx.snapshot_ids();
    let home = src("");
    for mode in MODES {
        compare(&fx, &["--mode", mode]).ok();
        // A prefix, `latest` and the same snapshot again (counted once).
        compare(&fx, &["--mode", mode, &ids[0][..8], "latest", &ids[0]]).ok();
    }
    compare(&fx, &["--host", "beta", "--tag", "daily"]).ok();
    let blobs = ["--mode", "blobs-per-file", "latest", "--path", &home];
    compare(&fx, &blobs).ok();
    // The default mode, quietly (restic still prints everything).
    compare(&fx, &["--quiet"]).ok();
}

#[test]
fn stats_bad_input() {
    let fx = Fixture::new("v2");
    let ids = fx.snapshot_ids();
    // An unknown mode is refused before the repository is opened.
    let r = compare(&fx, &["--mode", "restore"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("unknown counting mode: restore"),
        "{}",
        r.describe()
    );
    // Unknown or ambiguous snapshots are skipped with a warning; filters
    // that match nothing for `latest` too; filters beside explicit IDs are
    // ignored with a warning.
    for args in [
        &["abcdef", &ids[1]][..],
        &["--json", "0123", ""],
        &["latest", "--host", "nowhere", "--tag", "a,b", "--tag", "c"],
        &["--path", "/nowhere", "--path", "/else", "latest"],
        &[&ids[2][..12], "--host", "alpha"],
    ] {
        let r = compare(&fx, args);
        assert_eq!(r.code, Some(0), "{}", r.describe());
        assert!(r.stderr.contains("Ignoring"), "{}", r.describe());
    }
    // No snapshot matches at all.
    let r = compare(&fx, &["--host", "nowhere"]).ok();
    assert!(r.stdout_str().contains("Snapshots processed:   0"));
}

#[test]
fn stats_counts_differ_by_mode() {
    // Guards the comparison above: the modes really count differently on
    // the fixtures, so a mode mixed up with another would show.
    let fx = Fixture::new("v1");
    let sizes: Vec<u64> = MODES
        .iter()
        .map(|m| {
            let r = fx.run(Tool::Cairn, ["stats", "--json", "--mode", m]).ok();
            r.json()["total_size"].as_u64().unwrap()
        })
        .collect();
    let mut unique = sizes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{sizes:?}");
}
