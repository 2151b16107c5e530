//! Index files: `IndexFile::from_json` on arbitrary bytes, then the
//! in-memory `Index` built from it.
//!
//! Every blob read goes through the index, so besides the JSON round trip
//! (re-serializing must not lose or change any entry) this checks that
//! `IndexBuilder` accepts what the parser produces (or reports it as an
//! error, for offsets it cannot store) and that every listed blob is then
//! found in the pack that listed it.
#![no_main]

use cairn::IndexBuilder;
use cairn_format::IndexFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = IndexFile::from_json(data) else {
        return;
    };
    let json = file.to_json();
    let again = IndexFile::from_json(&json).unwrap_or_else(|e| {
        panic!(
            "re-parse of serialized index failed: {e}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(again, file);
    assert_eq!(again.to_json(), json, "serialization is not a fixed point");
    assert!(file
        .packs
        .iter()
        .flat_map(|p| &p.blobs)
        .all(|b| b.uncompressed_length != Some(0)));

    let mut builder = IndexBuilder::default();
    if builder.add(&file).is_err() {
        return;
    }
    let index = builder.finish();
    assert!(index.len() <= file.blob_count());
    for pack in &file.packs {
        for blob in &pack.blobs {
            let found = index.lookup_all(blob.blob_type, &blob.id);
            assert!(
                found.iter().any(|l| l.pack == pack.id),
                "blob {} of pack {} not found (got {found:?})",
                blob.id,
                pack.id
            );
            let first = index.lookup(blob.blob_type, &blob.id).expect("lookup");
            assert!(found.contains(&first));
        }
    }
});
