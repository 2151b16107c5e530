//! restic's keep policy: which snapshots of a group `forget` keeps, and why.
//!
//! The rules follow restic 0.14: snapshots are visited newest first; each
//! `--keep-<unit> N` counts down once per new time bucket (a bucket is the
//! local year, year-month, ISO week, day or hour in the offset the snapshot
//! time was recorded in; `--keep-last` puts every snapshot in its own
//! bucket); each `--keep-within-<unit> D` keeps one snapshot per bucket among
//! those newer than the newest snapshot minus `D`; `--keep-within D` keeps
//! everything newer than that; `--keep-tag` keeps snapshots carrying all tags
//! of a list. A count of `-1` means "no limit", as in newer restic.

use super::duration::{days_from_civil, KeepDuration};
use crate::{Error, Result, StoredSnapshot};
use cairn_format::GoTime;

/// A keep policy (restic's `--keep-*` options). Counts are "off" at 0 and
/// unlimited at -1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepPolicy {
    /// `--keep-last`.
    pub last: i64,
    /// `--keep-hourly`.
    pub hourly: i64,
    /// `--keep-daily`.
    pub daily: i64,
    /// `--keep-weekly`.
    pub weekly: i64,
    /// `--keep-monthly`.
    pub monthly: i64,
    /// `--keep-yearly`.
    pub yearly: i64,
    /// `--keep-within`.
    pub within: KeepDuration,
    /// `--keep-within-hourly`.
    pub within_hourly: KeepDuration,
    /// `--keep-within-daily`.
    pub within_daily: KeepDuration,
    /// `--keep-within-weekly`.
    pub within_weekly: KeepDuration,
    /// `--keep-within-monthly`.
    pub within_monthly: KeepDuration,
    /// `--keep-within-yearly`.
    pub within_yearly: KeepDuration,
    /// `--keep-tag`: each list is one option value split at commas (with
    /// spaces trimmed and empty items kept, as restic does).
    pub tags: Vec<Vec<String>>,
}

/// The per-rule counters after a kept snapshot was evaluated (restic's
/// `counters`; what is left of each `--keep-<unit>` count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeepCounters {
    /// Left of `--keep-last`.
    pub last: i64,
    /// Left of `--keep-hourly`.
    pub hourly: i64,
    /// Left of `--keep-daily`.
    pub daily: i64,
    /// Left of `--keep-weekly`.
    pub weekly: i64,
    /// Left of `--keep-monthly`.
    pub monthly: i64,
    /// Left of `--keep-yearly`.
    pub yearly: i64,
}

/// Why a snapshot is kept: restic's `matches` texts (e.g. `daily snapshot`,
/// `within 1y`, `has tags [a, b]`) and the counters at that point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepReason {
    /// The rules that matched, in restic's order.
    pub matches: Vec<String>,
    /// The counts left after this snapshot.
    pub counters: KeepCounters,
}

/// The outcome of [`apply_policy`] for one group. Both lists are newest
/// first, as restic returns them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyResult {
    /// Kept snapshots with their reasons.
    pub keep: Vec<(StoredSnapshot, KeepReason)>,
    /// Snapshots to forget.
    pub remove: Vec<StoredSnapshot>,
}

impl KeepPolicy {
    /// True when no option is set (restic refuses to forget with such a
    /// policy unless told to remove everything a filter selects).
    pub fn is_empty(&self) -> bool {
        *self == KeepPolicy::default()
    }

    /// Rejects what newer restic rejects: counts below -1 and negative
    /// durations.
    pub fn validate(&self) -> Result<()> {
        if self.counts().iter().any(|c| *c < -1) {
            return Err(Error::InvalidArgument(
                "negative values other than -1 are not allowed for --keep-*".into(),
            ));
        }
        let durations = [
            self.within,
            self.within_hourly,
            self.within_daily,
            self.within_weekly,
            self.within_monthly,
            self.within_yearly,
        ];
        if durations.iter().any(KeepDuration::is_negative) {
            return Err(Error::InvalidArgument(
                "durations containing negative values are not allowed for --keep-within*".into(),
            ));
        }
        Ok(())
    }

    fn counts(&self) -> [i64; 6] {
        [
            self.last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
            self.yearly,
        ]
    }

    /// restic's one-line description, e.g. `keep 2 daily snapshots, weekly
    /// snapshots within 1m and all snapshots with tags [[a, b]]`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let names = ["latest", "hourly", "daily", "weekly", "monthly", "yearly"];
        let counts: Vec<String> = self
            .counts()
            .iter()
            .zip(names)
            .filter(|(c, _)| **c != 0)
            .map(|(c, n)| match c {
                -1 => format!("all {n}"),
                c => format!("{c} {n}"),
            })
            .collect();
        if !counts.is_empty() {
            s = format!("{} snapshots", counts.join(", "));
        }
        let within: Vec<String> = [
            (self.within_hourly, "hourly"),
            (self.within_daily, "daily"),
            (self.within_weekly, "weekly"),
            (self.within_monthly, "monthly"),
            (self.within_yearly, "yearly"),
        ]
        .iter()
        .filter(|(d, _)| !d.is_zero())
        .map(|(d, n)| format!("{n} snapshots within {d}"))
        .collect();
        if !within.is_empty() {
            if !s.is_empty() {
                s.push_str(", ");
            }
            s.push_str(&within.join(", "));
        }
        if !self.tags.is_empty() {
            if !s.is_empty() {
                s.push_str(" and ");
            }
            let lists: Vec<String> = self.tags.iter().map(|l| tag_list_string(l)).collect();
            s.push_str(&format!("all snapshots with tags [{}]", lists.join(" ")));
        }
        if !self.within.is_zero() {
            if !s.is_empty() {
                s.push_str(" and ");
            }
            s.push_str(&format!(
                "all snapshots within {} of the newest",
                self.within
            ));
        }
        format!("keep {s}")
    }
}

/// restic's `TagList` text: `[a, b]`.
fn tag_list_string(l: &[String]) -> String {
    format!("[{}]", l.join(", "))
}

/// restic's `HasTags`: every tag of the list is present, where an empty
/// tag name matches an untagged snapshot.
fn has_tags(snap_tags: &[String], list: &[String]) -> bool {
    for tag in list {
        if tag.is_empty() && snap_tags.is_empty() {
            return true;
        }
        if !snap_tags.contains(tag) {
            return false;
        }
    }
    true
}

/// Go's `Time.ISOWeek` of a local date: (ISO year, week 1..=53).
fn iso_week(y: i64, m: u32, d: u32) -> (i64, i64) {
    let days = days_from_civil(y, m, d);
    // 1970-01-01 was a Thursday; Monday = 0.
    let weekday = (days + 3).rem_euclid(7);
    let thursday = days - weekday + 3;
    let (ty, _, _) = civil_from_days(thursday);
    let yday = thursday - days_from_civil(ty, 1, 1);
    (ty, yday / 7 + 1)
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let t = GoTime {
        unix_secs: z * 86_400,
        nanos: 0,
        offset_secs: 0,
    };
    let (y, m, d, ..) = t.civil();
    (y, m, d)
}

/// The time buckets of restic's policy, in evaluation order.
#[derive(Clone, Copy)]
enum Bucket {
    Each,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Bucket {
    /// restic's bucket number for a snapshot (its position for `Each`).
    fn value(self, t: &GoTime, position: usize) -> i64 {
        let (y, m, d, h, ..) = t.civil();
        let (m, d, h) = (i64::from(m), i64::from(d), i64::from(h));
        match self {
            Bucket::Each => position as i64,
            Bucket::Hour => y * 1_000_000 + m * 10_000 + d * 100 + h,
            Bucket::Day => y * 10_000 + m * 100 + d,
            Bucket::Week => {
                let (wy, w) = iso_week(y, m as u32, d as u32);
                wy * 100 + w
            }
            Bucket::Month => y * 100 + m,
            Bucket::Year => y,
        }
    }
}

/// The time the within-rules measure from: the newest snapshot that is not
/// after `now` (Go's zero time if all are).
fn newest_not_in_future(snaps: &[StoredSnapshot], now: &GoTime) -> GoTime {
    let mut latest = GoTime::ZERO;
    for s in snaps {
        let t = &s.snapshot.time;
        if instant(t) > instant(&latest) && instant(t) < instant(now) {
            latest = *t;
        }
    }
    latest
}

fn instant(t: &GoTime) -> (i64, u32) {
    (t.unix_secs, t.nanos)
}

/// Applies `policy` to one group of snapshots, as restic's `ApplyPolicy`.
///
/// `now` only decides which snapshots lie in the future (those are not
/// used as the reference for the within-rules). Snapshots with the same
/// time are taken in ID order. An empty policy keeps nothing; callers
/// decide whether that is allowed.
pub fn apply_policy(snaps: &[StoredSnapshot], policy: &KeepPolicy, now: GoTime) -> PolicyResult {
    let mut list: Vec<StoredSnapshot> = snaps.to_vec();
    list.sort_by(|a, b| {
        instant(&b.snapshot.time)
            .cmp(&instant(&a.snapshot.time))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut result = PolicyResult::default();
    if list.is_empty() {
        return result;
    }
    let latest = newest_not_in_future(&list, &now);
    const COUNTED: [(Bucket, &str); 6] = [
        (Bucket::Each, "last snapshot"),
        (Bucket::Hour, "hourly snapshot"),
        (Bucket::Day, "daily snapshot"),
        (Bucket::Week, "weekly snapshot"),
        (Bucket::Month, "monthly snapshot"),
        (Bucket::Year, "yearly snapshot"),
    ];
    let mut counts = policy.counts();
    let mut last_counted: [Option<i64>; 6] = [None; 6];
    let within = [
        (policy.within_hourly, Bucket::Hour, "hourly within"),
        (policy.within_daily, Bucket::Day, "daily within"),
        (policy.within_weekly, Bucket::Week, "weekly within"),
        (policy.within_monthly, Bucket::Month, "monthly within"),
        (policy.within_yearly, Bucket::Year, "yearly within"),
    ];
    let within_limits: Vec<Option<GoTime>> = within
        .iter()
        .map(|(d, ..)| (!d.is_zero()).then(|| d.before(&latest)))
        .collect();
    let mut last_within: [Option<i64>; 5] = [None; 5];
    let keep_within = (!policy.within.is_zero()).then(|| policy.within.before(&latest));

    for (position, cur) in list.into_iter().enumerate() {
        let t = cur.snapshot.time;
        let mut matches = Vec::new();
        for l in &policy.tags {
            if has_tags(&cur.snapshot.tags, l) {
                matches.push(format!("has tags {}", tag_list_string(l)));
            }
        }
        if let Some(limit) = keep_within {
            if instant(&t) > instant(&limit) {
                matches.push(format!("within {}", policy.within));
            }
        }
        for (i, (bucket, reason)) in COUNTED.iter().enumerate() {
            if counts[i] > 0 || counts[i] == -1 {
                let val = bucket.value(&t, position);
                if last_counted[i] != Some(val) {
                    last_counted[i] = Some(val);
                    if counts[i] > 0 {
                        counts[i] -= 1;
                    }
                    matches.push((*reason).to_string());
                }
            }
        }
        for (i, (d, bucket, reason)) in within.iter().enumerate() {
            let Some(limit) = within_limits[i] else {
                continue;
            };
            if instant(&t) > instant(&limit) {
                let val = bucket.value(&t, position);
                if last_within[i] != Some(val) {
                    last_within[i] = Some(val);
                    matches.push(format!("{reason} {d}"));
                }
            }
        }
        if matches.is_empty() {
            result.remove.push(cur);
        } else {
            let counters = KeepCounters {
                last: counts[0],
                hourly: counts[1],
                daily: counts[2],
                weekly: counts[3],
                monthly: counts[4],
                yearly: counts[5],
            };
            result.keep.push((cur, KeepReason { matches, counters }));
        }
    }
    result
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
