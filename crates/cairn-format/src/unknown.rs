//! Members of a JSON object that Cairn does not know, kept so that a file
//! Cairn rewrites still carries them.
//!
//! Other programs writing restic repositories add their own fields: rustic,
//! for example, stores `label`, `description` and `delete` in snapshots and
//! extra counters in a snapshot's `summary`. restic drops such fields when it
//! rewrites a snapshot; Cairn keeps them, each value as the exact JSON text it
//! was read as, in the order it was read.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Unknown members of one JSON object, in file order, values verbatim.
///
/// Written back (after the known fields) by the `Serialize` impl of the type
/// holding it; two values are equal when names and value texts are.
#[derive(Clone, Default)]
pub struct UnknownFields(Vec<(String, Box<RawValue>)>);

impl UnknownFields {
    /// No unknown members.
    pub fn new() -> UnknownFields {
        UnknownFields(Vec::new())
    }

    /// The members of the JSON object `json` whose names are not in `known`,
    /// in order (a name given twice is kept twice). `json` must be an object.
    pub fn collect(json: &str, known: &[&str]) -> Result<UnknownFields, serde_json::Error> {
        let all: Members = serde_json::from_str(json)?;
        Ok(UnknownFields(
            all.0
                .into_iter()
                .filter(|(name, _)| !known.contains(&name.as_str()))
                .collect(),
        ))
    }

    /// Appends a member; `json` must be one valid JSON value and is kept as
    /// given (surrounding whitespace removed).
    pub fn push(&mut self, name: &str, json: &str) -> Result<(), serde_json::Error> {
        let raw = RawValue::from_string(json.trim().to_string())?;
        self.0.push((name.to_string(), raw));
        Ok(())
    }

    /// The JSON text of the first member called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// `(name, JSON text)` of every member, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.get()))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for UnknownFields {
    fn eq(&self, other: &UnknownFields) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UnknownFields {}

impl fmt::Debug for UnknownFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Serializes as map entries, so `#[serde(flatten)]` appends the members to
/// the enclosing object; each value is written as its stored text.
impl Serialize for UnknownFields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Every member of an object, in order, values raw (needs serde_json's
/// own deserializer, which is how every caller here reads).
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Members, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_duplicates_and_text() {
        let json = r#"{"a":1,"label":"x<y","n":1.50e3,"a":2,"o":{ "k" : [ 1 ,2 ] }}"#;
        let u = UnknownFields::collect(json, &["a"]).unwrap();
        let got: Vec<_> = u.iter().collect();
        assert_eq!(
            got,
            [
                ("label", r#""x<y""#),
                ("n", "1.50e3"),
                ("o", r#"{ "k" : [ 1 ,2 ] }"#)
            ]
        );
        assert_eq!(u.get("n"), Some("1.50e3"));
        assert_eq!(u.get("a"), None);
        assert!(UnknownFields::collect("[1]", &[]).is_err());
        let mut v = UnknownFields::new();
        v.push("label", r#" "x<y" "#).unwrap();
        assert!(v.push("bad", "{").is_err());
        assert_eq!(v.len(), 1);
        assert_ne!(u, v);
        assert_eq!(format!("{v:?}"), r#"{"label": "\"x<y\""}"#);
    }
}
