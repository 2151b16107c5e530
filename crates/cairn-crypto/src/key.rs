//! The repository master key and restic's authenticated encryption.
//!
//! Sealed layout: `IV (16) || AES-256-CTR ciphertext || Poly1305-AES tag (16)`.
//! The CTR counter is the whole 16-byte IV, incremented as one 128-bit
//! big-endian integer (Go's `cipher.NewCTR`). The tag covers the ciphertext
//! only; see [`crate::mac`].

use core::fmt;

use aes::cipher::{KeyIvInit, StreamCipher};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::mac::{poly1305_aes, TAG_LEN};
use crate::{random_bytes, CryptoError, NONCE_LEN, OVERHEAD};

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// The repository master key: an AES-256 key plus the Poly1305-AES MAC key
/// (`k` for AES-128, `r` for Poly1305).
///
/// All parts are non-zero. `r` is stored as given (restic ≥ 0.17 keeps it
/// unclamped) and clamped whenever a tag is computed. The key material is
/// wiped when the value is dropped, and `Debug` never prints it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    encrypt: [u8; 32],
    mac_k: [u8; 16],
    mac_r: [u8; 16],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey { <redacted> }")
    }
}

fn is_zero(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |acc, b| acc | b) == 0
}

fn nonce_of(sealed: &[u8]) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[..NONCE_LEN]);
    nonce
}

impl MasterKey {
    /// A fresh random key, as `restic init` creates. Every part is non-zero.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn generate() -> MasterKey {
        loop {
            let key = MasterKey {
                encrypt: random_bytes(),
                mac_k: random_bytes(),
                mac_r: random_bytes(),
            };
            if key.check().is_ok() {
                return key;
            }
        }
    }

    /// Assemble a key from its three parts (e.g. decoded from the master-key
    /// JSON). `mac_r` may be clamped or not.
    ///
    /// # Errors
    /// [`CryptoError::ZeroKey`] if any part is all zero.
    pub fn from_parts(
        encrypt: [u8; 32],
        mac_k: [u8; 16],
        mac_r: [u8; 16],
    ) -> Result<MasterKey, CryptoError> {
        let key = MasterKey {
            encrypt,
            mac_k,
            mac_r,
        };
        key.check()?;
        Ok(key)
    }

    fn check(&self) -> Result<(), CryptoError> {
        if is_zero(&self.encrypt) {
            return Err(CryptoError::ZeroKey { part: "encrypt" });
        }
        if is_zero(&self.mac_k) {
            return Err(CryptoError::ZeroKey { part: "mac k" });
        }
        if is_zero(&self.mac_r) {
            return Err(CryptoError::ZeroKey { part: "mac r" });
        }
        Ok(())
    }

    /// The AES-256 encryption key.
    pub fn encrypt_key(&self) -> &[u8; 32] {
        &self.encrypt
    }

    /// The MAC's AES-128 key `k`.
    pub fn mac_k(&self) -> &[u8; 16] {
        &self.mac_k
    }

    /// The MAC's Poly1305 `r`, exactly as stored (not clamped).
    pub fn mac_r(&self) -> &[u8; 16] {
        &self.mac_r
    }

    fn apply_keystream(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) {
        let mut cipher = Aes256Ctr::new(&self.encrypt.into(), &(*nonce).into());
        cipher.apply_keystream(buf);
    }

    fn tag(&self, nonce: &[u8; NONCE_LEN], ciphertext: &[u8]) -> [u8; TAG_LEN] {
        poly1305_aes(&self.mac_k, &self.mac_r, nonce, ciphertext)
    }

    /// Encrypt and authenticate `plaintext` under a fresh random nonce.
    /// Returns `IV || ciphertext || tag`, exactly [`OVERHEAD`] bytes longer
    /// than the input.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        self.seal_into(plaintext, &mut out);
        out
    }

    /// Like [`seal`](Self::seal), but appends `IV || ciphertext || tag` to
    /// `out`, so a buffer can be reused from one message to the next.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn seal_into(&self, plaintext: &[u8], out: &mut Vec<u8>) {
        let nonce = loop {
            let nonce: [u8; NONCE_LEN] = random_bytes();
            // An all-zero nonce (probability 2^-128) is not allowed.
            if !is_zero(&nonce) {
                break nonce;
            }
        };
        self.seal_with_nonce_into(&nonce, plaintext, out);
    }

    fn seal_with_nonce_into(&self, nonce: &[u8; NONCE_LEN], plaintext: &[u8], out: &mut Vec<u8>) {
        out.reserve(plaintext.len() + OVERHEAD);
        out.extend_from_slice(nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        self.apply_keystream(nonce, &mut out[start..]);
        let tag = self.tag(nonce, &out[start..]);
        out.extend_from_slice(&tag);
    }

    /// Like [`seal`](Self::seal) with a caller-chosen nonce. Reusing a nonce
    /// with the same key destroys confidentiality and authenticity; this is
    /// meant for test vectors and deterministic fixtures.
    ///
    /// # Errors
    /// [`CryptoError::ZeroNonce`] for an all-zero nonce.
    pub fn seal_with_nonce(
        &self,
        nonce: &[u8; NONCE_LEN],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if is_zero(nonce) {
            return Err(CryptoError::ZeroNonce);
        }
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        self.seal_with_nonce_into(nonce, plaintext, &mut out);
        Ok(out)
    }

    /// Check the length, the nonce and (in constant time) the tag of a
    /// sealed message. Returns the nonce on success.
    fn verify(&self, sealed: &[u8]) -> Result<[u8; NONCE_LEN], CryptoError> {
        if sealed.len() < OVERHEAD {
            return Err(CryptoError::TooShort { len: sealed.len() });
        }
        let nonce = nonce_of(sealed);
        if is_zero(&nonce) {
            return Err(CryptoError::ZeroNonce);
        }
        let tag_at = sealed.len() - TAG_LEN;
        let expected = self.tag(&nonce, &sealed[NONCE_LEN..tag_at]);
        if bool::from(expected.ct_eq(&sealed[tag_at..])) {
            Ok(nonce)
        } else {
            Err(CryptoError::BadMac)
        }
    }

    /// Verify and decrypt `IV || ciphertext || tag`.
    ///
    /// # Errors
    /// [`CryptoError::TooShort`] below 32 bytes, [`CryptoError::ZeroNonce`]
    /// for an all-zero IV, [`CryptoError::BadMac`] if the tag does not match
    /// (wrong key or corrupted data). Nothing is decrypted unless the tag
    /// verifies.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = self.verify(sealed)?;
        let mut plaintext = sealed[NONCE_LEN..sealed.len() - TAG_LEN].to_vec();
        self.apply_keystream(&nonce, &mut plaintext);
        Ok(plaintext)
    }

    /// Like [`open`](Self::open), but decrypts into `out`, so one buffer
    /// serves message after message without a fresh allocation. `out`
    /// only grows (never zeroed more than once); the plaintext returned is
    /// its first `sealed.len() - 32` bytes. The tag is checked on `sealed`
    /// before anything is decrypted, and the keystream is applied while
    /// copying, so the ciphertext is not copied and then rewritten.
    ///
    /// # Errors
    /// The same as [`open`](Self::open); nothing is written to `out`.
    pub fn open_into<'o>(
        &self,
        sealed: &[u8],
        out: &'o mut Vec<u8>,
    ) -> Result<&'o [u8], CryptoError> {
        let nonce = self.verify(sealed)?;
        let ciphertext = &sealed[NONCE_LEN..sealed.len() - TAG_LEN];
        if out.len() < ciphertext.len() {
            out.resize(ciphertext.len(), 0);
        }
        let plain = &mut out[..ciphertext.len()];
        let mut cipher = Aes256Ctr::new(&self.encrypt.into(), &nonce.into());
        cipher.apply_keystream_b2b(ciphertext, plain);
        Ok(plain)
    }

    /// Like [`open`](Self::open), but decrypts inside `sealed`'s own buffer.
    /// On success the vector holds only the plaintext; on error it is left
    /// unchanged.
    ///
    /// # Errors
    /// The same as [`open`](Self::open).
    pub fn open_in_place(&self, sealed: &mut Vec<u8>) -> Result<(), CryptoError> {
        let nonce = self.verify(sealed)?;
        let tag_at = sealed.len() - TAG_LEN;
        self.apply_keystream(&nonce, &mut sealed[NONCE_LEN..tag_at]);
        sealed.copy_within(NONCE_LEN..tag_at, 0);
        sealed.truncate(tag_at - NONCE_LEN);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_parts([1; 32], [2; 16], [3; 16]).unwrap()
    }

    #[test]
    fn from_parts_rejects_each_zero_part() {
        let e = MasterKey::from_parts([0; 32], [2; 16], [3; 16]).unwrap_err();
        assert!(matches!(e, CryptoError::ZeroKey { part: "encrypt" }));
        let e = MasterKey::from_parts([1; 32], [0; 16], [3; 16]).unwrap_err();
        assert!(matches!(e, CryptoError::ZeroKey { part: "mac k" }));
        let e = MasterKey::from_parts([1; 32], [2; 16], [0; 16]).unwrap_err();
        assert!(matches!(e, CryptoError::ZeroKey { part: "mac r" }));
    }

    #[test]
    fn generate_gives_distinct_nonzero_keys() {
        let a = MasterKey::generate();
        let b = MasterKey::generate();
        assert!(a.check().is_ok());
        assert_ne!(a.encrypt_key(), b.encrypt_key());
        assert_ne!(a.mac_k(), b.mac_k());
        assert_ne!(a.mac_r(), b.mac_r());
    }

    #[test]
    fn debug_hides_the_key() {
        let k = MasterKey::from_parts([0xab; 32], [0xcd; 16], [0xef; 16]).unwrap();
        assert_eq!(format!("{k:?}"), "MasterKey { <redacted> }");
    }

    #[test]
    fn clone_is_equal_and_works() {
        let k = key();
        let c = k.clone();
        assert_eq!(c.encrypt_key(), k.encrypt_key());
        assert_eq!(c.open(&k.seal(b"x")).unwrap(), b"x");
    }

    #[test]
    fn seal_layout_and_fresh_nonces() {
        let k = key();
        let a = k.seal(b"hello");
        let b = k.seal(b"hello");
        assert_eq!(a.len(), 5 + OVERHEAD);
        assert_ne!(a[..16], b[..16], "nonce must be fresh per seal");
        assert_ne!(&a[16..21], b"hello", "payload must be encrypted");
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let k = key();
        let s = k.seal(b"");
        assert_eq!(s.len(), OVERHEAD);
        assert_eq!(k.open(&s).unwrap(), b"");
    }

    /// The counter must carry across all 128 bits: with an IV of
    /// 00..00 ff..ff (low 64 bits all ones) the second block's counter is
    /// 00..01 00..00. A 64-bit counter would wrap to 00..00 00..00 instead.
    #[test]
    fn counter_is_128_bit_big_endian() {
        use aes::cipher::{BlockCipherEncrypt, KeyInit};
        let k = key();
        let mut iv = [0u8; 16];
        iv[8..].fill(0xff);
        let sealed = k.seal_with_nonce(&iv, &[0u8; 32]).unwrap();
        let keystream = &sealed[16..48];

        let aes = aes::Aes256::new(&(*k.encrypt_key()).into());
        let mut b0 = aes::Block::from(iv);
        aes.encrypt_block(&mut b0);
        let mut next = [0u8; 16];
        next[7] = 1;
        let mut b1 = aes::Block::from(next);
        aes.encrypt_block(&mut b1);
        assert_eq!(&keystream[..16], b0.as_slice());
        assert_eq!(&keystream[16..], b1.as_slice());
    }

    #[test]
    fn open_in_place_leaves_plaintext_only() {
        let k = key();
        let mut buf = k.seal(b"some plaintext bytes");
        k.open_in_place(&mut buf).unwrap();
        assert_eq!(buf, b"some plaintext bytes");
    }

    #[test]
    fn open_into_reuses_the_buffer_and_checks_the_tag() {
        let k = key();
        let mut out = b"much longer leftover contents".to_vec();
        assert_eq!(k.open_into(&k.seal(b"short"), &mut out).unwrap(), b"short");
        let long = b"a message longer than the leftover contents";
        assert_eq!(k.open_into(&k.seal(long), &mut out).unwrap(), long);
        let before = out.clone();
        let mut bad = k.seal(b"abc");
        bad[20] ^= 1;
        assert!(matches!(
            k.open_into(&bad, &mut out),
            Err(CryptoError::BadMac)
        ));
        assert!(matches!(
            k.open_into(&[1u8; 31], &mut out),
            Err(CryptoError::TooShort { len: 31 })
        ));
        assert_eq!(out, before, "nothing is written on error");
    }

    #[test]
    fn open_in_place_failure_keeps_buffer() {
        let k = key();
        let mut buf = k.seal(b"abc");
        let last = buf.len() - 1;
        buf[last] ^= 1;
        let before = buf.clone();
        assert!(matches!(
            k.open_in_place(&mut buf),
            Err(CryptoError::BadMac)
        ));
        assert_eq!(buf, before);
    }

    #[test]
    fn wrong_key_is_bad_mac_with_documented_message() {
        let sealed = key().seal(b"secret");
        let other = MasterKey::from_parts([1; 32], [2; 16], [4; 16]).unwrap();
        let err = other.open(&sealed).unwrap_err();
        assert!(matches!(err, CryptoError::BadMac));
        assert_eq!(
            err.to_string(),
            "ciphertext verification failed (wrong key or corrupted data)"
        );
    }

    #[test]
    fn short_and_zero_nonce_inputs_are_rejected() {
        let k = key();
        assert!(matches!(
            k.open(&[1u8; 31]),
            Err(CryptoError::TooShort { len: 31 })
        ));
        let mut s = k.seal(b"data");
        s[..16].fill(0);
        assert!(matches!(k.open(&s), Err(CryptoError::ZeroNonce)));
        assert!(matches!(
            k.seal_with_nonce(&[0; 16], b"data"),
            Err(CryptoError::ZeroNonce)
        ));
    }
}
