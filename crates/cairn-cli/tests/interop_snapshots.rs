//! `snapshots --json` with and without filters: every key restic 0.14 prints
//! must be in Cairn's output with the same value, in the same order of
//! snapshots.

#[macro_use]
mod common;

use common::{assert_json_superset, src, Fixture};

/// Filter sets tried on every fixture.  Each must be meaningful on the
/// fixtures (see testdata/README.md for the 5 snapshots).
fn filters() -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        s(&[]),
        s(&["--host", "alpha"]),
        s(&["--host", "beta", "--host", "gamma"]),
        s(&["-H", "nonexistent"]),
        s(&["--tag", "daily"]),
        s(&["--tag", "daily,second"]),
        s(&["--tag", "weekly", "--tag", "first"]),
        s(&["--tag", "nope"]),
        s(&["--path", &src("")]),
        s(&["--path", &src("files"), "--path", &src("names")]),
        s(&["--path", &src("files")]),
        s(&["--path", &src("times")]),
        s(&["--latest", "1"]),
        s(&["--latest", "2"]),
        s(&["--host", "alpha", "--latest", "1"]),
        s(&["--host", "beta", "--tag", "daily"]),
        s(&["--host", "alpha", "--path", &src(""), "--tag", "first"]),
        s(&["latest"]),
    ]
}

fn compare(fx: &Fixture, args: &[String]) {
    let mut full = vec!["snapshots".to_string(), "--json".to_string()];
    full.extend_from_slice(args);
    let r = fx.restic(&full).ok();
    let c = fx.cairn(&full).ok();
    let (rj, cj) = (r.json(), c.json());
    assert!(rj.is_array(), "restic printed a non-array: {rj}");
    assert_json_superset(
        &format!("{}: snapshots --json {}", fx.name, args.join(" ")),
        &rj,
        &cj,
    );
}

per_repo!(snapshots_json_all_filters, |fx| {
    for f in filters() {
        compare(fx, &f);
    }
});

per_repo!(snapshots_json_by_id_prefix, |fx| {
    let ids = fx.snapshot_ids();
    // full ID, short ID, two IDs
    compare(fx, &[ids[0].clone()]);
    compare(fx, &[ids[2][..8].to_string()]);
    compare(fx, &[ids[3][..10].to_string(), ids[1].clone()]);
});

per_repo!(snapshots_json_shape, |fx| {
    // The fields restic 0.14 prints, so a regression in the fixture or in
    // restic is visible here rather than as a confusing diff elsewhere.
    let snaps = fx.snapshots();
    for s in &snaps {
        for k in [
            "time", "tree", "paths", "hostname", "username", "id", "short_id",
        ] {
            assert!(s.get(k).is_some(), "restic snapshot JSON lacks {k}: {s}");
        }
        assert_eq!(
            s["short_id"].as_str().unwrap(),
            &s["id"].as_str().unwrap()[..8]
        );
    }
    assert_eq!(snaps[2]["excludes"], serde_json::json!(["*.tmp"]));
    assert_eq!(snaps[1]["parent"], snaps[0]["id"]);
    assert!(
        snaps[4].get("tags").is_none(),
        "untagged snapshot has no tags key"
    );
});

per_repo!(snapshots_flags_instead_of_env, |fx| {
    // -r / --password-file / -p on the command line instead of the environment
    let repo = fx.repo.to_str().unwrap().to_owned();
    let pw = fx.password_file.to_str().unwrap().to_owned();
    for args in [
        vec!["-r", &repo, "--password-file", &pw, "snapshots", "--json"],
        vec!["--repo", &repo, "-p", &pw, "snapshots", "--json"],
    ] {
        let mut r = fx.command(common::Tool::Restic);
        r.env_remove("RESTIC_REPOSITORY")
            .env_remove("RESTIC_PASSWORD_FILE")
            .args(&args);
        let mut c = fx.command(common::Tool::Cairn);
        c.env_remove("RESTIC_REPOSITORY")
            .env_remove("RESTIC_PASSWORD_FILE")
            .args(&args);
        let ro = r.output().unwrap();
        let co = c.output().unwrap();
        assert!(
            ro.status.success(),
            "restic: {}",
            String::from_utf8_lossy(&ro.stderr)
        );
        assert!(
            co.status.success(),
            "cairn {args:?}: {:?} {}",
            co.status,
            String::from_utf8_lossy(&co.stderr)
        );
        let rj: serde_json::Value = serde_json::from_slice(&ro.stdout).unwrap();
        let cj: serde_json::Value = serde_json::from_slice(&co.stdout).unwrap_or_else(|e| {
            panic!(
                "cairn stdout not JSON: {e}: {}",
                String::from_utf8_lossy(&co.stdout)
            )
        });
        assert_json_superset(&format!("{}: {args:?}", fx.name), &rj, &cj);
    }
});

per_repo!(snapshots_text_table, |fx| {
    // the human-readable table (TZ=UTC for both)
    for args in [
        vec!["snapshots"],
        vec!["snapshots", "--host", "beta"],
        vec!["snapshots", "--compact"],
    ] {
        let r = fx.restic(&args).ok();
        let c = fx.cairn(&args).ok();
        // restic 0.19 names the time zone above the count; 0.14 does not.
        let text = c.stdout_str();
        assert!(
            text.contains("\nTimestamps shown in UTC\n"),
            "{args:?}: {text}"
        );
        let cairn = common::without_zone_footer(&text);
        common::assert_same_text(
            &format!("{}: {args:?}", fx.name),
            &r.stdout,
            cairn.as_bytes(),
        );
    }
});
