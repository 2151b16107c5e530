//! `stats` against the real restic 0.14 on the fixture repositories, byte
//! for byte once restic 0.19's layout is mapped back to 0.14's (see
//! [`common::stats_as_restic_014`]): every counting mode, text and `--json`, all
//! snapshots or some (IDs, prefixes, `latest`, duplicates), snapshot
//! filters, and restic's warnings and errors for bad input. restic 0.19's
//! compression fields of the raw-data mode are checked on their own. (The repository restic writes from a
//! changing tree is covered in `tests/diff.rs`, which builds it.)

#[macro_use]
mod common;

use common::{assert_same_text, src, stats_as_restic_014, Fixture, Run, Tool};

const MODES: [&str; 4] = [
    "restore-size",
    "files-by-contents",
    "raw-data",
    "blobs-per-file",
];

/// restic 0.19's compression JSON fields, which restic 0.14 does not print.
const COMPRESSION_FIELDS: [&str; 4] = [
    "total_uncompressed_size",
    "compression_ratio",
    "compression_progress",
    "compression_space_saving",
];

/// Runs `stats <args>` with both tools; exit code, stdout and stderr must
/// be identical (cairn's mapped to restic 0.14's words).
fn compare(fx: &Fixture, args: &[&str]) -> Run {
    let mut full = vec!["stats"];
    full.extend_from_slice(args);
    let r = fx.restic(&full);
    let c = fx.cairn(&full);
    c.assert_no_panic();
    let what = format!("{}: {}", fx.name, full.join(" "));
    assert_eq!(r.code, c.code, "{what}\n{}\n{}", r.describe(), c.describe());
    assert_same_text(&what, &r.stdout, &stats_as_restic_014(&c.stdout));
    assert_same_text(
        &what,
        r.stderr.as_bytes(),
        &stats_as_restic_014(c.stderr.as_bytes()),
    );
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
    let c = fx.cairn(["stats", "--host", "nowhere"]).ok();
    assert!(c.stdout_str().contains("     Snapshots processed:  0"));
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

/// restic 0.19's raw-data compression fields: present on a compressed
/// version 2 repository, in restic's order and with restic's formulas,
/// absent on version 1 and in the other modes.
#[test]
fn raw_data_reports_compression_as_restic_0_19() {
    let fx = Fixture::new("v2");
    let r = fx.cairn(["stats", "--json", "--mode", "raw-data"]).ok();
    let o = r.json();
    let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted_expected = vec![
        "total_size",
        "total_uncompressed_size",
        "compression_ratio",
        "compression_progress",
        "compression_space_saving",
        "total_blob_count",
        "snapshots_count",
    ];
    // restic's field order, as printed.
    let text = r.stdout_str();
    let positions: Vec<usize> = sorted_expected
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k}: {text}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    sorted_expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, sorted_expected);
    let total = o["total_size"].as_f64().unwrap();
    let uncompressed = o["total_uncompressed_size"].as_f64().unwrap();
    assert!(uncompressed > total, "{text}");
    let saving = o["compression_space_saving"].as_f64().unwrap();
    assert!((saving - (1.0 - total / uncompressed) * 100.0).abs() < 1e-9);
    assert!(o["compression_ratio"].as_f64().unwrap() > 1.0);
    let progress = o["compression_progress"].as_f64().unwrap();
    assert!(progress > 0.0 && progress <= 100.0, "{text}");
    let t = fx.cairn(["stats", "--mode", "raw-data"]).ok().stdout_str();
    for line in common::STATS_COMPRESSION_LINES {
        assert!(t.contains(line), "{line}: {t}");
    }
    assert!(t.contains(&format!("{:.2}x", o["compression_ratio"].as_f64().unwrap())));
    // Not in the other modes, nor on a version 1 repository.
    let r = fx.cairn(["stats", "--json"]).ok().stdout_str();
    assert!(COMPRESSION_FIELDS.iter().all(|f| !r.contains(f)), "{r}");
    let v1 = Fixture::new("v1");
    let r = v1
        .cairn(["stats", "--json", "--mode", "raw-data"])
        .ok()
        .stdout_str();
    assert!(COMPRESSION_FIELDS.iter().all(|f| !r.contains(f)), "{r}");
}
