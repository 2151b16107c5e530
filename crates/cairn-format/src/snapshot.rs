//! Snapshot files (`snapshots/<id>`).

use serde::{Deserialize, Deserializer, Serialize};

use crate::{to_go_json, FormatError, GoTime, Id};

/// Deserialize `null` (Go's nil slice) as the default value.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A snapshot, with restic's field order and `omitempty` rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the backup started (local zone).
    pub time: GoTime,
    /// Parent snapshot used for change detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    /// Root tree.
    pub tree: Id,
    /// Backed-up paths (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub paths: Vec<String>,
    /// Host name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// User name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// User ID.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uid: u32,
    /// Group ID.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gid: u32,
    /// Exclude patterns.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub excludes: Vec<String>,
    /// Tags.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub tags: Vec<String>,
    /// The snapshot this one was first rewritten from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Id>,
    /// Version of the program that made the snapshot (restic 0.16+).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub program_version: String,
    /// Backup statistics (restic 0.17+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SnapshotSummary>,
}

/// Backup statistics stored with a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct SnapshotSummary {
    pub backup_start: GoTime,
    pub backup_end: GoTime,
    #[serde(default)]
    pub files_new: u64,
    #[serde(default)]
    pub files_changed: u64,
    #[serde(default)]
    pub files_unmodified: u64,
    #[serde(default)]
    pub dirs_new: u64,
    #[serde(default)]
    pub dirs_changed: u64,
    #[serde(default)]
    pub dirs_unmodified: u64,
    #[serde(default)]
    pub data_blobs: u64,
    #[serde(default)]
    pub tree_blobs: u64,
    #[serde(default)]
    pub data_added: u64,
    #[serde(default)]
    pub data_added_packed: u64,
    #[serde(default)]
    pub total_files_processed: u64,
    #[serde(default)]
    pub total_bytes_processed: u64,
}

impl Snapshot {
    /// A snapshot of `tree` at `time` with everything else empty.
    pub fn new(time: GoTime, tree: Id) -> Snapshot {
        Snapshot {
            time,
            parent: None,
            tree,
            paths: Vec::new(),
            hostname: String::new(),
            username: String::new(),
            uid: 0,
            gid: 0,
            excludes: Vec::new(),
            tags: Vec::new(),
            original: None,
            program_version: String::new(),
            summary: None,
        }
    }

    /// Parse a decrypted, decompressed snapshot file.
    pub fn from_json(b: &[u8]) -> Result<Snapshot, FormatError> {
        crate::limits::check_json_size(b, crate::limits::MAX_SNAPSHOT_JSON)?;
        serde_json::from_slice(b).map_err(|e| FormatError::json("snapshot", e))
    }

    /// The JSON restic writes (`json.Marshal`, no trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        to_go_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let mut s = Snapshot::new(GoTime::ZERO, Id::hash(b"t"));
        s.paths = vec!["/a<b".into()];
        let j = String::from_utf8(s.to_json()).unwrap();
        assert_eq!(
            j,
            format!(
                r#"{{"time":"0001-01-01T00:00:00Z","tree":"{}","paths":["/a\u003cb"]}}"#,
                Id::hash(b"t")
            )
        );
        assert_eq!(Snapshot::from_json(j.as_bytes()).unwrap(), s);
        s.summary = Some(SnapshotSummary::default());
        s.uid = 1;
        s.tags = vec!["x".into()];
        s.parent = Some(Id::hash(b"p"));
        let j = String::from_utf8(s.to_json()).unwrap();
        assert!(j.contains(r#""uid":1,"tags":["x"],"summary":{"backup_start":"0001-01-01T00:00:00Z","backup_end":"0001-01-01T00:00:00Z","files_new":0,"#), "{j}");
        assert!(j.find("parent").unwrap() < j.find("tree").unwrap());
        assert_eq!(Snapshot::from_json(j.as_bytes()).unwrap(), s);
        let nulls = format!(
            r#"{{"time":"2020-01-01T00:00:00Z","tree":"{}","paths":null,"tags":null}}"#,
            Id::hash(b"t")
        );
        assert!(Snapshot::from_json(nulls.as_bytes())
            .unwrap()
            .paths
            .is_empty());
    }
}
