//! The error type shared by every operation in this crate.
//!
//! No variant carries key material, passwords or plaintext: messages only
//! describe *what* went wrong (a length, a bound, a failed check).

/// Everything that can go wrong while sealing, opening or deriving keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A sealed message is shorter than the 32 bytes of IV and MAC.
    #[error("ciphertext too short: {len} bytes, need at least 32 (IV + MAC)")]
    TooShort {
        /// Length of the rejected input.
        len: usize,
    },

    /// The 16-byte nonce is all zero, which restic treats as invalid.
    #[error("invalid nonce: all 16 bytes are zero")]
    ZeroNonce,

    /// The Poly1305 tag does not match: wrong key or damaged data.
    #[error("ciphertext verification failed (wrong key or corrupted data)")]
    BadMac,

    /// One part of a master key (AES key, MAC `k` or MAC `r`) is all zero.
    #[error("invalid key: {part} is all zero")]
    ZeroKey {
        /// Which part was zero: `"encrypt"`, `"mac k"` or `"mac r"`.
        part: &'static str,
    },

    /// scrypt parameters are malformed or exceed the safety bounds.
    #[error("invalid scrypt parameters: {0}")]
    InvalidParams(String),

    /// The key-file salt does not have the required 64 bytes.
    #[error("invalid salt: {len} bytes, restic key files use exactly 64")]
    InvalidSalt {
        /// Length of the rejected salt.
        len: usize,
    },

    /// The scrypt implementation itself reported a failure.
    #[error("key derivation failed: {0}")]
    Kdf(String),
}
