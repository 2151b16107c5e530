//! Snapshot files (`snapshots/<id>`).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::{to_go_json, FormatError, GoTime, Id, UnknownFields};

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
///
/// Fields restic does not know (rustic's `label`, `description`, `delete`,
/// …) are kept in [`Snapshot::unknown`] and written back after restic's
/// fields, each value byte for byte. (Reading the unknown members needs
/// serde_json's own deserializer, as [`Snapshot::from_json`] uses.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self")]
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
    /// Members restic does not know, in file order, values verbatim.
    #[serde(flatten, skip_deserializing)]
    pub unknown: UnknownFields,
}

/// The JSON names of [`Snapshot`]'s known fields.
const SNAPSHOT_FIELDS: &[&str] = &[
    "time",
    "parent",
    "tree",
    "paths",
    "hostname",
    "username",
    "uid",
    "gid",
    "excludes",
    "tags",
    "original",
    "program_version",
    "summary",
];

/// The JSON names of [`SnapshotSummary`]'s known fields.
const SUMMARY_FIELDS: &[&str] = &[
    "backup_start",
    "backup_end",
    "files_new",
    "files_changed",
    "files_unmodified",
    "dirs_new",
    "dirs_changed",
    "dirs_unmodified",
    "data_blobs",
    "tree_blobs",
    "data_added",
    "data_added_packed",
    "total_files_processed",
    "total_bytes_processed",
];

/// Reads an object twice: once into the known fields (`parse`), once for
/// the members not named in `known`. Needs serde_json's deserializer.
fn with_unknown<'de, D, T>(
    d: D,
    known: &[&str],
    parse: fn(&mut serde_json::Deserializer<serde_json::de::StrRead<'_>>) -> serde_json::Result<T>,
    set: fn(&mut T, UnknownFields),
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Box::<RawValue>::deserialize(d)?;
    let mut value =
        parse(&mut serde_json::Deserializer::from_str(raw.get())).map_err(D::Error::custom)?;
    set(
        &mut value,
        UnknownFields::collect(raw.get(), known).map_err(D::Error::custom)?,
    );
    Ok(value)
}

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Snapshot::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Snapshot, D::Error> {
        with_unknown(
            d,
            SNAPSHOT_FIELDS,
            |de| Snapshot::deserialize(de),
            |s, u| s.unknown = u,
        )
    }
}

impl Serialize for SnapshotSummary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SnapshotSummary::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for SnapshotSummary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SnapshotSummary, D::Error> {
        with_unknown(
            d,
            SUMMARY_FIELDS,
            |de| SnapshotSummary::deserialize(de),
            |s, u| s.unknown = u,
        )
    }
}

/// Backup statistics stored with a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(remote = "Self")]
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
    /// Members restic does not know (e.g. rustic's extra counters), in
    /// file order, values verbatim.
    #[serde(flatten, skip_deserializing)]
    pub unknown: UnknownFields,
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
            unknown: UnknownFields::new(),
        }
    }

    /// Parse a decrypted, decompressed snapshot file.
    pub fn from_json(b: &[u8]) -> Result<Snapshot, FormatError> {
        crate::limits::check_json_size(b, crate::limits::MAX_SNAPSHOT_JSON)?;
        serde_json::from_slice(b).map_err(|e| FormatError::json("snapshot", e))
    }

    /// The JSON restic writes (`json.Marshal`, no trailing newline), with
    /// the [`Snapshot::unknown`] members after restic's fields.
    pub fn to_json(&self) -> Vec<u8> {
        to_go_json(self)
    }

    /// A copy without the members restic does not know (top level and in
    /// the summary): what restic itself shows of this snapshot.
    pub fn without_unknown(&self) -> Snapshot {
        let mut s = self.clone();
        s.unknown = UnknownFields::new();
        if let Some(sum) = &mut s.summary {
            sum.unknown = UnknownFields::new();
        }
        s
    }

    /// True if rustic's `delete` field protects this snapshot at `now`:
    /// `"delete":"Never"`, or `"delete":{"After":<time>}` with a time after
    /// `now`. rustic's `forget` keeps such snapshots whatever the policy;
    /// restic does not know the field. Any other value protects nothing.
    pub fn protected_by_rustic(&self, now: &GoTime) -> bool {
        let Some(raw) = self.unknown.get("delete") else {
            return false;
        };
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("never"),
            Ok(serde_json::Value::Object(o)) if o.len() == 1 => {
                let Some((name, serde_json::Value::String(t))) = o.iter().next() else {
                    return false;
                };
                name.eq_ignore_ascii_case("after")
                    && GoTime::parse(t)
                        .is_ok_and(|t| (t.unix_secs, t.nanos) > (now.unix_secs, now.nanos))
            }
            _ => false,
        }
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

    /// A snapshot as rustic writes it: fields restic does not know at top
    /// level and in `summary`, in rustic's order and spelling.
    fn rustic_json() -> String {
        format!(
            concat!(
                r#"{{"time":"2024-05-06T07:08:09.123+02:00","program_version":"rustic v0.11.4","#,
                r#""tree":"{}","label":"my <label>","paths":["/src"],"hostname":"h","#,
                r#""username":"","uid":0,"gid":0,"tags":[],"description":"line 1\nline 2","#,
                r#""summary":{{"files_new":1,"backup_start":"2024-05-06T07:08:09+02:00","#,
                r#""backup_end":"2024-05-06T07:08:10+02:00","backup_duration":1.2500,"#,
                r#""total_dirsize_processed":4096,"command":"backup"}},"delete":"never","#,
                r#""x":{{ "nested" : [1, 2.0e1, null] }}}}"#
            ),
            Id::hash(b"t")
        )
    }

    #[test]
    fn keeps_unknown_fields() {
        let json = rustic_json();
        let s = Snapshot::from_json(json.as_bytes()).unwrap();
        let top: Vec<_> = s.unknown.iter().collect();
        assert_eq!(
            top,
            [
                ("label", r#""my <label>""#),
                ("description", r#""line 1\nline 2""#),
                ("delete", r#""never""#),
                ("x", r#"{ "nested" : [1, 2.0e1, null] }"#),
            ]
        );
        let sum = s.summary.as_ref().unwrap();
        assert_eq!(sum.files_new, 1);
        let extra: Vec<_> = sum.unknown.iter().collect();
        assert_eq!(
            extra,
            [
                ("backup_duration", "1.2500"),
                ("total_dirsize_processed", "4096"),
                ("command", r#""backup""#)
            ]
        );
        // Written back after restic's own fields, values byte for byte.
        let out = String::from_utf8(s.to_json()).unwrap();
        assert!(
            out.ends_with(concat!(
                r#""total_bytes_processed":0,"backup_duration":1.2500,"#,
                r#""total_dirsize_processed":4096,"command":"backup"},"#,
                r#""label":"my <label>","description":"line 1\nline 2","delete":"never","#,
                r#""x":{ "nested" : [1, 2.0e1, null] }}"#
            )),
            "{out}"
        );
        let again = Snapshot::from_json(out.as_bytes()).unwrap();
        assert_eq!(again, s);
        assert_eq!(again.to_json(), out.as_bytes());
        let plain = String::from_utf8(s.without_unknown().to_json()).unwrap();
        assert!(!plain.contains("label") && !plain.contains("backup_duration"));
        // Changing a known field leaves the unknown ones alone.
        let mut tagged = again.clone();
        tagged.tags.push("t".into());
        let t = Snapshot::from_json(&tagged.to_json()).unwrap();
        assert_eq!(t.unknown, s.unknown);
        assert_eq!(t.summary, s.summary);
    }

    #[test]
    fn known_field_lists_match_the_structs() {
        let mut s = Snapshot::new(GoTime::ZERO, Id::hash(b"t"));
        s.parent = Some(Id::hash(b"p"));
        s.paths = vec!["p".into()];
        s.hostname = "h".into();
        s.username = "u".into();
        (s.uid, s.gid) = (1, 1);
        s.excludes = vec!["e".into()];
        s.tags = vec!["t".into()];
        s.original = Some(Id::hash(b"o"));
        s.program_version = "v".into();
        s.summary = Some(SnapshotSummary::default());
        let v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut want = SNAPSHOT_FIELDS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        let keys: Vec<&str> = v["summary"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut want = SUMMARY_FIELDS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert!(s.unknown.is_empty());
    }

    #[test]
    fn rustic_delete_protection() {
        let now = GoTime::parse("2024-01-01T00:00:00Z").unwrap();
        let with = |delete: &str| {
            let mut s = Snapshot::new(GoTime::ZERO, Id::hash(b"t"));
            if !delete.is_empty() {
                s.unknown.push("delete", delete).unwrap();
            }
            s.protected_by_rustic(&now)
        };
        assert!(with(r#""Never""#));
        assert!(with(r#""never""#));
        assert!(!with(r#"{"After":"2024-01-01T00:00:01+01:00"}"#));
        assert!(with(r#"{"After":"2024-01-01T00:00:01-01:00"}"#));
        assert!(!with(r#"{"After":"2023-12-31T23:59:59Z"}"#));
        assert!(!with(r#"{"After":"garbage"}"#));
        assert!(!with(r#""NotSet""#));
        assert!(!with(r#"true"#));
        assert!(!with(""));
    }

    #[test]
    fn duplicate_known_field_is_still_an_error() {
        let j = format!(
            r#"{{"time":"2020-01-01T00:00:00Z","tree":"{0}","tree":"{0}"}}"#,
            Id::hash(b"t")
        );
        assert!(Snapshot::from_json(j.as_bytes()).is_err());
        assert!(Snapshot::from_json(b"[]").is_err());
    }
}
