//! Grouping snapshots by host, paths and/or tags (`--group-by`).

use crate::snapshots::sort_by_time;
use crate::{Error, Result, StoredSnapshot};
use std::collections::BTreeMap;
use std::fmt;

/// Which snapshot fields form a group (restic's `--group-by host,paths,tags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupBy {
    /// Group by host name.
    pub host: bool,
    /// Group by the (sorted) list of paths.
    pub paths: bool,
    /// Group by the (sorted) list of tags.
    pub tags: bool,
}

impl Default for GroupBy {
    /// restic's default for `forget`: `host,paths`.
    fn default() -> Self {
        GroupBy {
            host: true,
            paths: true,
            tags: false,
        }
    }
}

impl GroupBy {
    /// No grouping: every snapshot falls into one group.
    pub const NONE: GroupBy = GroupBy {
        host: false,
        paths: false,
        tags: false,
    };

    /// Parses restic's comma-separated list: `host`/`hosts`,
    /// `path`/`paths`, `tag`/`tags`; empty items are ignored, so `""`
    /// means no grouping.
    pub fn parse(s: &str) -> Result<GroupBy> {
        let mut g = GroupBy::NONE;
        for item in s.split(',') {
            match item {
                "host" | "hosts" => g.host = true,
                "path" | "paths" => g.paths = true,
                "tag" | "tags" => g.tags = true,
                "" => {}
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "unknown grouping option: {other:?}"
                    )))
                }
            }
        }
        Ok(g)
    }

    /// True when at least one field groups.
    pub fn is_grouping(&self) -> bool {
        self.host || self.paths || self.tags
    }
}

/// The values a group shares. Fields that are not grouped on are empty
/// (restic prints them as `""` and `null`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    /// Host name, when grouping by host.
    pub hostname: String,
    /// Sorted paths, when grouping by paths.
    pub paths: Vec<String>,
    /// Sorted tags, when grouping by tags.
    pub tags: Vec<String>,
}

impl GroupKey {
    /// restic's group heading without the trailing colon, e.g.
    /// `snapshots for (host [a], paths [/x, /y])`; `None` when the key is
    /// empty (no grouping), where restic prints no heading.
    pub fn heading(&self) -> Option<String> {
        if self.hostname.is_empty() && self.paths.is_empty() && self.tags.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        if !self.hostname.is_empty() {
            parts.push(format!("host [{}]", self.hostname));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tags [{}]", self.tags.join(", ")));
        }
        if !self.paths.is_empty() {
            parts.push(format!("paths [{}]", self.paths.join(", ")));
        }
        Some(format!("snapshots for ({})", parts.join(", ")))
    }
}

impl fmt::Display for GroupKey {
    /// The short form newer restic uses in messages:
    /// `host a, path [/x /y], tags [t]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.hostname.is_empty() {
            parts.push(format!("host {}", self.hostname));
        }
        if !self.paths.is_empty() {
            parts.push(format!("path [{}]", self.paths.join(" ")));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tags [{}]", self.tags.join(" ")));
        }
        f.write_str(&parts.join(", "))
    }
}

/// Splits snapshots into groups, ordered by key; each group is sorted by
/// time, oldest first.
///
/// As in restic, every snapshot comes back with its paths sorted, and with
/// its tags sorted when grouping by tags (the ID still names the file, whose
/// content is unchanged); this is what restic shows in `forget`'s output.
pub fn group_snapshots(
    snaps: &[StoredSnapshot],
    group_by: GroupBy,
) -> Vec<(GroupKey, Vec<StoredSnapshot>)> {
    let mut groups: BTreeMap<GroupKey, Vec<StoredSnapshot>> = BTreeMap::new();
    for s in snaps {
        let mut s = s.clone();
        s.snapshot.paths.sort();
        if group_by.tags {
            s.snapshot.tags.sort();
        }
        let key = GroupKey {
            hostname: if group_by.host {
                s.snapshot.hostname.clone()
            } else {
                String::new()
            },
            paths: if group_by.paths {
                s.snapshot.paths.clone()
            } else {
                Vec::new()
            },
            tags: if group_by.tags {
                s.snapshot.tags.clone()
            } else {
                Vec::new()
            },
        };
        groups.entry(key).or_default().push(s);
    }
    groups
        .into_iter()
        .map(|(k, mut v)| {
            sort_by_time(&mut v);
            (k, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_format::{GoTime, Id, Snapshot};

    fn snap(n: u8, host: &str, paths: &[&str], tags: &[&str]) -> StoredSnapshot {
        let mut s = Snapshot::new(GoTime::ZERO, Id([0; 32]));
        s.time.unix_secs = i64::from(n);
        s.hostname = host.into();
        s.paths = paths.iter().map(|p| p.to_string()).collect();
        s.tags = tags.iter().map(|p| p.to_string()).collect();
        StoredSnapshot {
            id: Id([n; 32]),
            snapshot: s,
        }
    }

    #[test]
    fn parses_group_options() {
        assert_eq!(GroupBy::parse("host,paths").unwrap(), GroupBy::default());
        assert_eq!(GroupBy::parse("").unwrap(), GroupBy::NONE);
        let g = GroupBy::parse("tags,hosts,,path").unwrap();
        assert!(g.host && g.paths && g.tags);
        assert_eq!(
            GroupBy::parse("host,foo").unwrap_err().to_string(),
            "unknown grouping option: \"foo\""
        );
    }

    #[test]
    fn groups_with_sorted_paths_and_tags() {
        let snaps = [
            snap(1, "a", &["/y", "/x"], &["t2", "t1"]),
            snap(2, "a", &["/x", "/y"], &["t1", "t2"]),
            snap(3, "b", &["/x"], &[]),
        ];
        let g = group_snapshots(&snaps, GroupBy::default());
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0.paths, ["/x", "/y"]);
        assert_eq!(g[0].1.len(), 2);
        assert_eq!(g[0].1[0].snapshot.tags, ["t2", "t1"]);
        assert_eq!(
            g[0].0.heading().unwrap(),
            "snapshots for (host [a], paths [/x, /y])"
        );
        let g = group_snapshots(&snaps, GroupBy::parse("tags").unwrap());
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].0.tags, ["t1", "t2"]);
        assert_eq!(g[1].1[0].snapshot.tags, ["t1", "t2"]);
        assert_eq!(g[1].0.to_string(), "tags [t1 t2]");
        let g = group_snapshots(&snaps, GroupBy::NONE);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].0.heading(), None);
    }
}
