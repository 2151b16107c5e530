//! Lock files (`locks/<id>`).

use serde::{Deserialize, Serialize};

use crate::{to_go_json, FormatError, GoTime};

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A repository lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// When the lock was created or last refreshed.
    pub time: GoTime,
    /// Exclusive (prune, check, …) or shared (backup, restore, …).
    #[serde(default)]
    pub exclusive: bool,
    /// Host holding the lock.
    #[serde(default)]
    pub hostname: String,
    /// User holding the lock.
    #[serde(default)]
    pub username: String,
    /// Process ID of the holder.
    #[serde(default)]
    pub pid: u32,
    /// User ID (omitted when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uid: u32,
    /// Group ID (omitted when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gid: u32,
}

impl Lock {
    /// Parse a decrypted, decompressed lock file.
    pub fn from_json(b: &[u8]) -> Result<Lock, FormatError> {
        crate::limits::check_json_size(b, crate::limits::MAX_LOCK_JSON)?;
        serde_json::from_slice(b).map_err(|e| FormatError::json("lock", e))
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
        let l = Lock {
            time: GoTime::parse("2024-05-06T07:08:09.123+02:00").unwrap(),
            exclusive: true,
            hostname: "h".into(),
            username: "u".into(),
            pid: 42,
            uid: 0,
            gid: 7,
        };
        let j = l.to_json();
        assert_eq!(
            j,
            br#"{"time":"2024-05-06T07:08:09.123+02:00","exclusive":true,"hostname":"h","username":"u","pid":42,"gid":7}"#
        );
        assert_eq!(Lock::from_json(&j).unwrap(), l);
    }
}
