//! `cairn options`, `cairn features` and `RESTIC_FEATURES`, against restic
//! 0.19.1's `cmd/restic/cmd_options.go`, `cmd_features.go`,
//! `internal/feature/` and `cmd/restic/main.go` (features are applied
//! before any command; an error prints the bare message and exits 1), and
//! against Debian's restic 0.14 for the `options` rows both have.

mod common;

use common::process::CairnServer;
use common::{run_from_output, Fixture, Run, Tool};
use std::collections::BTreeMap;

/// `cairn ARGS` on a copy of the v2 fixture with `RESTIC_FEATURES=features`.
fn cairn_with_features(f: &Fixture, features: &str, args: &[&str]) -> Run {
    let out = f
        .command(Tool::Cairn)
        .env("RESTIC_FEATURES", features)
        .args(args)
        .output()
        .unwrap();
    run_from_output(Tool::Cairn, args.iter().map(Into::into).collect(), out)
}

/// `name → help` of an `options` listing, checking restic's layout: a
/// title line, then two spaces, the name padded to the longest, two spaces,
/// the help text.
fn parse_options(what: &str, text: &str) -> BTreeMap<String, String> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("All Extended Options:"), "{what}");
    let lines: Vec<&str> = lines.collect();
    let width = lines
        .iter()
        .map(|l| l[2..].split(' ').next().unwrap().len())
        .max()
        .unwrap();
    lines
        .iter()
        .map(|l| {
            let (name, help) = (l[2..2 + width].trim_end(), &l[2 + width..]);
            assert!(
                l.starts_with("  ") && help.starts_with("  "),
                "{what}: {l:?}"
            );
            (name.to_string(), help[2..].to_string())
        })
        .collect()
}

#[test]
fn options_lists_the_table_in_restics_format_and_shares_restics_rows() {
    let f = Fixture::new("v2");
    let cairn = f.cairn(["options"]).ok();
    assert!(cairn.stderr.is_empty(), "{}", cairn.describe());
    let listed = parse_options("cairn", &cairn.stdout_str());
    let names: Vec<String> = cairn::EXTENDED_OPTIONS
        .iter()
        .map(|o| format!("{}.{}", o.namespace, o.name))
        .collect();
    assert_eq!(listed.keys().cloned().collect::<Vec<_>>(), names);
    // restic ignores arguments.
    assert_eq!(f.cairn(["options", "extra"]).ok().stdout, cairn.stdout);

    let restic = parse_options("restic", &f.restic(["options"]).ok().stdout_str());
    // Rows whose help says what Cairn does differently.
    let cairn_specific = ["local.connections", "s3.layout", "s3.retries"];
    let mut shared = 0;
    for (name, help) in &restic {
        let Some(ours) = listed.get(name) else {
            continue;
        };
        shared += 1;
        if !cairn_specific.contains(&name.as_str()) {
            assert_eq!(ours, help, "{name}");
        }
    }
    assert!(shared >= 15, "only {shared} rows shared with restic");
}

/// A value each listed option takes.
fn sample(name: &str) -> &'static str {
    match name {
        "nfs.privport" | "s3.list-objects-v1" => "false",
        "s3.layout" => "default",
        "s3.bucket-lookup" => "path",
        "sftp.command" => "false",
        "rclone.program" => "/nonexistent/rclone",
        "rclone.timeout" => "1s",
        n if n.ends_with(".args") || n.ends_with(".region") || n.ends_with("storage-class") => "x",
        _ => "2",
    }
}

/// `-o` with every option of `namespace` on a repository of that scheme:
/// none is refused as unknown or badly valued; an unlisted one is.
fn assert_namespace_options(f: &Fixture, namespace: &str, repo: &str) {
    let mut args = vec!["-r".to_string(), repo.to_string()];
    for o in cairn::EXTENDED_OPTIONS
        .iter()
        .filter(|o| o.namespace == namespace)
    {
        let name = format!("{}.{}", o.namespace, o.name);
        args.extend(["-o".to_string(), format!("{name}={}", sample(&name))]);
    }
    args.push("snapshots".into());
    let run = f.cairn(&args);
    assert!(
        !run.stderr.contains("is not known") && !run.stderr.contains("invalid value"),
        "{}",
        run.describe()
    );
    let run = f.cairn([
        "-r",
        repo,
        "-o",
        &format!("{namespace}.unlisted=1"),
        "snapshots",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_eq!(
        run.stderr.trim_end(),
        format!("Fatal: option {namespace}.unlisted is not known"),
        "{}",
        run.describe()
    );
}

#[test]
fn every_listed_option_is_accepted_and_an_unlisted_one_refused() {
    let f = Fixture::new("v2");
    let local = f.repo.to_str().unwrap().to_string();
    let run = f.cairn(["-r", &local, "-o", "local.connections=2", "snapshots"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_namespace_options(&f, "local", &local);
    let server = CairnServer::start();
    let rest = format!("rest:http://127.0.0.1:{}/repo", server.port);
    f.cairn(["-r", &rest, "-o", "rest.connections=2", "init"])
        .ok();
    f.cairn(["-r", &rest, "-o", "rest.connections=2", "snapshots"])
        .ok();
    assert_namespace_options(&f, "rest", &rest);
    // The other stores are unreachable here: the options are still checked
    // before anything is sent.
    for (namespace, repo) in [
        ("s3", "s3:http://127.0.0.1:1/bucket/repo"),
        ("sftp", "sftp:127.0.0.1:/repo"),
        ("rclone", "rclone:remote:repo"),
        ("azure", "azure:container:/repo"),
        ("b2", "b2:bucketname:repo"),
        ("gs", "gs:bucket:/repo"),
        ("swift", "swift:container:/repo"),
        ("nfs", "nfs://127.0.0.1:1/export/repo"),
    ] {
        assert_namespace_options(&f, namespace, repo);
    }
    let namespaces: std::collections::BTreeSet<_> = cairn::EXTENDED_OPTIONS
        .iter()
        .map(|o| o.namespace)
        .collect();
    assert_eq!(namespaces.len(), 10, "a namespace this test does not try");
}

/// restic 0.19.1's feature flags (`internal/feature/registry.go`), in the
/// order it lists them (names compared bytewise).
const RESTIC_FEATURES: [&str; 7] = [
    "backend-error-redesign",
    "deprecate-legacy-index",
    "deprecate-s3-legacy-layout",
    "device-id-for-hardlinks",
    "explicit-s3-anonymous-auth",
    "s3-restore",
    "safe-forget-keep-tags",
];

#[test]
fn features_prints_restics_table_and_refuses_arguments() {
    let f = Fixture::new("v2");
    let run = f.cairn(["features"]).ok();
    let text = run.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "All Feature Flags:");
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(header, ["Name", "Type", "Default", "Description"]);
    let width = lines.iter().map(|l| l.len()).max().unwrap();
    let dashes = "-".repeat(width);
    assert_eq!(lines[2], dashes);
    assert_eq!(lines[lines.len() - 1], dashes);
    let rows = &lines[3..lines.len() - 1];
    let names: Vec<&str> = rows.iter().map(|r| r.split(' ').next().unwrap()).collect();
    assert_eq!(names, RESTIC_FEATURES);
    let type_at = lines[1].find("Type").unwrap();
    let default_at = lines[1].find("Default").unwrap();
    for row in rows {
        assert!(
            ["alpha ", "beta ", "stable "]
                .iter()
                .any(|t| row[type_at..].starts_with(t)),
            "{row}"
        );
        assert!(
            row[default_at..].starts_with("true ") || row[default_at..].starts_with("false "),
            "{row}"
        );
        assert_eq!(row.trim_end(), *row);
    }

    let run = f.cairn(["features", "extra"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_eq!(
        run.stderr.trim_end(),
        "Fatal: the feature command expects no arguments"
    );
}

#[test]
fn restic_features_is_read_before_every_command() {
    let f = Fixture::new("v2");
    // Cairn's own behaviour, asked for explicitly: accepted in silence.
    let run = cairn_with_features(
        &f,
        "device-id-for-hardlinks=false,s3-restore=0,backend-error-redesign",
        &["snapshots"],
    );
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(run.stderr.is_empty(), "{}", run.describe());
    // A flag restic 0.19 always has on: restic's warning, then the command.
    let run = cairn_with_features(&f, "safe-forget-keep-tags=false", &["snapshots"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.stderr.trim_end(),
        "feature flag \"safe-forget-keep-tags\" is always enabled and will be removed in a future release"
    );
    // Errors: the bare message, exit 1, before the command (and its
    // argument parsing) runs.
    let cases = [
        ("no-such-flag", "unknown feature flag \"no-such-flag\""),
        (
            "s3-restore=maybe",
            "failed to parse value \"maybe\" for feature flag s3-restore: strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        (
            "s3-restore=true",
            "feature flag \"s3-restore\" is always disabled in cairn and cannot be changed",
        ),
    ];
    for (features, message) in cases {
        for args in [
            &["snapshots"][..],
            &["version"],
            &["options"],
            &["snapshots", "--bogus"],
        ] {
            let run = cairn_with_features(&f, features, args);
            assert_eq!(run.code, Some(1), "{features}: {}", run.describe());
            assert_eq!(run.stderr.trim_end(), message, "{}", run.describe());
            assert!(run.stdout.is_empty(), "{}", run.describe());
        }
    }
}
