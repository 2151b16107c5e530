//! Key files: `KeyFile::from_json` and the sealed master-key JSON
//! (`master_key_from_json`) on arbitrary bytes.
//!
//! Key files are the first thing read from a repository, before any
//! authentication, so they are the most exposed parser. What parses must
//! round-trip through `to_json` (the key ID is the hash of those bytes).
//! Opening the key is not fuzzed: scrypt with attacker-chosen parameters
//! is deliberately expensive; only the cheap parameter validation is.
#![no_main]

use cairn_format::{master_key_from_json, master_key_to_json, KeyFile, SALT_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = KeyFile::from_json(data) {
        assert_eq!(key.kdf, "scrypt");
        assert_eq!(key.salt.len(), SALT_LEN);
        let json = key.to_json();
        let again = KeyFile::from_json(&json).unwrap_or_else(|e| {
            panic!(
                "re-parse of serialized key file failed: {e}\n{}",
                String::from_utf8_lossy(&json)
            )
        });
        assert_eq!(again, key);
        assert_eq!(again.to_json(), json, "serialization is not a fixed point");
        // Parameter validation must not panic on any values.
        let _ = key.params().validate();
    }

    if let Ok(master) = master_key_from_json(data) {
        let json = master_key_to_json(&master);
        let again = master_key_from_json(&json).expect("re-parse of master key JSON");
        assert_eq!(again.encrypt_key(), master.encrypt_key());
        assert_eq!(again.mac_k(), master.mac_k());
        assert_eq!(again.mac_r(), master.mac_r());
    }
});
