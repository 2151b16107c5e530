//! Content IDs (SHA-256) and blob types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::FormatError;

/// A 32-byte SHA-256 content ID, written as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub [u8; 32]);

impl Id {
    /// The SHA-256 of `data`.
    pub fn hash(data: &[u8]) -> Id {
        Id(Sha256::digest(data).into())
    }

    /// Parse 64 hex characters (either case).
    pub fn from_hex(s: &str) -> Result<Id, FormatError> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(FormatError::InvalidId(truncate(s)));
        }
        // Branch-free over the 64 characters (IDs are parsed by the million
        // from index and tree JSON): a character that is not a hex digit
        // maps to a value with bit 4 set, collected in `bad`.
        let mut out = [0u8; 32];
        let mut bad = 0u8;
        for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let high = HEX_VALUE[usize::from(pair[0])];
            let low = HEX_VALUE[usize::from(pair[1])];
            bad |= high | low;
            *byte = (high << 4) | (low & 0x0f);
        }
        if bad & NOT_HEX != 0 {
            return Err(FormatError::InvalidId(truncate(s)));
        }
        Ok(Id(out))
    }

    /// Full lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex characters, as restic prints short IDs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// True for the all-zero ID (Go's zero value, "null ID").
    pub fn is_zero(&self) -> bool {
        self.0 == [0u8; 32]
    }
}

/// Marks a byte that is not a hex digit in [`HEX_VALUE`].
const NOT_HEX: u8 = 0x10;

/// The value of each byte as a hex digit (either case), or [`NOT_HEX`].
const HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Id {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Id, FormatError> {
        Id::from_hex(s)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 64-character hex ID")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Id, E> {
                Id::from_hex(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// The two kinds of blob stored in packs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobType {
    /// File content chunks.
    Data,
    /// Directory listings (tree JSON).
    Tree,
}

impl BlobType {
    /// `"data"` or `"tree"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            BlobType::Data => "data",
            BlobType::Tree => "tree",
        }
    }
}

impl fmt::Display for BlobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BlobType {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<BlobType, FormatError> {
        match s {
            "data" => Ok(BlobType::Data),
            "tree" => Ok(BlobType::Tree),
            _ => Err(FormatError::InvalidBlobType(format!("{s:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = Id::hash(b"");
        assert_eq!(
            id.to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Id::from_hex(&id.to_hex()).unwrap(), id);
        assert_eq!(Id::from_hex(&id.to_hex().to_uppercase()).unwrap(), id);
        assert_eq!(id.short(), "e3b0c442");
        assert_eq!(format!("{id}"), id.to_hex());
        assert_eq!(format!("{id:?}"), id.to_hex());
        assert!(Id::from_hex("abc").is_err());
        assert!(Id::from_hex(&"g".repeat(64)).is_err());
        assert!(Id::default().is_zero());
        assert!(!id.is_zero());
    }

    #[test]
    fn serde() {
        let id = Id::hash(b"x");
        let j = serde_json::to_string(&id).unwrap();
        assert_eq!(j, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<Id>(&j).unwrap(), id);
        assert_eq!(serde_json::to_string(&BlobType::Tree).unwrap(), "\"tree\"");
        assert_eq!(
            serde_json::from_str::<BlobType>("\"data\"").unwrap(),
            BlobType::Data
        );
        assert!(serde_json::from_str::<BlobType>("\"Data\"").is_err());
    }
}
