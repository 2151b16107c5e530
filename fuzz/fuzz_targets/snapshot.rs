//! Snapshots: `Snapshot::from_json` on arbitrary bytes.
//!
//! A snapshot's ID is the hash of its JSON, and `tag`/`rewrite` re-write
//! snapshots, so whatever parses must serialize to bytes that parse back
//! to the same snapshot and re-serialize identically. That includes the
//! members Cairn does not know (rustic's `label`, `delete`, ...), which are
//! kept verbatim in `Snapshot::unknown`.
#![no_main]

use cairn_format::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(snap) = Snapshot::from_json(data) else {
        return;
    };
    let json = snap.to_json();
    let again = Snapshot::from_json(&json).unwrap_or_else(|e| {
        panic!(
            "re-parse of serialized snapshot failed: {e}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(again, snap);
    assert_eq!(again.to_json(), json, "serialization is not a fixed point");
});
