//! Rendering, parsing, merging and the metrics file.

use super::*;
use proptest::prelude::*;
use std::time::{Duration, UNIX_EPOCH};

fn run(command: &str, repo: &str, code: i32) -> CommandRun {
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut r = CommandRun::new(command, repo, "host1", start);
    r.finish(start + Duration::from_millis(2500), code);
    r
}

#[test]
fn label_values_are_escaped_and_read_back() {
    let mut set = MetricSet::default();
    let value = "a\\b\"c\nd}{,=";
    set.add(
        "m",
        "help with \\ and\nnewline",
        MetricKind::Gauge,
        Sample {
            labels: vec![("l".into(), value.into())],
            value: 1.0,
        },
    );
    let text = set.render();
    assert!(text.contains(r#"m{l="a\\b\"c\nd}{,="} 1"#), "{text}");
    assert_eq!(parse_text(&text).unwrap(), set);
}

#[test]
fn parser_takes_timestamps_comments_and_special_values() {
    let text = "# a comment\n# TYPE x gauge\nx{a=\"1\",} NaN 1700000000000\ny +Inf\n";
    let set = parse_text(text).unwrap();
    assert!(set.family("x").unwrap().samples[0].value.is_nan());
    assert_eq!(set.family("y").unwrap().kind, MetricKind::Untyped);
    for bad in [
        "x{a=1} 1",
        "x{a=\"1\" 1",
        "x",
        "1x 2",
        "x 1 2 3",
        "x{a=\"1\",a=\"2\"} 1",
    ] {
        assert!(parse_text(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn run_metrics_hold_success_exit_code_times_and_figures() {
    let mut r = run("backup", "/srv/repo", 3);
    r.set_backup_set(&["/b".into(), "/a".into()], &["t2".into(), "t1".into()]);
    r.figures.push(Figure::new("cairn_backup_errors", "h", 2.0));
    let set = r.to_metrics(Some(5.0));
    let one = |name: &str| set.family(name).unwrap().samples[0].clone();
    assert_eq!(one(SUCCESS).value, 0.0);
    assert_eq!(one(EXIT_CODE).value, 3.0);
    assert_eq!(one(DURATION).value, 2.5);
    assert_eq!(one(END).value, 1_700_000_002.5);
    assert_eq!(one(LAST_SUCCESS).value, 5.0);
    assert_eq!(one("cairn_backup_errors").label("paths"), "/a,/b");
    assert_eq!(one("cairn_backup_errors").label("tags"), "t1,t2");
    let ok = run("check", "/srv/repo", 0).to_metrics(Some(5.0));
    assert_eq!(
        ok.family(LAST_SUCCESS).unwrap().samples[0].value,
        1_700_000_002.5
    );
}

#[test]
fn merge_replaces_the_same_run_and_keeps_the_others() {
    let mut backup = run("backup", "/r1", 0);
    backup
        .figures
        .push(Figure::new("cairn_backup_errors", "h", 0.0));
    let check = run("check", "/r1", 0);
    let other_repo = run("backup", "/r2", 0);
    let mut set = MetricSet::default();
    for r in [&backup, &check, &other_repo] {
        set = merge_run(set, r);
    }
    // A failed backup of /r1: its figures go, its last success stays.
    let failed = run("backup", "/r1", 12);
    let set = parse_text(&merge_run(parse_text(&set.render()).unwrap(), &failed).render()).unwrap();
    let success = set.family(SUCCESS).unwrap();
    assert_eq!(success.samples.len(), 3);
    let of = |cmd: &str, repo: &str| {
        success
            .samples
            .iter()
            .find(|s| s.label("command") == cmd && s.label("repository") == repo)
            .unwrap()
            .value
    };
    assert_eq!(
        (of("backup", "/r1"), of("check", "/r1"), of("backup", "/r2")),
        (0.0, 1.0, 1.0)
    );
    assert!(
        set.family("cairn_backup_errors").is_none(),
        "the failed run's figures replace the old"
    );
    assert_eq!(set.family(LAST_SUCCESS).unwrap().samples.len(), 3);
}

#[test]
fn locations_lose_passwords_and_queries() {
    for (given, want) in [
        (
            "rest:https://user:secret@host:8000/repo/",
            "rest:https://user@host:8000/repo/",
        ),
        ("rest:http://:secret@host/", "rest:http://host/"),
        (
            "s3:https://s3.example/bucket?sig=secret#x",
            "s3:https://s3.example/bucket",
        ),
        ("sftp:user@host:/srv/repo", "sftp:user@host:/srv/repo"),
        ("/srv/repo", "/srv/repo"),
    ] {
        assert_eq!(redact_location(given), want);
    }
}

#[test]
fn the_file_is_merged_under_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.prom");
    std::fs::write(&path, "not { metrics").unwrap();
    write_metrics_file(&path, &run("check", "/r", 0)).unwrap();
    write_metrics_file(&path, &run("prune", "/r", 1)).unwrap();
    let set = parse_text(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(set.family(SUCCESS).unwrap().samples.len(), 2);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn a_symlink_at_the_temporary_name_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.prom");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    let temp = dir
        .path()
        .join(format!(".cairn.prom.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &temp).unwrap();
    write_metrics_file(&path, &run("check", "/r", 0)).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
    let set = parse_text(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(set.family(SUCCESS).unwrap().samples.len(), 1);
}

#[cfg(feature = "rest")]
#[test]
fn push_urls_encode_every_group_label() {
    let url = pushgateway_url("http://gw:9091/", &run("check", "/srv/repo", 0));
    assert_eq!(
        url,
        "http://gw:9091/metrics/job/cairn/command@base64/Y2hlY2s/repository@base64/L3Nydi9yZXBv/host@base64/aG9zdDE"
    );
}

fn label_value() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z\\\\\"\n{},= /é]{0,12}").unwrap()
}

fn metric_set() -> impl Strategy<Value = MetricSet> {
    let sample = (
        proptest::collection::btree_map("[a-z_][a-z0-9_]{0,5}", label_value(), 0..4),
        prop_oneof![
            any::<f64>().prop_filter("not NaN", |v| !v.is_nan()),
            Just(f64::INFINITY)
        ],
    )
        .prop_map(|(labels, value)| Sample {
            labels: labels.into_iter().collect(),
            value,
        });
    proptest::collection::vec(
        (
            "[a-z_:][a-z0-9_:]{0,8}",
            "[ -~]{0,20}",
            proptest::collection::vec(sample, 1..4),
        ),
        0..5,
    )
    .prop_map(|families| {
        let mut set = MetricSet::default();
        for (name, help, samples) in families {
            for s in samples {
                set.add(&name, help.trim(), MetricKind::Gauge, s);
            }
        }
        set
    })
}

proptest! {
    #[test]
    fn render_then_parse_is_the_identity(set in metric_set()) {
        let text = set.render();
        prop_assert_eq!(parse_text(&text).unwrap(), set);
    }

    #[test]
    fn merging_keeps_other_commands_series(
        repos in proptest::collection::vec("[a-z/:@?=]{1,10}", 1..4),
        code in 0i32..13,
    ) {
        let mut set = MetricSet::default();
        for (i, repo) in repos.iter().enumerate() {
            for cmd in ["backup", "check", "prune"] {
                set = merge_run(set, &run(cmd, &format!("{i}{repo}"), code));
            }
        }
        let set = merge_run(parse_text(&set.render()).unwrap(), &run("check", &format!("0{}", repos[0]), 0));
        prop_assert_eq!(set.family(SUCCESS).unwrap().samples.len(), repos.len() * 3);
        prop_assert_eq!(set.family(EXIT_CODE).unwrap().samples.len(), repos.len() * 3);
    }
}
