//! Pack headers: `parse_header` on arbitrary decrypted header bytes.
//!
//! The header is the only description of a pack's content that `check`
//! and `repair` get from the pack itself, so parsing must be exact: what
//! parses must serialize back to the very same bytes, offsets must be the
//! running sum of the lengths, and a layout computed from the entries must
//! be accepted by `check_pack_layout`.
#![no_main]

use cairn_format::pack::{
    check_pack_layout, entry_size, parse_header, serialize_header, CRYPTO_OVERHEAD,
    HEADER_LENGTH_SIZE,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(blobs) = parse_header(data) else {
        return;
    };
    // The entries are fixed-size records, so the encoding is canonical.
    let bytes = serialize_header(&blobs);
    assert_eq!(bytes, data, "serialize_header(parse_header(x)) != x");
    assert_eq!(parse_header(&bytes).expect("re-parse"), blobs);
    assert_eq!(blobs.iter().map(entry_size).sum::<usize>(), data.len());

    let mut offset = 0u64;
    for b in &blobs {
        assert_eq!(b.offset, offset, "offsets must be the running sum");
        offset += u64::from(b.length);
    }

    // A pack built from exactly these entries has a consistent layout
    // whenever every blob is long enough to hold the crypto overhead.
    let Ok(enc_header) = u32::try_from(data.len() + CRYPTO_OVERHEAD) else {
        return;
    };
    let file_size = offset + u64::from(enc_header) + HEADER_LENGTH_SIZE as u64;
    let layout = check_pack_layout(&blobs, enc_header, file_size);
    let long_enough = blobs.iter().all(|b| b.length as usize >= CRYPTO_OVERHEAD);
    assert_eq!(layout.is_ok(), long_enough, "{layout:?}");
    // Any other file size must be rejected.
    assert!(check_pack_layout(&blobs, enc_header, file_size + 1).is_err());
});
