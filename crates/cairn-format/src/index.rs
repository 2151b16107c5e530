//! Index files (`index/<id>`): which blobs live where in which pack.

use serde::{Deserialize, Serialize};

use crate::{BlobType, FormatError, Id};

/// One index file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IndexFile {
    /// The packs described by this index.
    pub packs: Vec<IndexPack>,
}

/// A pack and the blobs it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPack {
    /// Pack ID (SHA-256 of the pack file).
    pub id: Id,
    /// Blobs in the pack.
    #[serde(deserialize_with = "crate::snapshot::null_as_default")]
    pub blobs: Vec<IndexBlob>,
}

/// One blob's location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IndexBlob {
    /// Blob ID (SHA-256 of the uncompressed plaintext).
    pub id: Id,
    /// Data or tree.
    #[serde(rename = "type")]
    pub blob_type: BlobType,
    /// Offset of the encrypted blob in the pack.
    pub offset: u64,
    /// Stored (encrypted) length.
    pub length: u32,
    /// Plaintext length of a compressed blob (omitted when uncompressed;
    /// a stored 0 also means uncompressed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "zero_as_none"
    )]
    pub uncompressed_length: Option<u32>,
}

fn zero_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(Option::<u32>::deserialize(d)?.filter(|&v| v != 0))
}

#[derive(Deserialize)]
struct IndexObject {
    #[serde(default, deserialize_with = "crate::snapshot::null_as_default")]
    packs: Vec<IndexPack>,
}

#[derive(Serialize)]
struct IndexJson<'a> {
    packs: &'a [IndexPack],
}

impl IndexFile {
    /// Parse an index: the current object form (any `supersedes` list is
    /// ignored) or the legacy bare array of packs.
    pub fn from_json(b: &[u8]) -> Result<IndexFile, FormatError> {
        crate::limits::check_json_size(b, crate::limits::MAX_INDEX_JSON)?;
        let first = b.iter().find(|c| !c.is_ascii_whitespace());
        let packs = if first == Some(&b'[') {
            serde_json::from_slice::<Vec<IndexPack>>(b)
        } else {
            serde_json::from_slice::<IndexObject>(b).map(|o| o.packs)
        }
        .map_err(|e| FormatError::json("index", e))?;
        Ok(IndexFile { packs })
    }

    /// The bytes restic writes (`json.Encoder`, so a trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = crate::to_go_json(&IndexJson { packs: &self.packs });
        out.push(b'\n');
        out
    }

    /// Total number of blob entries.
    pub fn blob_count(&self) -> usize {
        self.packs.iter().map(|p| p.blobs.len()).sum()
    }
}

impl From<&crate::pack::PackedBlob> for IndexBlob {
    /// The index entry describing a blob of a pack header.
    fn from(b: &crate::pack::PackedBlob) -> IndexBlob {
        IndexBlob {
            id: b.id,
            blob_type: b.blob_type,
            offset: b.offset,
            length: b.length,
            uncompressed_length: b.uncompressed_length,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = Id::hash(b"a").to_hex();
        let p = Id::hash(b"p").to_hex();
        let cur = format!(
            r#"{{"packs":[{{"id":"{p}","blobs":[{{"id":"{a}","type":"data","offset":0,"length":40}},{{"id":"{a}","type":"tree","offset":40,"length":50,"uncompressed_length":7}}]}}]}}"#
        ) + "\n";
        let idx = IndexFile::from_json(cur.as_bytes()).unwrap();
        assert_eq!(idx.blob_count(), 2);
        assert_eq!(idx.packs[0].blobs[1].uncompressed_length, Some(7));
        assert_eq!(idx.to_json(), cur.as_bytes());
        let sup = format!(r#"{{"supersedes":["{a}"],"packs":[]}}"#);
        assert_eq!(
            IndexFile::from_json(sup.as_bytes()).unwrap(),
            IndexFile::default()
        );
        let legacy = format!(
            r#" [{{"id":"{p}","blobs":[{{"id":"{a}","type":"data","offset":0,"length":40}}]}}]"#
        );
        assert_eq!(
            IndexFile::from_json(legacy.as_bytes())
                .unwrap()
                .blob_count(),
            1
        );
        assert_eq!(IndexFile::default().to_json(), b"{\"packs\":[]}\n");
        for bad in ["", "{", "[1]", r#"{"packs":[{"id":"x","blobs":[]}]}"#, "7"] {
            assert!(IndexFile::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
        let bad_type = format!(
            r#"{{"packs":[{{"id":"{p}","blobs":[{{"id":"{a}","type":"x","offset":0,"length":1}}]}}]}}"#
        );
        assert!(IndexFile::from_json(bad_type.as_bytes()).is_err());
    }
}
