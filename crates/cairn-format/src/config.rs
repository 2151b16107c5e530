//! The repository `config` file.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{to_go_json, FormatError};

/// The decrypted `config` file: `{"version":2,"id":"…","chunker_polynomial":"…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Repository format version, 1 or 2.
    pub version: u32,
    /// Repository ID: 64 hex characters (32 random bytes).
    pub id: String,
    /// Rabin polynomial for the chunker, JSON as lowercase hex without
    /// prefix. Irreducibility is checked by the chunker, not here.
    #[serde(serialize_with = "ser_pol", deserialize_with = "de_pol")]
    pub chunker_polynomial: u64,
}

fn ser_pol<S: Serializer>(p: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{p:x}"))
}

fn de_pol<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(serde::de::Error::custom(format!(
            "invalid polynomial {s:?}"
        )));
    }
    u64::from_str_radix(&s, 16).map_err(serde::de::Error::custom)
}

impl Config {
    /// Parse the decrypted config. Rejects versions outside 1..=2.
    pub fn from_json(b: &[u8]) -> Result<Config, FormatError> {
        crate::limits::check_json_size(b, crate::limits::MAX_CONFIG_JSON)?;
        let c: Config = serde_json::from_slice(b).map_err(|e| FormatError::json("config", e))?;
        if !(1..=2).contains(&c.version) {
            return Err(FormatError::UnsupportedVersion(c.version));
        }
        Ok(c)
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
    fn round_trip() {
        let j = br#"{"version":2,"id":"0609382cdea87958d51f86746e902324484e4cea99f012141e470d8c3f8c767b","chunker_polynomial":"2204efd02ac8b1"}"#;
        let c = Config::from_json(j).unwrap();
        assert_eq!(c.chunker_polynomial, 0x2204efd02ac8b1);
        assert_eq!(c.to_json(), j.to_vec());
        for bad in [
            r#"{"version":3,"id":"x","chunker_polynomial":"1"}"#,
            r#"{"version":0,"id":"x","chunker_polynomial":"1"}"#,
            r#"{"version":1,"id":"x","chunker_polynomial":"+1"}"#,
            r#"{"version":1,"id":"x","chunker_polynomial":"0x1"}"#,
            r#"{"version":1,"id":"x","chunker_polynomial":"11112222333344445"}"#,
            r#"{"version":1,"id":"x"}"#,
        ] {
            assert!(Config::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
