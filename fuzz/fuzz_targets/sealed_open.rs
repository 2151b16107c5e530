//! Encryption: `MasterKey::open` on arbitrary bytes, and seal/open round
//! trips of arbitrary plaintexts.
//!
//! Every byte read from a repository goes through `open` before anything
//! else, so it must reject garbage (short input, zero nonce, bad tag)
//! without panicking, and `open_in_place` must agree with `open`.
#![no_main]

use cairn_crypto::{MasterKey, OVERHEAD};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn key() -> &'static MasterKey {
    static KEY: OnceLock<MasterKey> = OnceLock::new();
    // A fixed key keeps runs reproducible; its parts only need to be
    // non-zero.
    KEY.get_or_init(|| MasterKey::from_parts([0x5a; 32], [0x17; 16], [0xc3; 16]).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let key = key();

    // Arbitrary bytes as a sealed message: must fail cleanly (forging a
    // Poly1305 tag by chance is not going to happen), and both entry
    // points must agree.
    let opened = key.open(data);
    let mut buf = data.to_vec();
    let in_place = key.open_in_place(&mut buf);
    assert_eq!(opened.is_ok(), in_place.is_ok());
    match opened {
        Ok(plain) => assert_eq!(plain, buf),
        Err(_) => assert_eq!(buf, data, "open_in_place changed its input on error"),
    }

    // Arbitrary bytes as a plaintext: seal, check the size, open both ways.
    let sealed = key.seal(data);
    assert_eq!(sealed.len(), data.len() + OVERHEAD);
    assert_eq!(key.open(&sealed).expect("open of own seal"), data);
    let mut buf = sealed.clone();
    key.open_in_place(&mut buf).expect("open_in_place of own seal");
    assert_eq!(buf, data);

    // Any single flipped bit must be detected. Picking the position from
    // the data keeps this deterministic.
    if !sealed.is_empty() {
        let pos = data.iter().fold(0usize, |a, &b| a.wrapping_mul(31).wrapping_add(b.into()));
        let mut damaged = sealed;
        let i = pos % damaged.len();
        damaged[i] ^= 1 << (pos % 8);
        assert!(key.open(&damaged).is_err(), "flipped bit {i} not detected");
    }
});
