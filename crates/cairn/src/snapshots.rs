//! Listing, finding and filtering snapshots as restic does.

use crate::repository::{bad, Repository};
use crate::{Error, Result};
use cairn_backend::FileType;
use cairn_format::{Id, Snapshot};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// A snapshot with the ID of the file it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSnapshot {
    /// The snapshot file's ID.
    pub id: Id,
    /// Its content.
    pub snapshot: Snapshot,
}

/// restic's snapshot filter: `--host`, `--tag` and `--path`.
///
/// A snapshot matches when its host is one of `hosts` (or `hosts` is empty),
/// it carries every tag of at least one of the `tags` lists (an empty list
/// matches untagged snapshots; no lists match everything), and it contains
/// every path of `paths`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotFilter {
    /// Accepted host names.
    pub hosts: Vec<String>,
    /// Alternatives, each a set of tags that must all be present.
    pub tags: Vec<Vec<String>>,
    /// Paths that must all be among the snapshot's paths.
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    /// Parses restic's `--tag a,b` syntax into one alternative.
    pub fn parse_tag_list(arg: &str) -> Vec<String> {
        arg.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect()
    }

    /// True if the snapshot passes the filter.
    pub fn matches(&self, sn: &Snapshot) -> bool {
        let host_ok = self.hosts.is_empty() || self.hosts.contains(&sn.hostname);
        let tags_ok = self.tags.is_empty()
            || self.tags.iter().any(|list| {
                if list.is_empty() {
                    sn.tags.is_empty()
                } else {
                    list.iter().all(|t| sn.tags.contains(t))
                }
            });
        let paths_ok = self
            .paths
            .iter()
            .all(|p| sn.paths.iter().any(|sp| *sp == clean_path(p)));
        host_ok && tags_ok && paths_ok
    }
}

/// Lexical path cleaning like Go's `filepath.Clean`.
pub fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

impl Repository {
    /// Loads one snapshot file.
    pub fn load_snapshot(&self, id: &Id) -> Result<Snapshot> {
        let plain = self.load_unpacked(FileType::Snapshot, id)?;
        Snapshot::from_json(&plain).map_err(|e| bad(FileType::Snapshot, &id.to_hex(), e))
    }

    /// Loads every snapshot, sorted by time (oldest first). Files that
    /// cannot be loaded are returned as problems beside the others.
    pub fn snapshots(&self) -> Result<(Vec<StoredSnapshot>, Vec<Error>)> {
        let ids = self.list_ids(FileType::Snapshot)?;
        let loaded: Vec<Result<StoredSnapshot>> = ids
            .par_iter()
            .map(|(id, _)| {
                self.load_snapshot(id)
                    .map(|snapshot| StoredSnapshot { id: *id, snapshot })
            })
            .collect();
        let mut snaps = Vec::new();
        let mut problems = Vec::new();
        for r in loaded {
            match r {
                Ok(s) => snaps.push(s),
                Err(e) => problems.push(e),
            }
        }
        sort_by_time(&mut snaps);
        Ok((snaps, problems))
    }

    /// Finds a snapshot by ID, unique ID prefix, or `latest` (the newest
    /// one passing `filter`).
    pub fn find_snapshot(&self, spec: &str, filter: &SnapshotFilter) -> Result<StoredSnapshot> {
        if spec == "latest" {
            let (snaps, _) = self.snapshots()?;
            return snaps
                .into_iter()
                .rev()
                .find(|s| filter.matches(&s.snapshot))
                .ok_or_else(|| Error::SnapshotNotFound("latest".to_string()));
        }
        // As restic: a prefix that is not hex matches nothing, and the
        // empty prefix matches every snapshot (ambiguous unless only one).
        if !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::SnapshotNotFound(spec.to_string()));
        }
        let id = self.find_id(FileType::Snapshot, spec)?;
        let snapshot = self.load_snapshot(&id)?;
        Ok(StoredSnapshot { id, snapshot })
    }
}

/// Sorts snapshots by time, oldest first (ties by ID, for stable output).
pub fn sort_by_time(snaps: &mut [StoredSnapshot]) {
    snaps.sort_by(|a, b| {
        a.snapshot
            .time
            .cmp(&b.snapshot.time)
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// Keeps the newest `n` snapshots of each (host, paths) group, as
/// `restic snapshots --latest n` does. Input and output are sorted by time.
pub fn latest_per_group(snaps: Vec<StoredSnapshot>, n: usize) -> Vec<StoredSnapshot> {
    let mut groups: BTreeMap<(String, Vec<String>), Vec<StoredSnapshot>> = BTreeMap::new();
    for s in snaps {
        let mut paths = s.snapshot.paths.clone();
        paths.sort();
        groups
            .entry((s.snapshot.hostname.clone(), paths))
            .or_default()
            .push(s);
    }
    let mut out: Vec<StoredSnapshot> = groups
        .into_values()
        .flat_map(|mut g| {
            sort_by_time(&mut g);
            let skip = g.len().saturating_sub(n);
            g.into_iter().skip(skip)
        })
        .collect();
    sort_by_time(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sn(host: &str, tags: &[&str], paths: &[&str]) -> Snapshot {
        let mut s = Snapshot::from_json(br#"{"time":"2020-01-01T00:00:00Z","tree":"0000000000000000000000000000000000000000000000000000000000000000","paths":[]}"#).unwrap();
        s.hostname = host.into();
        s.tags = tags.iter().map(|t| t.to_string()).collect();
        s.paths = paths.iter().map(|t| t.to_string()).collect();
        s
    }

    #[test]
    fn filters_follow_restic_rules() {
        let s = sn("web1", &["daily", "db"], &["/srv", "/etc"]);
        let f = |hosts: &[&str], tags: &[&[&str]], paths: &[&str]| SnapshotFilter {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            tags: tags
                .iter()
                .map(|l| l.iter().map(|t| t.to_string()).collect())
                .collect(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
        };
        assert!(f(&[], &[], &[]).matches(&s));
        assert!(f(&["web2", "web1"], &[], &[]).matches(&s));
        assert!(!f(&["web2"], &[], &[]).matches(&s));
        assert!(f(&[], &[&["daily", "db"]], &[]).matches(&s));
        assert!(!f(&[], &[&["daily", "weekly"]], &[]).matches(&s));
        assert!(f(&[], &[&["weekly"], &["db"]], &[]).matches(&s));
        assert!(!f(&[], &[&[]], &[]).matches(&s));
        assert!(f(&[], &[&[]], &[]).matches(&sn("h", &[], &[])));
        assert!(f(&[], &[], &["/srv/"]).matches(&s));
        assert!(f(&[], &[], &["/srv", "/etc"]).matches(&s));
        assert!(!f(&[], &[], &["/srv", "/var"]).matches(&s));
        assert_eq!(SnapshotFilter::parse_tag_list(" a, b ,,c"), ["a", "b", "c"]);
    }

    #[test]
    fn clean_path_matches_go() {
        for (i, o) in [
            ("/a/b/../c/", "/a/c"),
            ("a//b/./", "a/b"),
            ("/../x", "/x"),
            ("../../x", "../../x"),
            ("", "."),
            ("/", "/"),
        ] {
            assert_eq!(clean_path(i), o, "{i}");
        }
    }

    #[test]
    fn latest_keeps_n_per_host_and_paths() {
        let mut snaps = Vec::new();
        for (i, host) in ["a", "b", "a", "a", "b"].iter().enumerate() {
            let mut s = sn(host, &[], &["/x"]);
            s.time.unix_secs = 1_000 + i as i64;
            snaps.push(StoredSnapshot {
                id: Id([i as u8; 32]),
                snapshot: s,
            });
        }
        let kept = latest_per_group(snaps, 1);
        let ids: Vec<u8> = kept.iter().map(|s| s.id.0[0]).collect();
        assert_eq!(ids, [3, 4]);
    }
}
