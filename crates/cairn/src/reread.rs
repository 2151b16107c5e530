//! Re-reading what failed verification before calling it damaged.
//!
//! A body cut short or changed in transit looks exactly like damage at
//! rest: the SHA-256 of a file does not match its name, or a blob fails
//! its MAC or hash. Before such a result is reported, the file (or range)
//! is read again, up to [`EXTRA_READS`] more times; the first read that
//! verifies is used. Damage is reported only when every read shows it,
//! and the message then says how often it was read.

/// How many more times a file or range that failed verification is read
/// before it is reported damaged (so at most `1 + EXTRA_READS` reads).
pub const EXTRA_READS: u32 = 2;

/// The note added to a damage report after `reads` reads.
pub(crate) fn note(reads: u32) -> String {
    if reads > 1 {
        format!(" (re-read: damaged in all {reads} reads)")
    } else {
        String::new()
    }
}

/// True for a backend error that a damaged transfer can cause and a new
/// read may not: the body ended before the requested range did.
pub(crate) fn is_short_read(e: &crate::Error) -> bool {
    matches!(
        e,
        crate::Error::Backend(cairn_backend::BackendError::ShortRead { .. })
    )
}

#[cfg(test)]
#[path = "reread_tests.rs"]
mod tests;
