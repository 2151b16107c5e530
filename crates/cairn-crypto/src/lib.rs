//! restic-compatible repository cryptography.
//!
//! Every encrypted file and blob in a restic repository is sealed with the
//! repository [`MasterKey`]: AES-256 in CTR mode (the 16-byte IV is a
//! 128-bit big-endian counter) followed by a Poly1305-AES tag over the
//! ciphertext alone. The stored form is `IV || ciphertext || tag`, always
//! [`OVERHEAD`] (32) bytes longer than the plaintext.
//!
//! The master key itself lives in key files, encrypted with a user key that
//! [`derive_key`] computes from the password with scrypt ([`ScryptParams`]).
//!
//! ```
//! use cairn_crypto::{MasterKey, OVERHEAD};
//!
//! let key = MasterKey::generate();
//! let sealed = key.seal(b"tree or data blob");
//! assert_eq!(sealed.len(), b"tree or data blob".len() + OVERHEAD);
//! assert_eq!(key.open(&sealed)?, b"tree or data blob");
//!
//! // Any change to the sealed bytes is detected.
//! let mut damaged = sealed.clone();
//! damaged[20] ^= 1;
//! assert!(key.open(&damaged).is_err());
//! # Ok::<(), cairn_crypto::CryptoError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod kdf;
mod key;
mod mac;

use rand::TryRngCore;
use sha2::Digest;

pub use error::CryptoError;
pub use kdf::{derive_key, ScryptParams, CALIBRATION_BUDGET};
pub use key::MasterKey;

/// Bytes a sealed message adds to its plaintext: IV (16) + MAC (16).
pub const OVERHEAD: usize = 32;

/// Length of the nonce (the CTR IV) at the start of a sealed message.
pub const NONCE_LEN: usize = 16;

/// `N` bytes from the operating system's random number generator (the
/// same source Go's `crypto/rand` uses).
///
/// # Panics
/// If the operating system cannot provide random bytes; continuing without
/// randomness would produce predictable keys and nonces.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("operating system random number generator failed");
    bytes
}

/// SHA-256 of `data`, as used for every file and blob ID. Uses the CPU's
/// SHA extensions when available.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            sha256(b""),
            [
                0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
                0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
                0x78, 0x52, 0xb8, 0x55
            ]
        );
        assert_eq!(
            sha256(b"abc")[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "FIPS 180-2 'abc' vector"
        );
    }

    #[test]
    fn random_bytes_differ() {
        let a: [u8; 32] = random_bytes();
        let b: [u8; 32] = random_bytes();
        assert_ne!(a, b);
        let empty: [u8; 0] = random_bytes();
        assert!(empty.is_empty());
    }
}
