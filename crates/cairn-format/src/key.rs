//! Key files (`keys/<id>`) and the master-key JSON sealed inside them.

use cairn_crypto::{CryptoError, MasterKey, ScryptParams};
use serde::{Deserialize, Serialize};

use crate::snapshot::null_as_default;
use crate::{b64, to_go_json, FormatError, GoTime};

/// The salt length restic requires.
pub const SALT_LEN: usize = 64;

/// A key file: scrypt parameters plus the master key sealed with the key
/// derived from the password.
///
/// `created`, `username` and `hostname` may be missing or `null` (rustic
/// omits them); they then read as the zero time and empty strings, as restic
/// reads them, and are written back that way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    /// Creation time (local zone of the creator); [`GoTime::ZERO`] if the
    /// file does not say.
    #[serde(default, deserialize_with = "null_as_default")]
    pub created: GoTime,
    /// User who created the key (empty if the file does not say).
    #[serde(default, deserialize_with = "null_as_default")]
    pub username: String,
    /// Host on which the key was created (empty if the file does not say).
    #[serde(default, deserialize_with = "null_as_default")]
    pub hostname: String,
    /// Key derivation function; only `"scrypt"` is accepted.
    pub kdf: String,
    /// scrypt N.
    #[serde(rename = "N")]
    pub n: u64,
    /// scrypt r.
    pub r: u32,
    /// scrypt p.
    pub p: u32,
    /// 64 random bytes.
    #[serde(with = "b64")]
    pub salt: Vec<u8>,
    /// IV ‖ ciphertext ‖ MAC of the master-key JSON.
    #[serde(with = "b64")]
    pub data: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct MacJson {
    #[serde(with = "b64")]
    k: Vec<u8>,
    #[serde(with = "b64")]
    r: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct MasterKeyJson {
    mac: MacJson,
    #[serde(with = "b64")]
    encrypt: Vec<u8>,
}

/// The master key as restic's JSON: `{"mac":{"k":…,"r":…},"encrypt":…}`.
pub fn master_key_to_json(key: &MasterKey) -> Vec<u8> {
    to_go_json(&MasterKeyJson {
        mac: MacJson {
            k: key.mac_k().to_vec(),
            r: key.mac_r().to_vec(),
        },
        encrypt: key.encrypt_key().to_vec(),
    })
}

/// Parse restic's master-key JSON (also what `restic cat masterkey` prints).
pub fn master_key_from_json(b: &[u8]) -> Result<MasterKey, FormatError> {
    let j: MasterKeyJson =
        serde_json::from_slice(b).map_err(|e| FormatError::InvalidMasterKey(e.to_string()))?;
    let bad = |what: &str| FormatError::InvalidMasterKey(format!("{what} has the wrong length"));
    let encrypt: [u8; 32] = j
        .encrypt
        .as_slice()
        .try_into()
        .map_err(|_| bad("encrypt"))?;
    let k: [u8; 16] = j.mac.k.as_slice().try_into().map_err(|_| bad("mac.k"))?;
    let r: [u8; 16] = j.mac.r.as_slice().try_into().map_err(|_| bad("mac.r"))?;
    Ok(MasterKey::from_parts(encrypt, k, r)?)
}

impl KeyFile {
    /// Parse a key file. The KDF must be `"scrypt"` and the salt exactly
    /// 64 bytes.
    pub fn from_json(b: &[u8]) -> Result<KeyFile, FormatError> {
        crate::limits::check_json_size(b, crate::limits::MAX_KEY_JSON)?;
        let k: KeyFile = serde_json::from_slice(b).map_err(|e| FormatError::json("key", e))?;
        if k.kdf != "scrypt" {
            return Err(FormatError::UnsupportedKdf(
                k.kdf.chars().take(40).collect(),
            ));
        }
        if k.salt.len() != SALT_LEN {
            return Err(FormatError::InvalidSalt(k.salt.len()));
        }
        Ok(k)
    }

    /// The exact bytes restic writes (`json.Marshal`, no newline); the key
    /// file's ID is their SHA-256.
    pub fn to_json(&self) -> Vec<u8> {
        to_go_json(self)
    }

    /// The scrypt parameters stored in this key file.
    pub fn params(&self) -> ScryptParams {
        ScryptParams {
            n: self.n,
            r: self.r,
            p: self.p,
        }
    }

    /// Derive the user key from `password` and open the master key.
    ///
    /// A failed MAC check gives [`FormatError::WrongPassword`]; bad scrypt
    /// parameters are rejected before any work is done.
    pub fn open(&self, password: &[u8]) -> Result<MasterKey, FormatError> {
        let user = cairn_crypto::derive_key(password, &self.salt, &self.params())?;
        let plain = user.open(&self.data).map_err(|e| match e {
            CryptoError::BadMac => FormatError::WrongPassword,
            other => FormatError::Crypto(other),
        })?;
        master_key_from_json(&plain)
    }

    /// Create a key file for `master`, protected by `password`, with a
    /// fresh random salt.
    pub fn create(
        master: &MasterKey,
        password: &[u8],
        params: ScryptParams,
        username: &str,
        hostname: &str,
        created: GoTime,
    ) -> Result<KeyFile, FormatError> {
        let salt = cairn_crypto::random_bytes::<SALT_LEN>().to_vec();
        let user = cairn_crypto::derive_key(password, &salt, &params)?;
        let data = user.seal(&master_key_to_json(master));
        Ok(KeyFile {
            created,
            username: username.to_string(),
            hostname: hostname.to_string(),
            kdf: "scrypt".to_string(),
            n: params.n,
            r: params.r,
            p: params.p,
            salt,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: ScryptParams = ScryptParams {
        n: 1024,
        r: 8,
        p: 1,
    };

    #[test]
    fn create_open() {
        let master = MasterKey::generate();
        let t = GoTime::parse("2024-01-02T03:04:05.6+01:00").unwrap();
        let k = KeyFile::create(&master, b"pw", FAST, "me", "host<1>", t).unwrap();
        let j = k.to_json();
        let s = String::from_utf8(j.clone()).unwrap();
        assert!(s.starts_with(
            r#"{"created":"2024-01-02T03:04:05.6+01:00","username":"me","hostname":"host\u003c1\u003e","kdf":"scrypt","N":1024,"r":8,"p":1,"salt":""#
        ), "{s}");
        let back = KeyFile::from_json(&j).unwrap();
        assert_eq!(back, k);
        let opened = back.open(b"pw").unwrap();
        assert_eq!(opened.encrypt_key(), master.encrypt_key());
        assert_eq!(opened.mac_k(), master.mac_k());
        assert_eq!(opened.mac_r(), master.mac_r());
        assert!(matches!(
            back.open(b"wrong"),
            Err(FormatError::WrongPassword)
        ));
    }

    #[test]
    fn opens_key_without_created_username_hostname() {
        // rustic writes no `created`, `username` or `hostname`.
        let master = MasterKey::generate();
        let k = KeyFile::create(&master, b"pw", FAST, "me", "h", GoTime::ZERO).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&k.to_json()).unwrap();
        let mut obj = v.as_object().unwrap().clone();
        for f in ["created", "username", "hostname"] {
            obj.remove(f);
        }
        obj.insert("hostname".into(), serde_json::Value::Null);
        let rustic = serde_json::to_vec(&obj).unwrap();
        let back = KeyFile::from_json(&rustic).unwrap();
        assert_eq!(back.created, GoTime::ZERO);
        assert_eq!((back.username.as_str(), back.hostname.as_str()), ("", ""));
        assert_eq!(back.open(b"pw").unwrap().mac_r(), master.mac_r());
        assert!(String::from_utf8(back.to_json())
            .unwrap()
            .starts_with(r#"{"created":"0001-01-01T00:00:00Z","username":"","hostname":"","kdf""#));
    }

    #[test]
    fn rejects() {
        let master = MasterKey::generate();
        let k = KeyFile::create(&master, b"pw", FAST, "", "", GoTime::ZERO).unwrap();
        let mut bad = k.clone();
        bad.kdf = "argon2".into();
        assert!(matches!(
            KeyFile::from_json(&bad.to_json()),
            Err(FormatError::UnsupportedKdf(_))
        ));
        let mut bad = k.clone();
        bad.salt.pop();
        assert!(matches!(
            KeyFile::from_json(&bad.to_json()),
            Err(FormatError::InvalidSalt(63))
        ));
        let mut bad = k;
        bad.n = 1000;
        assert!(bad.open(b"pw").is_err());
        assert!(
            master_key_from_json(br#"{"mac":{"k":"AA==","r":"AA=="},"encrypt":"AA=="}"#).is_err()
        );
    }
}
