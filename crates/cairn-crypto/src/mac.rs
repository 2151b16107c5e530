//! Poly1305-AES as restic uses it.
//!
//! The one-time Poly1305 key is `clamp(r) || AES-128_k(nonce)` and the tag
//! covers the ciphertext bytes only: no IV, no associated data, no length
//! block and no padding to a block boundary (unlike the AEAD constructions
//! of RFC 8439, which pad). That is plain Poly1305 over the message, which
//! the `poly1305` crate exposes as [`Poly1305::compute_unpadded`].

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use poly1305::Poly1305;
use zeroize::Zeroizing;

/// Length of a Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;

/// Clamp a Poly1305 `r` value (little endian) as the algorithm requires:
/// the top four bits of bytes 3, 7, 11, 15 and the low two bits of bytes
/// 4, 8, 12 are cleared.
///
/// restic before 0.17 stored `r` already clamped, later versions store it
/// raw; clamping is idempotent, so it is always applied on use.
pub(crate) fn clamp_r(r: &[u8; 16]) -> [u8; 16] {
    let mut c = *r;
    for i in [3, 7, 11, 15] {
        c[i] &= 0x0f;
    }
    for i in [4, 8, 12] {
        c[i] &= 0xfc;
    }
    c
}

/// Compute restic's MAC over `message` (the ciphertext) for `nonce`.
pub(crate) fn poly1305_aes(
    k: &[u8; 16],
    r: &[u8; 16],
    nonce: &[u8; 16],
    message: &[u8],
) -> [u8; TAG_LEN] {
    let mut one_time = Zeroizing::new([0u8; 32]);
    one_time[..16].copy_from_slice(&clamp_r(r));

    // s = AES-128_k(nonce), written straight into the key's upper half.
    let aes = Aes128::new(&(*k).into());
    let mut block = aes::Block::from(*nonce);
    aes.encrypt_block(&mut block);
    one_time[16..].copy_from_slice(&block);
    zeroize::Zeroize::zeroize(block.as_mut_slice());

    let key = Zeroizing::new(poly1305::Key::from(*one_time));
    Poly1305::new(&key).compute_unpadded(message).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn clamp_matches_the_documented_mask() {
        // r &= 0x0ffffffc0ffffffc0ffffffc0fffffff, little endian.
        let clamped = clamp_r(&[0xff; 16]);
        let mask = 0x0fff_fffc_0fff_fffc_0fff_fffc_0fff_ffffu128.to_le_bytes();
        assert_eq!(clamped, mask);
        // Idempotent: clamping a clamped value changes nothing.
        assert_eq!(clamp_r(&clamped), clamped);
    }

    /// RFC 8439 §2.5.2: plain Poly1305 over a 34-byte message (two full
    /// blocks and a partial one). Confirms `compute_unpadded` is the raw
    /// algorithm, which is what restic's MAC needs.
    #[test]
    fn raw_poly1305_matches_rfc8439() {
        let key = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
        let msg = b"Cryptographic Forum Research Group";
        let key = poly1305::Key::try_from(&key[..]).unwrap();
        let tag = Poly1305::new(&key).compute_unpadded(msg);
        assert_eq!(tag.as_slice(), hex("a8061dc1305136c6c22b8baf0c0127a9"));
    }

    #[test]
    fn tag_depends_on_every_input() {
        let k = [1u8; 16];
        let r = [2u8; 16];
        let n = [3u8; 16];
        let base = poly1305_aes(&k, &r, &n, b"message");
        assert_ne!(base, poly1305_aes(&[9u8; 16], &r, &n, b"message"));
        assert_ne!(base, poly1305_aes(&k, &[9u8; 16], &n, b"message"));
        assert_ne!(base, poly1305_aes(&k, &r, &[9u8; 16], b"message"));
        assert_ne!(base, poly1305_aes(&k, &r, &n, b"messagf"));
    }
}
