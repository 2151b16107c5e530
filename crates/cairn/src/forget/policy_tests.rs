use super::*;
use cairn_format::{Id, Snapshot};

fn at(n: u8, time: &str, tags: &[&str]) -> StoredSnapshot {
    let mut s = Snapshot::new(GoTime::parse(time).unwrap(), Id([0; 32]));
    s.tags = tags.iter().map(|t| t.to_string()).collect();
    StoredSnapshot {
        id: Id([n; 32]),
        snapshot: s,
    }
}

fn now() -> GoTime {
    GoTime::parse("2030-01-01T00:00:00Z").unwrap()
}

fn kept(r: &PolicyResult) -> Vec<(u8, Vec<String>)> {
    r.keep
        .iter()
        .map(|(s, why)| (s.id.0[0], why.matches.clone()))
        .collect()
}

#[test]
fn iso_weeks_match_go() {
    // Values from Go's time.ISOWeek.
    assert_eq!(iso_week(2021, 1, 1), (2020, 53));
    assert_eq!(iso_week(2021, 1, 4), (2021, 1));
    assert_eq!(iso_week(2019, 12, 30), (2020, 1));
    assert_eq!(iso_week(2020, 12, 31), (2020, 53));
    assert_eq!(iso_week(2022, 1, 2), (2021, 52));
    assert_eq!(iso_week(2024, 6, 15), (2024, 24));
}

#[test]
fn keeps_last_and_daily_newest_first() {
    let snaps = [
        at(1, "2022-01-01T10:00:00Z", &[]),
        at(2, "2022-01-01T12:00:00Z", &[]),
        at(3, "2022-01-02T09:00:00Z", &[]),
        at(4, "2022-01-03T09:00:00Z", &[]),
    ];
    let p = KeepPolicy {
        last: 1,
        daily: 2,
        ..Default::default()
    };
    let r = apply_policy(&snaps, &p, now());
    assert_eq!(
        kept(&r),
        [
            (4, vec!["last snapshot".into(), "daily snapshot".into()]),
            (3, vec!["daily snapshot".into()]),
        ]
    );
    assert_eq!(r.keep[1].1.counters, KeepCounters::default());
    let removed: Vec<u8> = r.remove.iter().map(|s| s.id.0[0]).collect();
    assert_eq!(removed, [2, 1]);
}

#[test]
fn buckets_use_the_recorded_offset() {
    // 23:30 at +02:00 is the 22nd locally although it is the 21st in UTC.
    let snaps = [
        at(1, "2022-03-22T01:30:00+02:00", &[]),
        at(2, "2022-03-21T23:30:00+00:00", &[]),
    ];
    let p = KeepPolicy {
        daily: 5,
        ..Default::default()
    };
    let r = apply_policy(&snaps, &p, now());
    assert_eq!(r.keep.len(), 2);
    assert_eq!(r.keep[1].1.counters.daily, 3);
}

#[test]
fn unlimited_counts_keep_every_bucket() {
    let snaps = [
        at(1, "2020-05-01T00:00:00Z", &[]),
        at(2, "2020-05-02T00:00:00Z", &[]),
        at(3, "2021-05-01T00:00:00Z", &[]),
    ];
    let p = KeepPolicy {
        yearly: -1,
        ..Default::default()
    };
    let r = apply_policy(&snaps, &p, now());
    assert_eq!(kept(&r).len(), 2);
    assert_eq!(r.keep[0].1.counters.yearly, -1);
    assert!(p.validate().is_ok());
    assert!(KeepPolicy {
        daily: -2,
        ..Default::default()
    }
    .validate()
    .is_err());
}

#[test]
fn within_rules_are_relative_to_the_newest_past_snapshot() {
    let snaps = [
        at(1, "2022-01-01T00:00:00Z", &[]),
        at(2, "2022-01-05T00:00:00Z", &[]),
        at(3, "2022-01-05T06:00:00Z", &[]),
        at(4, "2022-01-10T00:00:00Z", &[]),
        at(9, "2040-01-10T00:00:00Z", &[]),
    ];
    let p = KeepPolicy {
        within: KeepDuration::parse("5d").unwrap(),
        within_daily: KeepDuration::parse("6d").unwrap(),
        ..Default::default()
    };
    let r = apply_policy(&snaps, &p, now());
    assert_eq!(
        kept(&r),
        [
            (9, vec!["within 5d".into(), "daily within 6d".into()]),
            (4, vec!["within 5d".into(), "daily within 6d".into()]),
            (3, vec!["within 5d".into(), "daily within 6d".into()]),
        ]
    );
    // Exactly at the limit is not "within"; the same day is kept once.
    assert_eq!(r.remove.len(), 2);
}

#[test]
fn keep_tag_follows_restic_has_tags() {
    let snaps = [
        at(1, "2022-01-01T00:00:00Z", &["a", "b"]),
        at(2, "2022-01-02T00:00:00Z", &["a"]),
        at(3, "2022-01-03T00:00:00Z", &[]),
    ];
    let p = KeepPolicy {
        tags: vec![vec!["a".into(), "b".into()], vec!["".into()]],
        ..Default::default()
    };
    let r = apply_policy(&snaps, &p, now());
    assert_eq!(
        kept(&r),
        [
            (3, vec!["has tags []".into()]),
            (1, vec!["has tags [a, b]".into()]),
        ]
    );
    assert_eq!(p.describe(), "keep all snapshots with tags [[a, b] []]");
}

#[test]
fn describes_like_restic() {
    let p = KeepPolicy {
        last: 1,
        daily: 2,
        within: KeepDuration::parse("1y").unwrap(),
        within_weekly: KeepDuration::parse("2m").unwrap(),
        ..Default::default()
    };
    assert_eq!(
        p.describe(),
        "keep 1 latest, 2 daily snapshots, weekly snapshots within 2m and all snapshots within 1y of the newest"
    );
    assert!(KeepPolicy::default().is_empty());
}
