//! restic's "extra verification" before upload (on unless
//! `--no-extra-verify`): every sealed blob is opened again, decompressed
//! and hashed before it joins a pack, so that data damaged in memory
//! between hashing and encryption (bad RAM, a bug) is never uploaded as
//! if it were fine.

use crate::{Error, Result};
use cairn_crypto::MasterKey;
use cairn_format::{BlobType, Id};
use std::cell::RefCell;

/// Checks that `sealed` opens with `key` to the blob `id`
/// (`uncompressed_length` is `Some` for a compressed blob).
pub(crate) fn verify_sealed(
    key: &MasterKey,
    blob_type: BlobType,
    id: &Id,
    sealed: &[u8],
    uncompressed_length: Option<u32>,
) -> Result<()> {
    let fail = |reason: String| Error::CorruptedOnSave {
        what: format!("{blob_type} blob {id}"),
        reason,
    };
    with_scratch(|opened, decompressed| {
        let plain = key
            .open_into(sealed, opened)
            .map_err(|e| fail(format!("decryption failed: {e}")))?;
        let plain = match uncompressed_length {
            Some(len) => cairn_format::decompress_blob_into(plain, len, decompressed)
                .map_err(|e| fail(format!("decompression failed: {e}")))?,
            None => plain,
        };
        if Id::hash(plain) != *id {
            return Err(fail("hash mismatch".into()));
        }
        Ok(())
    })
}

/// The most bytes of capacity a thread's verification buffer keeps
/// between blobs; a larger blob's buffer is given back after use. Most
/// chunks are 0.5 to 2 MiB, so this serves most of them while the
/// resident memory it adds stays bounded (two buffers per thread).
const KEEP_SCRATCH: usize = 2 << 20;

thread_local! {
    /// Per thread: the opened (decrypted) blob and its decompressed
    /// plaintext. A fresh pair per blob cost every verified byte twice in
    /// page faults and zeroing (blobs of a megabyte and more are mapped
    /// and unmapped, see `buffers`).
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` with this thread's two verification buffers (fresh ones if
/// they are in use further up this thread's stack).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut pair) => {
            let (opened, decompressed) = &mut *pair;
            let result = f(opened, decompressed);
            for buf in [opened, decompressed] {
                if buf.capacity() > KEEP_SCRATCH {
                    *buf = Vec::new();
                }
            }
            result
        }
        Err(_) => f(&mut Vec::new(), &mut Vec::new()),
    })
}

/// Checks that `sealed` opens with `key` to the unpacked file `expected`
/// (a snapshot, index or key file's JSON) of a `repo_version` repository.
pub(crate) fn verify_unpacked(
    key: &MasterKey,
    repo_version: u32,
    file_type: &str,
    sealed: &[u8],
    expected: &[u8],
) -> Result<()> {
    let fail = |reason: String| Error::CorruptedOnSave {
        what: format!("file of type {file_type}"),
        reason,
    };
    let plain = key
        .open(sealed)
        .map_err(|e| fail(format!("decryption failed: {e}")))?;
    let plain = cairn_format::decode_unpacked(repo_version, plain)
        .map_err(|e| fail(format!("decompression failed: {e}")))?;
    if plain != expected {
        return Err(fail("data mismatch".into()));
    }
    Ok(())
}

#[cfg(test)]
thread_local! {
    /// Test hook: damage the next sealed blobs of this thread, as bad
    /// memory would between encryption and upload.
    pub(crate) static DAMAGE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `sealed`, or in tests a damaged copy of it (see [`DAMAGE`]).
pub(crate) fn damage_for_test(sealed: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    #[cfg(test)]
    if DAMAGE.with(std::cell::Cell::get) {
        let mut copy = sealed.to_vec();
        let middle = copy.len() / 2;
        copy[middle] ^= 0x10;
        return std::borrow::Cow::Owned(copy);
    }
    std::borrow::Cow::Borrowed(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flipped_bit_is_caught_and_a_good_blob_passes() {
        let key = MasterKey::generate();
        let plain = b"some data to keep".repeat(20);
        let id = Id::hash(&plain);
        let compressed = cairn_format::compress_blob(&plain, 3);
        let len = Some(u32::try_from(plain.len()).unwrap());
        let sealed = key.seal(&compressed);
        verify_sealed(&key, BlobType::Data, &id, &sealed, len).unwrap();
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        let e = verify_sealed(&key, BlobType::Data, &id, &bad, len).unwrap_err();
        assert!(e.to_string().contains("decryption failed"), "{e}");
        // Sealed right, but not the blob the ID names.
        let other = key.seal(b"other");
        let e = verify_sealed(&key, BlobType::Tree, &id, &other, None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Detected data corruption while saving tree blob"),
            "{e}"
        );
        assert!(e.to_string().contains("hash mismatch"), "{e}");
    }

    /// The reused buffers hold the previous blob's bytes: blobs of every
    /// size in turn, larger and smaller, still pass or fail on their own.
    #[test]
    fn reused_buffers_check_each_blob_on_its_own() {
        let key = MasterKey::generate();
        let mut x = 7u32;
        let mut blob = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 24) as u8 & 0x3f
                })
                .collect()
        };
        for len in [5 << 20, 100, 0, 2 << 20, 1, 9 << 20, 70_000] {
            let plain = blob(len);
            let id = Id::hash(&plain);
            let raw = key.seal(&plain);
            verify_sealed(&key, BlobType::Data, &id, &raw, None).unwrap();
            if len > 0 {
                let unc = Some(u32::try_from(len).unwrap());
                let compressed = key.seal(&cairn_format::compress_blob(&plain, 3));
                verify_sealed(&key, BlobType::Data, &id, &compressed, unc).unwrap();
                // A prefix of the plaintext (what a stale buffer would
                // still hold after a shorter blob) is not the blob.
                let short = key.seal(&plain[..len / 2]);
                assert!(verify_sealed(&key, BlobType::Data, &id, &short, None).is_err());
            }
        }
    }

    #[test]
    fn unpacked_files_are_checked_too() {
        let key = MasterKey::generate();
        let json = br#"{"time":"now"}"#;
        for version in [1, 2] {
            let sealed = key.seal(&cairn_format::encode_unpacked(version, json));
            verify_unpacked(&key, version, "snapshot", &sealed, json).unwrap();
            let e = verify_unpacked(&key, version, "snapshot", &sealed, b"{}").unwrap_err();
            assert!(
                e.to_string()
                    .contains("file of type snapshot: data mismatch"),
                "{e}"
            );
        }
    }

    /// Damage between sealing and upload: caught (and nothing stored) by
    /// default, stored unnoticed with the check switched off.
    #[test]
    fn the_writer_refuses_a_blob_damaged_after_sealing_unless_switched_off() {
        use crate::copy::tests::{init, local};
        use crate::write::{BlobWriter, WriteOptions};
        let dir = tempfile::tempdir().unwrap();
        let mut repo = init(local(&dir, "repo"), 2);
        repo.load_index().unwrap();
        assert!(repo.extra_verify(), "on by default, as in restic");
        let plain = b"precious".repeat(100);
        DAMAGE.with(|d| d.set(true));
        let writer = BlobWriter::new(&repo, WriteOptions::default()).unwrap();
        let e = writer.save_blob(BlobType::Data, &plain);
        DAMAGE.with(|d| d.set(false));
        let e = e.unwrap_err();
        assert!(matches!(e, Error::CorruptedOnSave { .. }), "{e}");
        let (_, index_files) = writer.flush().unwrap();
        assert!(index_files.is_empty(), "a damaged blob was uploaded");

        repo.set_extra_verify(false);
        DAMAGE.with(|d| d.set(true));
        let writer = BlobWriter::new(&repo, WriteOptions::default()).unwrap();
        let saved = writer.save_blob(BlobType::Data, &plain);
        DAMAGE.with(|d| d.set(false));
        assert!(saved.unwrap().new);
        let (_, index_files) = writer.flush().unwrap();
        assert_eq!(
            index_files.len(),
            1,
            "without the check the damage is stored"
        );
    }
}
