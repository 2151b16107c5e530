//! The crate's error type.

/// Everything that can go wrong when setting up a chunker.
///
/// I/O errors while chunking a stream are reported as [`std::io::Error`]
/// directly and do not appear here.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The text is not a polynomial as restic writes it in the config
    /// (1 or more hex digits, no prefix or sign, at most 64 bits).
    #[error("invalid chunker polynomial {0:?}: expected hex digits without prefix")]
    ParsePolynomial(String),
    /// The Rabin tables need a polynomial of degree 8 to 53.
    #[error("polynomial {polynomial:x} has degree {degree:?}, the Rabin chunker needs 8 to 53")]
    UnsupportedDegree {
        /// The rejected polynomial.
        polynomial: u64,
        /// Its degree (`None` for the zero polynomial).
        degree: Option<u32>,
    },
    /// No irreducible polynomial was found in the allowed number of tries.
    #[error("no irreducible polynomial found after {0} tries")]
    NoIrreduciblePolynomial(u32),
    /// Reading randomness for a polynomial failed.
    #[error("reading random bytes for a polynomial: {0}")]
    Random(String),
    /// Chunk size parameters are out of range or inconsistent.
    #[error("invalid chunk sizes: {0}")]
    InvalidSizes(String),
}
