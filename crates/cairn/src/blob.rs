//! Loading blobs: read from the pack, decrypt, decompress, verify.

use crate::index::BlobLocation;
use crate::repository::Repository;
use crate::reread;
use crate::{Error, Result};
use cairn_backend::FileType;
use cairn_format::limits::check_blob_claim;
use cairn_format::{decompress_blob, decompress_blob_into, BlobType, Id, Tree};

/// Checks the lengths the index claims for a blob against the limits of
/// [`cairn_format::limits`]; call it before reading or allocating for the
/// blob.
pub(crate) fn check_claim(loc: &BlobLocation) -> Result<()> {
    check_blob_claim(loc.blob_type, loc.length, loc.uncompressed_length).map_err(|e| {
        Error::BadBlob {
            pack: loc.pack,
            blob_type: loc.blob_type,
            id: loc.id,
            reason: e.to_string(),
        }
    })
}

/// The buffers [`Repository::verify_blob_in`] decodes into, kept from one
/// blob to the next.
#[derive(Default)]
pub(crate) struct DecodeBuffers {
    /// The decrypted (possibly still compressed) blob.
    decrypted: Vec<u8>,
    /// The decompressed plaintext of a compressed blob.
    plain: Vec<u8>,
}

impl Repository {
    /// Where the index says a blob is stored; [`Error::BlobNotFound`] if
    /// the index does not know it.
    pub fn locate_blob(&self, blob_type: BlobType, id: &Id) -> Result<BlobLocation> {
        self.index()
            .lookup(blob_type, id)
            .ok_or(Error::BlobNotFound { blob_type, id: *id })
    }

    /// Turns the stored bytes of a blob into its verified plaintext.
    pub fn decode_blob(&self, loc: &BlobLocation, mut stored: Vec<u8>) -> Result<Vec<u8>> {
        let fail = |reason: String| bad_blob(loc, reason);
        check_claim(loc)?;
        self.key()
            .open_in_place(&mut stored)
            .map_err(|e| fail(e.to_string()))?;
        let plain = match loc.uncompressed_length {
            Some(n) => decompress_blob(&stored, n).map_err(|e| fail(e.to_string()))?,
            None => stored,
        };
        check_content(loc, &plain)?;
        Ok(plain)
    }

    /// Verifies the stored bytes of a blob exactly as [`decode_blob`]
    /// does (claimed lengths, MAC, decompression, SHA-256 against the ID,
    /// with the same errors), but decodes into `bufs`, which are reused
    /// from one blob to the next: no allocation and no fresh pages per
    /// blob, and `stored` is not copied before it is decrypted. Returns
    /// the verified plaintext, borrowed from `bufs`.
    ///
    /// [`decode_blob`]: Repository::decode_blob
    pub(crate) fn verify_blob_in<'b>(
        &self,
        loc: &BlobLocation,
        stored: &[u8],
        bufs: &'b mut DecodeBuffers,
    ) -> Result<&'b [u8]> {
        let fail = |reason: String| bad_blob(loc, reason);
        check_claim(loc)?;
        let decrypted = self
            .key()
            .open_into(stored, &mut bufs.decrypted)
            .map_err(|e| fail(e.to_string()))?;
        let plain: &[u8] = match loc.uncompressed_length {
            Some(n) => decompress_blob_into(decrypted, n, &mut bufs.plain)
                .map_err(|e| fail(e.to_string()))?,
            None => decrypted,
        };
        check_content(loc, plain)?;
        Ok(plain)
    }

    /// Reads one blob at a known location. A range that comes back short
    /// or fails verification is read again (see [`crate::reread`]) before
    /// the blob is reported damaged.
    ///
    /// The lengths the index claims are checked against the limits of
    /// [`cairn_format::limits`] before anything is read: the read itself
    /// then returns at most what the pack holds.
    pub fn load_blob_at(&self, loc: &BlobLocation) -> Result<Vec<u8>> {
        check_claim(loc)?;
        let mut reads = 0;
        loop {
            reads += 1;
            let attempt = self
                .backend()
                .read_range(
                    FileType::Pack,
                    &loc.pack.to_hex(),
                    loc.offset,
                    u64::from(loc.length),
                )
                .map_err(Error::from)
                .and_then(|stored| self.decode_blob(loc, stored));
            let err = match attempt {
                Ok(plain) => return Ok(plain),
                Err(e) => e,
            };
            if !matches!(err, Error::BadBlob { .. }) && !reread::is_short_read(&err) {
                return Err(err);
            }
            if reads > reread::EXTRA_READS {
                let reason = match err {
                    Error::BadBlob { reason, .. } => reason,
                    other => other.to_string(),
                };
                return Err(Error::BadBlob {
                    pack: loc.pack,
                    blob_type: loc.blob_type,
                    id: loc.id,
                    reason: format!("{reason}{}", reread::note(reads)),
                });
            }
        }
    }

    /// Loads a blob by ID. If a copy is damaged, the other copies the index
    /// knows of are tried before failing with the first error.
    pub fn load_blob(&self, blob_type: BlobType, id: &Id) -> Result<Vec<u8>> {
        let locations = self.index().lookup_all(blob_type, id);
        let mut first_error = None;
        for loc in &locations {
            match self.load_blob_at(loc) {
                Ok(plain) => return Ok(plain),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(Error::BlobNotFound { blob_type, id: *id }))
    }

    /// Loads and parses a tree.
    pub fn load_tree(&self, id: &Id) -> Result<Tree> {
        let plain = self.load_blob(BlobType::Tree, id)?;
        Tree::from_json(&plain).map_err(|e| Error::BadBlob {
            pack: self
                .index()
                .lookup(BlobType::Tree, id)
                .map(|l| l.pack)
                .unwrap_or_default(),
            blob_type: BlobType::Tree,
            id: *id,
            reason: e.to_string(),
        })
    }
}

/// Fails with [`Error::BadBlob`] unless `plain` hashes to the blob's ID.
fn check_content(loc: &BlobLocation, plain: &[u8]) -> Result<()> {
    let actual = Id::hash(plain);
    if actual != loc.id {
        return Err(bad_blob(loc, format!("content has SHA-256 {actual}")));
    }
    Ok(())
}

/// [`Error::BadBlob`] for the blob at `loc`.
fn bad_blob(loc: &BlobLocation, reason: String) -> Error {
    Error::BadBlob {
        pack: loc.pack,
        blob_type: loc.blob_type,
        id: loc.id,
        reason,
    }
}
