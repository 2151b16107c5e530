//! Pack file headers (`data/XX/<id>`).
//!
//! A pack is `EncBlob_1 ‖ … ‖ EncBlob_n ‖ EncHeader ‖ HeaderLen`, where
//! `HeaderLen` is the little-endian u32 length of `EncHeader` (not counting
//! itself). The decrypted header lists one entry per blob; offsets are not
//! stored, they are the running sum of the stored lengths.

use crate::{BlobType, FormatError, Id};

/// Size of the trailing header length field.
pub const HEADER_LENGTH_SIZE: usize = 4;
/// Size of an entry for an uncompressed blob (types 0 and 1).
pub const ENTRY_SIZE_UNCOMPRESSED: usize = 1 + 4 + 32;
/// Size of an entry for a compressed blob (types 2 and 3): type, stored
/// length, plaintext length, ID. (restic's `entrySize`; 41, not 45.)
pub const ENTRY_SIZE_COMPRESSED: usize = 1 + 4 + 4 + 32;
/// Encryption overhead of every sealed piece (IV + MAC).
pub const CRYPTO_OVERHEAD: usize = 32;
/// Largest encrypted header plus length field restic accepts
/// (`MaxHeaderSize`, 16 MiB + 4).
pub const MAX_HEADER_SIZE: usize = 16 * 1024 * 1024 + HEADER_LENGTH_SIZE;
/// Largest decrypted header: [`MAX_HEADER_SIZE`] minus the length field
/// and the encryption overhead.
pub const MAX_HEADER_PLAINTEXT: usize = MAX_HEADER_SIZE - HEADER_LENGTH_SIZE - CRYPTO_OVERHEAD;
/// Most entries a header can hold (restic's `MaxHeaderEntries`, counted
/// with compressed entries).
pub const MAX_HEADER_ENTRIES: usize =
    (MAX_HEADER_SIZE - HEADER_LENGTH_SIZE - CRYPTO_OVERHEAD) / ENTRY_SIZE_COMPRESSED;

/// One blob as listed in a pack header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PackedBlob {
    /// Data or tree.
    pub blob_type: BlobType,
    /// SHA-256 of the uncompressed plaintext.
    pub id: Id,
    /// Position of the encrypted blob in the pack (computed, not stored).
    pub offset: u64,
    /// Stored (encrypted, possibly compressed) length.
    pub length: u32,
    /// Plaintext length for compressed blobs; `None` for uncompressed ones.
    pub uncompressed_length: Option<u32>,
}

/// The header entry size of `b`: 37, or 41 for a compressed blob.
pub fn entry_size(b: &PackedBlob) -> usize {
    if b.uncompressed_length.is_some() {
        ENTRY_SIZE_COMPRESSED
    } else {
        ENTRY_SIZE_UNCOMPRESSED
    }
}

/// Decode the trailing 4 bytes of a pack: the encrypted header's length.
pub fn header_length(last4: [u8; 4]) -> u32 {
    u32::from_le_bytes(last4)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// Parse a decrypted pack header, computing offsets from 0.
///
/// A compressed entry (type 2 or 3) with plaintext length 0 is kept as
/// `Some(0)` so that it re-serializes to the same bytes; restic itself
/// treats such a blob as uncompressed and never writes one.
pub fn parse_header(plaintext: &[u8]) -> Result<Vec<PackedBlob>, FormatError> {
    if plaintext.len() > MAX_HEADER_PLAINTEXT {
        return Err(FormatError::InvalidHeader(format!(
            "header of {} bytes exceeds {MAX_HEADER_PLAINTEXT}",
            plaintext.len()
        )));
    }
    let mut out = Vec::with_capacity(plaintext.len() / ENTRY_SIZE_UNCOMPRESSED);
    let mut pos = 0usize;
    let mut offset = 0u64;
    while pos < plaintext.len() {
        let t = plaintext[pos];
        let (blob_type, compressed) = match t {
            0 => (BlobType::Data, false),
            1 => (BlobType::Tree, false),
            2 => (BlobType::Data, true),
            3 => (BlobType::Tree, true),
            _ => return Err(FormatError::InvalidBlobType(format!("byte {t}"))),
        };
        let size = if compressed {
            ENTRY_SIZE_COMPRESSED
        } else {
            ENTRY_SIZE_UNCOMPRESSED
        };
        let e = plaintext
            .get(pos..pos + size)
            .ok_or_else(|| FormatError::InvalidHeader(format!("truncated entry at byte {pos}")))?;
        let length = u32_at(e, 1);
        let (uncompressed_length, id_at) = if compressed {
            (Some(u32_at(e, 5)), 9)
        } else {
            (None, 5)
        };
        let mut id = [0u8; 32];
        id.copy_from_slice(&e[id_at..id_at + 32]);
        out.push(PackedBlob {
            blob_type,
            id: Id(id),
            offset,
            length,
            uncompressed_length,
        });
        offset += u64::from(length); // at most 2^32 entries' worth: no overflow
        pos += size;
    }
    Ok(out)
}

/// Serialize header entries (offsets are ignored: blobs are assumed to be
/// stored in this order).
pub fn serialize_header(blobs: &[PackedBlob]) -> Vec<u8> {
    let mut out = Vec::with_capacity(blobs.iter().map(entry_size).sum());
    for b in blobs {
        let t = match (b.blob_type, b.uncompressed_length.is_some()) {
            (BlobType::Data, false) => 0u8,
            (BlobType::Tree, false) => 1,
            (BlobType::Data, true) => 2,
            (BlobType::Tree, true) => 3,
        };
        out.push(t);
        out.extend_from_slice(&b.length.to_le_bytes());
        if let Some(u) = b.uncompressed_length {
            out.extend_from_slice(&u.to_le_bytes());
        }
        out.extend_from_slice(&b.id.0);
    }
    out
}

/// Check that `blobs` describe a pack of `file_size` bytes exactly: blobs
/// contiguous from offset 0, each at least [`CRYPTO_OVERHEAD`] long, then
/// an encrypted header of `encrypted_header_len` bytes, then the 4-byte
/// length field.
pub fn check_pack_layout(
    blobs: &[PackedBlob],
    encrypted_header_len: u32,
    file_size: u64,
) -> Result<(), FormatError> {
    let bad = |m: String| Err(FormatError::InvalidPackLayout(m));
    if (encrypted_header_len as usize) < CRYPTO_OVERHEAD {
        return bad(format!(
            "encrypted header of {encrypted_header_len} bytes is too short"
        ));
    }
    let mut expect = 0u64;
    for b in blobs {
        if b.offset != expect {
            return bad(format!(
                "blob {} at offset {}, expected {expect}",
                b.id, b.offset
            ));
        }
        if (b.length as usize) < CRYPTO_OVERHEAD {
            return bad(format!("blob {} has length {} < 32", b.id, b.length));
        }
        expect += u64::from(b.length);
    }
    let total = expect + u64::from(encrypted_header_len) + HEADER_LENGTH_SIZE as u64;
    if total != file_size {
        return bad(format!(
            "pack is {file_size} bytes, header describes {total}"
        ));
    }
    let plain_header: usize = blobs.iter().map(entry_size).sum();
    if plain_header + CRYPTO_OVERHEAD != encrypted_header_len as usize {
        return bad(format!(
            "encrypted header is {encrypted_header_len} bytes, entries need {}",
            plain_header + CRYPTO_OVERHEAD
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<PackedBlob> {
        vec![
            PackedBlob {
                blob_type: BlobType::Data,
                id: Id::hash(b"a"),
                offset: 0,
                length: 40,
                uncompressed_length: None,
            },
            PackedBlob {
                blob_type: BlobType::Tree,
                id: Id::hash(b"b"),
                offset: 40,
                length: 50,
                uncompressed_length: Some(100),
            },
        ]
    }

    #[test]
    fn round_trip() {
        let h = serialize_header(&sample());
        assert_eq!(h.len(), 37 + 41);
        assert_eq!(h[0], 0);
        assert_eq!(h[37], 3);
        assert_eq!(parse_header(&h).unwrap(), sample());
        let enc = (h.len() + 32) as u32;
        check_pack_layout(&sample(), enc, 90 + u64::from(enc) + 4).unwrap();
        assert!(check_pack_layout(&sample(), enc, 90 + u64::from(enc) + 5).is_err());
        let mut gap = sample();
        gap[1].offset = 41;
        assert!(check_pack_layout(&gap, enc, 91 + u64::from(enc) + 4).is_err());
        assert!(check_pack_layout(&sample(), 31, 90 + 31 + 4).is_err());
        assert_eq!(header_length([1, 2, 0, 0]), 513);
    }

    #[test]
    fn rejects() {
        let h = serialize_header(&sample());
        assert!(parse_header(&h[..h.len() - 1]).is_err());
        let mut bad = h.clone();
        bad[0] = 4;
        assert!(parse_header(&bad).is_err());
        assert_eq!(parse_header(&[]).unwrap(), vec![]);
    }
}
