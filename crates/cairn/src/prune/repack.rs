//! Copying the blobs still needed out of packs into new packs.
//!
//! Every blob is read, decrypted, decompressed and checked against its ID
//! before it is copied, so a damaged blob stops the prune instead of being
//! carried over. A blob already stored as a backup would store it now
//! (compressed in version 2 with the default compression, raw in version
//! 1 or with compression off) is copied as the verified sealed bytes it
//! is; any other is stored the way a backup would store it now. New packs are only written, never indexed here: the
//! caller writes the new index naming them afterwards.

use super::used::BlobSet;
use super::{PruneOptions, PruneProgress};
use crate::blob::DecodeBuffers;
use crate::index::BlobLocation;
use crate::repository::Repository;
use crate::write::{Compression, PackBuilder, WriteOptions};
use crate::{Error, Result};
use cairn_backend::FileType;
use cairn_format::{BlobType, Id, IndexBlob, IndexPack};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Copies every blob of `keep` found in `packs` into new packs and
/// returns those packs (not yet indexed). Blobs copied are removed from
/// `keep`; a blob stored in several of the packs is copied once.
pub(crate) fn repack(
    repo: &Repository,
    packs: &BTreeSet<Id>,
    keep: &mut BlobSet,
    opts: &PruneOptions,
    progress: &dyn PruneProgress,
) -> Result<Vec<IndexPack>> {
    let mut work: BTreeMap<Id, Vec<BlobLocation>> =
        packs.iter().map(|p| (*p, Vec::new())).collect();
    for loc in repo.index().iter() {
        if let Some(list) = work.get_mut(&loc.pack) {
            if keep.remove(&(loc.blob_type, loc.id)) {
                list.push(loc);
            }
        }
    }
    let writer = Packer::new(repo, &opts.write);
    let work: Vec<(Id, Vec<BlobLocation>)> = work.into_iter().collect();
    work.par_iter()
        .try_for_each(|(pack, blobs)| -> Result<()> {
            opts.cancel.check()?;
            copy_pack(repo, &writer, pack, blobs)?;
            progress.pack_repacked();
            Ok(())
        })?;
    writer.finish()
}

/// Copies `blobs` (all in `pack`) through `writer`, reading the pack once.
fn copy_pack(repo: &Repository, writer: &Packer, pack: &Id, blobs: &[BlobLocation]) -> Result<()> {
    // Hostile claims must not size the read below.
    for loc in blobs {
        crate::blob::check_claim(loc)?;
    }
    let Some(start) = blobs.iter().map(|b| b.offset).min() else {
        return Ok(());
    };
    let end = blobs
        .iter()
        .map(|b| b.offset + u64::from(b.length))
        .max()
        .unwrap_or(start);
    let bytes = repo
        .backend()
        .read_range(FileType::Pack, &pack.to_hex(), start, end - start)?;
    let mut bufs = DecodeBuffers::default();
    for loc in blobs {
        let from = (loc.offset - start) as usize;
        let to = from + loc.length as usize;
        let stored = bytes.get(from..to).ok_or_else(|| Error::BadBlob {
            pack: *pack,
            blob_type: loc.blob_type,
            id: loc.id,
            reason: "pack file is shorter than the index says".into(),
        })?;
        match repo.verify_blob_in(loc, stored, &mut bufs) {
            // Verified (MAC, length, SHA-256 of the plaintext): these
            // exact bytes may be stored again.
            Ok(_) if writer.stores_as_is(loc) => {
                writer.append(loc.blob_type, loc.id, stored, loc.uncompressed_length)?
            }
            Ok(plain) => writer.save(loc.blob_type, loc.id, plain)?,
            // A range damaged in transit: the blob alone is read again.
            Err(_) => writer.save(loc.blob_type, loc.id, &repo.load_blob_at(loc)?)?,
        }
    }
    Ok(())
}

/// A small pack writer: one open pack per blob type, each finished pack
/// written at once by the thread that filled it. Unlike a
/// [`crate::write::BlobWriter`] it stores every blob it is given, even
/// one the index already knows, and writes no index.
pub(crate) struct Packer<'a> {
    repo: &'a Repository,
    pack_size: u64,
    compression: Compression,
    open: [Mutex<PackBuilder>; 2],
    written: Mutex<Vec<IndexPack>>,
}

impl<'a> Packer<'a> {
    pub(crate) fn new(repo: &'a Repository, write: &WriteOptions) -> Self {
        Packer {
            repo,
            pack_size: write.pack_size,
            compression: write.compression,
            open: [
                Mutex::new(PackBuilder::new()),
                Mutex::new(PackBuilder::new()),
            ],
            written: Mutex::new(Vec::new()),
        }
    }

    /// How `save` stores a blob of `blob_type`.
    fn mode(&self, blob_type: BlobType) -> Compression {
        match (self.repo.config().version, blob_type) {
            (1, _) => Compression::Off,
            (_, BlobType::Tree) => Compression::Auto,
            (_, BlobType::Data) => self.compression,
        }
    }

    /// True when the blob at `loc` is already stored as `save` would store
    /// it (raw where `save` stores raw, compressed where `save` compresses
    /// at the default setting): its sealed bytes, once verified, can be
    /// copied as they are instead of being decompressed, compressed and
    /// sealed again. An explicit compression level other than the default
    /// still re-encodes, as restic's repacking does.
    pub(crate) fn stores_as_is(&self, loc: &BlobLocation) -> bool {
        matches!(
            (self.mode(loc.blob_type), loc.uncompressed_length),
            (Compression::Off, None) | (Compression::Auto, Some(_))
        )
    }

    /// Encodes and appends one blob; writes the pack when it is full.
    pub(crate) fn save(&self, blob_type: BlobType, id: Id, plain: &[u8]) -> Result<()> {
        let mode = self.mode(blob_type);
        // An empty blob cannot be marked compressed (length 0 means raw).
        if mode == Compression::Off || plain.is_empty() {
            return self.seal_and_append(blob_type, id, plain, None);
        }
        let n = u32::try_from(plain.len())
            .map_err(|_| Error::InvalidArgument(format!("blob {id} is too large")))?;
        crate::write::with_compressed(plain, mode, |payload| {
            self.seal_and_append(blob_type, id, payload, Some(n))
        })
    }

    /// Seals `payload` (restic 0.19's check of the sealed blob included)
    /// and appends it.
    fn seal_and_append(
        &self,
        blob_type: BlobType,
        id: Id,
        payload: &[u8],
        uncompressed: Option<u32>,
    ) -> Result<()> {
        let sealed = self.repo.key().seal(payload);
        if self.repo.extra_verify() {
            crate::write::verify::verify_sealed(
                self.repo.key(),
                blob_type,
                &id,
                &sealed,
                uncompressed,
            )?;
        }
        self.append(blob_type, id, &sealed, uncompressed)
    }

    /// Appends a sealed blob as it is; writes the pack when it is full.
    pub(crate) fn append(
        &self,
        blob_type: BlobType,
        id: Id,
        sealed: &[u8],
        uncompressed: Option<u32>,
    ) -> Result<()> {
        let full = PackBuilder::add_to_open(
            &self.open,
            self.pack_size,
            blob_type,
            id,
            sealed,
            uncompressed,
        )?;
        match full {
            Some(pack) => self.write_pack(pack),
            None => Ok(()),
        }
    }

    /// Seals the header and stores the pack.
    fn write_pack(&self, pack: PackBuilder) -> Result<()> {
        let done = pack.finish(self.repo.key());
        self.repo
            .backend()
            .write(FileType::Pack, &done.id.to_hex(), &done.bytes)?;
        let entry = IndexPack {
            id: done.id,
            blobs: done
                .blobs
                .into_iter()
                .map(|b| IndexBlob {
                    id: b.id,
                    blob_type: b.blob_type,
                    offset: b.offset,
                    length: b.length,
                    uncompressed_length: b.uncompressed_length,
                })
                .collect(),
        };
        self.written.lock().expect("pack list poisoned").push(entry);
        Ok(())
    }

    /// Writes the packs still open; returns every pack written.
    pub(crate) fn finish(self) -> Result<Vec<IndexPack>> {
        for slot in &self.open {
            let pack = std::mem::take(&mut *slot.lock().expect("pack lock poisoned"));
            if !pack.is_empty() {
                self.write_pack(pack)?;
            }
        }
        Ok(self.written.into_inner().expect("pack list poisoned"))
    }
}
