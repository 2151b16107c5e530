//! Size limits on what a repository may make a reader hold.
//!
//! Every file in a repository is untrusted: a few kilobytes of zstd can
//! expand to gigabytes, and an index entry can claim a blob of 4 GiB.
//! These limits are checked before anything is allocated from a claimed
//! or decompressed size, so that no single hostile file costs a reader
//! more than a few hundred MiB. They sit well above anything restic
//! writes; `spec/limits.md` explains each one.

use crate::{BlobType, FormatError};

const MIB: usize = 1 << 20;

/// Largest config file (plaintext JSON; restic's is about 150 bytes).
pub const MAX_CONFIG_JSON: usize = MIB;
/// Largest key file (restic's are about 450 bytes).
pub const MAX_KEY_JSON: usize = MIB;
/// Largest lock file after decompression (restic's are about 300 bytes).
pub const MAX_LOCK_JSON: usize = MIB;
/// Largest snapshot file after decompression. A snapshot holds its
/// paths, tags and excludes as given on the command line; 32 MiB is
/// some 300,000 long paths.
pub const MAX_SNAPSHOT_JSON: usize = 32 * MIB;
/// Largest index file after decompression. restic starts a new index file
/// after 50,000 blobs (150,000 when compressed), about 20 MiB of JSON.
pub const MAX_INDEX_JSON: usize = 128 * MIB;
/// Largest data blob (plaintext). restic's chunker cuts at 8 MiB at most.
pub const MAX_DATA_BLOB: usize = 16 * MIB;
/// Largest tree blob (plaintext): a directory of some 400,000 entries.
pub const MAX_TREE_BLOB: usize = 128 * MIB;
/// Most nodes one tree may hold. The byte limit alone does not bound what
/// a parsed tree costs: a hostile tree of minimal nodes (`{"name":""}`)
/// packs ten million of them into 128 MiB, some 4 GiB once parsed. Every
/// node restic writes carries its name, type, three times and owner, at
/// least about 140 bytes of JSON, so no tree within [`MAX_TREE_BLOB`] that
/// restic wrote comes near this count.
pub const MAX_TREE_NODES: usize = 1_000_000;

/// The largest plaintext a blob of `blob_type` may have.
pub fn max_blob_plaintext(blob_type: BlobType) -> usize {
    match blob_type {
        BlobType::Data => MAX_DATA_BLOB,
        BlobType::Tree => MAX_TREE_BLOB,
    }
}

/// The largest stored (encrypted) length of a blob of `blob_type`: its
/// plaintext limit, plus zstd's worst-case growth of incompressible data,
/// plus encryption's IV and MAC.
pub fn max_blob_stored(blob_type: BlobType) -> usize {
    let plain = max_blob_plaintext(blob_type);
    zstd::zstd_safe::compress_bound(plain) + cairn_crypto::OVERHEAD
}

/// Checks the lengths an index or pack header claims for a blob against
/// the limits, before anything is read or allocated for it.
pub fn check_blob_claim(
    blob_type: BlobType,
    stored: u32,
    uncompressed: Option<u32>,
) -> Result<(), FormatError> {
    let stored = stored as usize;
    if stored > max_blob_stored(blob_type) {
        return Err(FormatError::ClaimTooLarge {
            what: "stored length",
            claimed: stored as u64,
            limit: max_blob_stored(blob_type) as u64,
        });
    }
    // An uncompressed blob's plaintext is its stored length less the
    // encryption overhead.
    let plain = uncompressed.map_or(stored.saturating_sub(cairn_crypto::OVERHEAD), |n| {
        n as usize
    });
    if plain > max_blob_plaintext(blob_type) {
        return Err(FormatError::ClaimTooLarge {
            what: "uncompressed length",
            claimed: plain as u64,
            limit: max_blob_plaintext(blob_type) as u64,
        });
    }
    Ok(())
}

/// Fails with [`FormatError::TooLarge`] when `json` is longer than
/// `limit`; parsers call it before parsing.
pub(crate) fn check_json_size(json: &[u8], limit: usize) -> Result<(), FormatError> {
    if json.len() > limit {
        return Err(FormatError::TooLarge { limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, IndexFile, KeyFile, Lock, Snapshot};

    #[test]
    fn blob_claims_beyond_the_limits_are_refused() {
        let d = BlobType::Data;
        let t = BlobType::Tree;
        assert!(check_blob_claim(d, 8 << 20, Some(8 << 20)).is_ok());
        assert!(check_blob_claim(d, 100_000, Some(u32::MAX)).is_err());
        assert!(check_blob_claim(d, u32::MAX, None).is_err());
        assert!(check_blob_claim(d, (MAX_DATA_BLOB + 33) as u32, None).is_err());
        assert!(check_blob_claim(d, 1000, Some(MAX_DATA_BLOB as u32)).is_ok());
        assert!(check_blob_claim(d, 1000, Some(MAX_DATA_BLOB as u32 + 1)).is_err());
        assert!(check_blob_claim(t, 1000, Some(100 << 20)).is_ok());
        assert!(check_blob_claim(t, 1000, Some(200 << 20)).is_err());
        // Incompressible data stored "compressed" grows a little; that
        // growth is allowed for.
        let bound = max_blob_stored(d) as u32;
        assert!(check_blob_claim(d, bound, Some(MAX_DATA_BLOB as u32)).is_ok());
        assert!(check_blob_claim(d, bound + 1, Some(MAX_DATA_BLOB as u32)).is_err());
    }

    #[test]
    fn json_files_beyond_their_limit_are_refused_before_parsing() {
        let padded = |limit: usize| {
            let mut j = b"{\"a\":\"".to_vec();
            j.resize(limit + 1 - 2, b'x');
            j.extend_from_slice(b"\"}");
            assert_eq!(j.len(), limit + 1);
            j
        };
        let too_large = |r: Result<(), FormatError>, limit| match r {
            Err(FormatError::TooLarge { limit: l }) => assert_eq!(l, limit),
            other => panic!("{other:?}"),
        };
        too_large(
            Snapshot::from_json(&padded(MAX_SNAPSHOT_JSON)).map(|_| ()),
            MAX_SNAPSHOT_JSON,
        );
        too_large(
            IndexFile::from_json(&padded(MAX_INDEX_JSON)).map(|_| ()),
            MAX_INDEX_JSON,
        );
        too_large(
            Lock::from_json(&padded(MAX_LOCK_JSON)).map(|_| ()),
            MAX_LOCK_JSON,
        );
        too_large(
            Config::from_json(&padded(MAX_CONFIG_JSON)).map(|_| ()),
            MAX_CONFIG_JSON,
        );
        too_large(
            KeyFile::from_json(&padded(MAX_KEY_JSON)).map(|_| ()),
            MAX_KEY_JSON,
        );
    }
}
