//! Framing of "unpacked" files (index, snapshot, lock) and zstd helpers
//! for blobs.
//!
//! In a v2 repository the decrypted content starts with `0x02` followed by
//! zstd-compressed JSON, or is plain JSON starting with `{` or `[`. A v1
//! repository never compresses.

use std::cell::RefCell;
use std::io::Read;
use std::sync::OnceLock;

use crate::FormatError;

/// First byte of a compressed unpacked file in a v2 repository.
pub const COMPRESSED_MARKER: u8 = 0x02;
/// Decompressed size limit applied by [`decode_unpacked`]: the largest
/// of the per-kind limits (see [`crate::limits`]), which
/// [`decode_unpacked_limited`] applies.
pub const MAX_UNPACKED_SIZE: usize = crate::limits::MAX_INDEX_JSON;
/// zstd level used for unpacked files (restic's default, "auto").
pub const DEFAULT_LEVEL: i32 = 3;

/// Undo the v2 framing of an unpacked file (v1: returned unchanged),
/// refusing more than [`MAX_UNPACKED_SIZE`] bytes.
pub fn decode_unpacked(repo_version: u32, plaintext: Vec<u8>) -> Result<Vec<u8>, FormatError> {
    decode_unpacked_limited(repo_version, plaintext, MAX_UNPACKED_SIZE)
}

/// [`decode_unpacked`] with a size limit for the JSON (compressed or
/// not): decompression stops, with [`FormatError::TooLarge`], as soon as
/// the output passes `limit`.
pub fn decode_unpacked_limited(
    repo_version: u32,
    plaintext: Vec<u8>,
    limit: usize,
) -> Result<Vec<u8>, FormatError> {
    let plain = |p: Vec<u8>| {
        crate::limits::check_json_size(&p, limit)?;
        Ok(p)
    };
    match repo_version {
        1 => plain(plaintext),
        2 => match plaintext.first() {
            None | Some(b'{') | Some(b'[') => plain(plaintext),
            Some(&COMPRESSED_MARKER) => decompress_bounded(&plaintext[1..], limit),
            Some(&b) => Err(FormatError::UnpackedFormat(b)),
        },
        v => Err(FormatError::UnsupportedVersion(v)),
    }
}

/// Frame JSON for storage: v1 unchanged, v2 (and later) `0x02` + zstd.
pub fn encode_unpacked(repo_version: u32, json: &[u8]) -> Vec<u8> {
    if repo_version <= 1 {
        return json.to_vec();
    }
    let mut out = Vec::with_capacity(json.len() / 3 + 16);
    out.push(COMPRESSED_MARKER);
    out.extend_from_slice(&compress_blob(json, DEFAULT_LEVEL));
    out
}

/// zstd-compress `plain` at `level` (clamped to zstd's range) into a
/// single frame without checksum.
pub fn compress_blob(plain: &[u8], level: i32) -> Vec<u8> {
    let range = zstd::compression_level_range();
    let level = level.clamp(*range.start(), *range.end());
    zstd::bulk::compress(plain, level).expect("zstd compression into memory cannot fail")
}

/// Decompress a blob whose plaintext must be exactly `uncompressed_length`
/// bytes. Never holds more than that much output.
///
/// Blobs up to 32 MiB (every chunk restic writes, and all but
/// the largest trees) are decoded in one pass straight into their final
/// buffer with a zstd context kept per thread; larger claims, which come
/// from an index and so cannot be trusted to size an allocation, go
/// through the streaming decoder that grows its output as data arrives.
pub fn decompress_blob(data: &[u8], uncompressed_length: u32) -> Result<Vec<u8>, FormatError> {
    let want = uncompressed_length as usize;
    if want <= ONE_PASS_LIMIT {
        return decompress_one_pass(data, want);
    }
    let out = decompress_inner(data, want)?;
    match out {
        Ok(v) if v.len() == want => Ok(v),
        Ok(v) => Err(FormatError::LengthMismatch {
            expected: want,
            actual: v.len(),
        }),
        Err(()) => Err(FormatError::LengthMismatch {
            expected: want,
            actual: want + 1,
        }),
    }
}

/// Like [`decompress_blob`], but decodes into `out` so that one buffer
/// serves blob after blob: no allocation, and no fresh pages to fault in,
/// per blob. `out` only grows, and is never zeroed more than once; the
/// plaintext returned is its first `uncompressed_length` bytes, and the
/// rest of `out` is unspecified (as is all of it after an error). The
/// errors are those of [`decompress_blob`].
pub fn decompress_blob_into<'o>(
    data: &[u8],
    uncompressed_length: u32,
    out: &'o mut Vec<u8>,
) -> Result<&'o [u8], FormatError> {
    let want = uncompressed_length as usize;
    if want > ONE_PASS_LIMIT || data.is_empty() {
        *out = decompress_blob(data, uncompressed_length)?;
        return Ok(out);
    }
    if out.len() < want {
        out.resize(want, 0);
    }
    // A slice of exactly `want` bytes bounds the output as the exact
    // capacity does in `decompress_one_pass`.
    let room = &mut out[..want];
    let result = DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let dctx = slot.get_or_insert_with(zstd::zstd_safe::DCtx::create);
        dctx.decompress(&mut *room, data)
    });
    one_pass_outcome(result, want)?;
    Ok(&out[..want])
}

/// Largest blob [`decompress_blob`] decodes in one pass (32 MiB).
const ONE_PASS_LIMIT: usize = 32 << 20;

thread_local! {
    /// Creating a zstd context per blob costs an allocation and its
    /// zeroing; one per thread is reused for every blob.
    static DECOMPRESSOR: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

fn decompress_one_pass(data: &[u8], want: usize) -> Result<Vec<u8>, FormatError> {
    // zstd reads nothing as no frames and no output; a compressed blob
    // always holds a frame.
    if data.is_empty() {
        return Err(FormatError::Decompress("no zstd frame".to_string()));
    }
    let mut out: Vec<u8> = Vec::with_capacity(want);
    let result = DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let dctx = slot.get_or_insert_with(zstd::zstd_safe::DCtx::create);
        dctx.decompress(&mut out, data)
    });
    one_pass_outcome(result, want).map(|()| out)
}

/// The outcome of a one-pass decode into room for exactly `want` bytes.
fn one_pass_outcome(result: zstd::zstd_safe::SafeResult, want: usize) -> Result<(), FormatError> {
    match result {
        Ok(n) if n == want => Ok(()),
        Ok(n) => Err(FormatError::LengthMismatch {
            expected: want,
            actual: n,
        }),
        Err(code) if code == dst_too_small() => Err(FormatError::LengthMismatch {
            expected: want,
            actual: want + 1,
        }),
        Err(code) => Err(FormatError::Decompress(
            zstd::zstd_safe::get_error_name(code).to_string(),
        )),
    }
}

/// zstd's code for "destination buffer is too small", learnt once from
/// zstd itself (the numeric codes are not part of its stable API).
fn dst_too_small() -> usize {
    static CODE: OnceLock<usize> = OnceLock::new();
    *CODE.get_or_init(|| {
        let mut tiny: Vec<u8> = Vec::with_capacity(1);
        let two = zstd::bulk::compress(b"ab", 1).unwrap_or_default();
        zstd::zstd_safe::DCtx::create()
            .decompress(&mut tiny, &two)
            .err()
            .unwrap_or(usize::MAX)
    })
}

/// Decompress at most `max_len` bytes; more output is an error
/// ([`FormatError::TooLarge`]).
pub fn decompress_bounded(data: &[u8], max_len: usize) -> Result<Vec<u8>, FormatError> {
    decompress_inner(data, max_len)?.map_err(|()| FormatError::TooLarge { limit: max_len })
}

/// Outer error: zstd failure. Inner `Err(())`: output longer than `limit`.
fn decompress_inner(data: &[u8], limit: usize) -> Result<Result<Vec<u8>, ()>, FormatError> {
    let zerr = |e: std::io::Error| FormatError::Decompress(e.to_string());
    let mut dec = zstd::stream::read::Decoder::with_buffer(data).map_err(zerr)?;
    // A frame's window never needs to exceed its content; allow at least
    // 16 MiB (restic's frames use far less) and at most 512 MiB.
    let need = usize::BITS - limit.saturating_sub(1).leading_zeros();
    dec.window_log_max(need.clamp(24, 29)).map_err(zerr)?;
    let mut out: Vec<u8> = Vec::new();
    loop {
        if out.len() == limit {
            let mut probe = [0u8; 1];
            return match dec.read(&mut probe).map_err(zerr)? {
                0 => Ok(Ok(out)),
                _ => Ok(Err(())),
            };
        }
        if out.len() == out.capacity() {
            let grow = (limit - out.len()).min(out.len().max(64 * 1024));
            out.reserve_exact(grow);
        }
        let start = out.len();
        let room = (out.capacity() - start).min(limit - start);
        out.resize(start + room, 0);
        let n = dec.read(&mut out[start..]).map_err(zerr)?;
        out.truncate(start + n);
        if n == 0 {
            return Ok(Ok(out));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing() {
        let j = br#"{"a":1}"#;
        assert_eq!(encode_unpacked(1, j), j);
        let e = encode_unpacked(2, j);
        assert_eq!(e[0], 2);
        assert_eq!(decode_unpacked(2, e).unwrap(), j);
        assert_eq!(decode_unpacked(2, j.to_vec()).unwrap(), j);
        assert_eq!(decode_unpacked(2, b"[1]".to_vec()).unwrap(), b"[1]");
        assert_eq!(decode_unpacked(2, vec![]).unwrap(), b"");
        assert!(matches!(
            decode_unpacked(2, b" {}".to_vec()),
            Err(FormatError::UnpackedFormat(b' '))
        ));
        assert_eq!(decode_unpacked(1, vec![2, 3]).unwrap(), vec![2, 3]);
        assert!(decode_unpacked(3, j.to_vec()).is_err());
        assert!(decode_unpacked(2, vec![2, 1, 2, 3]).is_err());
    }

    #[test]
    fn limited_decoding_stops_at_the_limit_in_both_versions() {
        let json = [b"[".as_slice(), &b"1,".repeat(500_000), b"1]"].concat();
        let framed = encode_unpacked(2, &json);
        assert!(framed.len() < 10_000);
        let too_large = |r: Result<Vec<u8>, FormatError>| {
            assert!(
                matches!(r, Err(FormatError::TooLarge { limit: 1000 })),
                "{r:?}"
            )
        };
        too_large(decode_unpacked_limited(2, framed.clone(), 1000));
        too_large(decode_unpacked_limited(2, json.clone(), 1000));
        too_large(decode_unpacked_limited(1, json.clone(), 1000));
        assert_eq!(
            decode_unpacked_limited(2, framed, json.len()).unwrap(),
            json
        );
        assert_eq!(
            decode_unpacked_limited(1, json.clone(), json.len()).unwrap(),
            json
        );
    }

    #[test]
    fn bounds() {
        let plain = vec![7u8; 300_000];
        let c = compress_blob(&plain, 3);
        assert_eq!(decompress_blob(&c, 300_000).unwrap(), plain);
        assert!(matches!(
            decompress_blob(&c, 299_999),
            Err(FormatError::LengthMismatch { .. })
        ));
        assert!(matches!(
            decompress_blob(&c, 300_001),
            Err(FormatError::LengthMismatch {
                actual: 300_000,
                ..
            })
        ));
        assert!(matches!(
            decompress_bounded(&c, 1000),
            Err(FormatError::TooLarge { limit: 1000 })
        ));
        assert_eq!(decompress_bounded(&c, 300_000).unwrap(), plain);
        assert_eq!(decompress_blob(&compress_blob(b"", 3), 0).unwrap(), b"");
        assert!(decompress_blob(b"not zstd", 5).is_err());
    }

    /// A reused buffer gives the same results and errors as a fresh one,
    /// whatever it held before: a blob longer than its claim is caught
    /// even when the buffer has room for more.
    #[test]
    fn into_a_reused_buffer() {
        let plain = vec![7u8; 300_000];
        let c = compress_blob(&plain, 3);
        let mut out = vec![1u8; 1_000_000];
        assert_eq!(decompress_blob_into(&c, 300_000, &mut out).unwrap(), plain);
        for claim in [299_999, 300_001] {
            let mut big = vec![0u8; 1_000_000];
            let got = decompress_blob_into(&c, claim, &mut big).unwrap_err();
            let want = decompress_blob(&c, claim).unwrap_err();
            assert_eq!(got.to_string(), want.to_string());
            assert!(matches!(got, FormatError::LengthMismatch { .. }), "{claim}");
        }
        let ab = compress_blob(b"ab", 3);
        assert_eq!(decompress_blob_into(&ab, 2, &mut out).unwrap(), b"ab");
        assert!(decompress_blob_into(b"not zstd", 5, &mut out).is_err());
        assert!(decompress_blob_into(b"", 5, &mut out).is_err());
    }
}
