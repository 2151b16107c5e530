//! The single error type of this crate.

/// Everything that can go wrong while parsing or building a repository file.
///
/// Parsers in this crate never panic on hostile input; they return one of
/// these variants instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A hexadecimal ID had the wrong length or a non-hex character.
    #[error("invalid ID {0:?}: want 64 hex characters")]
    InvalidId(String),
    /// A timestamp that is not valid RFC 3339.
    #[error("invalid timestamp {0:?}")]
    InvalidTime(String),
    /// JSON that does not parse, or parses to the wrong shape.
    #[error("invalid {what} JSON: {msg}")]
    InvalidJson {
        /// Which kind of file or value was being parsed.
        what: &'static str,
        /// The parser's message.
        msg: String,
    },
    /// A node name that Go's `strconv.Unquote` would reject.
    #[error("invalid quoted string: {0}")]
    InvalidQuote(String),
    /// A repository version outside 1..=2.
    #[error("unsupported repository version {0}")]
    UnsupportedVersion(u32),
    /// A key file with a KDF other than scrypt.
    #[error("unsupported key derivation function {0:?}")]
    UnsupportedKdf(String),
    /// A key file whose salt is not exactly 64 bytes.
    #[error("invalid salt length {0}, want 64")]
    InvalidSalt(usize),
    /// The password does not open this key file (MAC check failed).
    #[error("wrong password or no key found")]
    WrongPassword,
    /// An error from the crypto layer other than a failed key-file MAC.
    #[error("crypto: {0}")]
    Crypto(#[from] cairn_crypto::CryptoError),
    /// The decrypted master key JSON is malformed.
    #[error("invalid master key: {0}")]
    InvalidMasterKey(String),
    /// A malformed pack header.
    #[error("invalid pack header: {0}")]
    InvalidHeader(String),
    /// A pack header that does not describe the pack file exactly.
    #[error("invalid pack layout: {0}")]
    InvalidPackLayout(String),
    /// An unknown blob type (byte in a pack header, or string in an index).
    #[error("invalid blob type {0}")]
    InvalidBlobType(String),
    /// zstd failed to decompress.
    #[error("decompression failed: {0}")]
    Decompress(String),
    /// A file, or decompressed data, would exceed its size limit.
    #[error("larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was hit.
        limit: usize,
    },
    /// A tree lists more nodes than [`crate::limits::MAX_TREE_NODES`].
    #[error("tree has more than {limit} nodes")]
    TooManyNodes {
        /// The limit that was hit.
        limit: usize,
    },
    /// A blob's stored or uncompressed length, as claimed by an index or
    /// pack header, is beyond what any reader should allocate.
    #[error("blob {what} {claimed} exceeds the limit of {limit} bytes")]
    ClaimTooLarge {
        /// Which length.
        what: &'static str,
        /// What was claimed.
        claimed: u64,
        /// The limit (see [`crate::limits`]).
        limit: u64,
    },
    /// Decompressed data had a different length than recorded.
    #[error("length mismatch: expected {expected}, got {actual}")]
    LengthMismatch {
        /// The recorded length.
        expected: usize,
        /// The actual length.
        actual: usize,
    },
    /// An unpacked file (index, snapshot, lock) whose first byte is not a
    /// known format marker.
    #[error("unsupported unpacked file format: first byte {0:#04x}")]
    UnpackedFormat(u8),
    /// A structurally invalid tree or node.
    #[error("invalid tree: {0}")]
    InvalidTree(String),
}

impl FormatError {
    pub(crate) fn json(what: &'static str, e: impl std::fmt::Display) -> FormatError {
        FormatError::InvalidJson {
            what,
            msg: e.to_string(),
        }
    }
}
