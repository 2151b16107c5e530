//! Unpacked-file framing and blob decompression: `decode_unpacked` (v1
//! and v2) and `decompress_blob` with an arbitrary claimed length.
//!
//! Input layout: one byte used as the repository version (1 and 2 are the
//! real ones; anything else must be rejected cleanly), four bytes of
//! claimed uncompressed length (u32 LE), then the payload. fuzz/seeds.sh
//! writes seeds in this layout.
#![no_main]

use cairn_format::{
    compress_blob, decode_unpacked, decompress_blob, decompress_bounded, encode_unpacked,
};
use libfuzzer_sys::fuzz_target;

/// Claimed lengths are capped: a valid zstd frame of a few bytes can
/// legitimately expand to any claimed size (up to 4 GiB), which would only
/// measure the machine's memory, not find bugs. The cap lies above
/// `ONE_PASS_LIMIT`, so both decoding paths of `decompress_blob` run.
const MAX_CLAIMED: u32 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let version = u32::from(data[0]);
    let claimed = u32::from_le_bytes([data[1], data[2], data[3], data[4]]) % (MAX_CLAIMED + 1);
    let payload = &data[5..];

    match decode_unpacked(version, payload.to_vec()) {
        Ok(out) => {
            assert!(version == 1 || version == 2, "version {version} accepted");
            // v1 and uncompressed v2 JSON pass through untouched.
            if version == 1 || payload.first() != Some(&0x02) {
                assert_eq!(out, payload);
            }
        }
        Err(_) => assert_ne!(version, 1, "v1 framing never fails"),
    }
    // Encoding then decoding must give the payload back in both versions.
    for v in [1, 2] {
        let framed = encode_unpacked(v, payload);
        assert_eq!(decode_unpacked(v, framed).expect("decode of own encoding"), payload);
    }

    // What the streaming decoder accepts, the one-pass decoder (claims up
    // to ONE_PASS_LIMIT) accepts with the same bytes. It may accept more:
    // frames announcing a window larger than the streaming decoder's
    // limit, which one-pass decoding needs no memory for.
    let exact = decompress_blob(payload, claimed).ok();
    if let Some(out) = &exact {
        assert_eq!(out.len(), claimed as usize, "decompressed length");
    }
    let streamed = decompress_bounded(payload, claimed as usize)
        .ok()
        .filter(|v| v.len() == claimed as usize);
    if streamed.is_some() {
        assert!(
            exact == streamed,
            "one-pass ({:?} bytes) and streaming ({:?} bytes) decoding differ",
            exact.as_ref().map(Vec::len),
            streamed.as_ref().map(Vec::len),
        );
    }
    // Our own compression must round-trip at exactly the plaintext length.
    let compressed = compress_blob(payload, 1);
    let len = u32::try_from(payload.len()).unwrap();
    assert_eq!(decompress_blob(&compressed, len).expect("own frame"), payload);
    if len > 0 {
        assert!(decompress_blob(&compressed, len - 1).is_err());
    }
    assert!(decompress_blob(&compressed, len + 1).is_err());
});
