//! Building one pack file in memory.

use crate::{Error, Result};
use cairn_crypto::MasterKey;
use cairn_format::pack::MAX_HEADER_ENTRIES;
use cairn_format::{entry_size, serialize_header, BlobType, Id, PackedBlob};
use std::sync::Mutex;

/// First reservation for a pack's data: a default pack plus one largest
/// chunk, so a default-sized pack never reallocates.
const INITIAL_RESERVE: usize = (16 << 20) + (8 << 20) + 64;

/// The blobs of one pack being assembled: their sealed bytes back to back
/// and the header entries describing them.
#[derive(Debug, Default)]
pub struct PackBuilder {
    data: Vec<u8>,
    blobs: Vec<PackedBlob>,
    header_size: usize,
}

/// A finished pack: the whole file, its ID, and what it holds.
#[derive(Debug)]
pub struct FinishedPack {
    /// SHA-256 of the file.
    pub id: Id,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its blobs, with offsets.
    pub blobs: Vec<PackedBlob>,
}

impl PackBuilder {
    /// An empty pack.
    pub fn new() -> Self {
        Self::default()
    }

    /// True if no blob was added.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Bytes of blob data so far.
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Appends a sealed blob.
    pub fn add(
        &mut self,
        blob_type: BlobType,
        id: Id,
        sealed: &[u8],
        uncompressed_length: Option<u32>,
    ) -> Result<()> {
        let length = u32::try_from(sealed.len())
            .map_err(|_| Error::InvalidArgument(format!("blob {id} is too large for a pack")))?;
        let blob = PackedBlob {
            blob_type,
            id,
            offset: self.data.len() as u64,
            length,
            uncompressed_length,
        };
        self.header_size += entry_size(&blob);
        self.blobs.push(blob);
        let needed = self.data.len() + sealed.len();
        if needed > self.data.capacity() {
            // Grow by a quarter (and by a whole default pack at first)
            // rather than doubling: capacity never touched costs no memory,
            // but a doubled 16 MiB buffer would.
            let extra = (self.data.capacity() / 4)
                .max(INITIAL_RESERVE)
                .max(sealed.len());
            self.data.reserve_exact(extra);
            super::buffers::prefer_huge_pages(&self.data);
        }
        self.data.extend_from_slice(sealed);
        Ok(())
    }

    /// True once the pack reached `target` bytes of blobs, or its header
    /// could not take another entry.
    pub fn is_full(&self, target: u64) -> bool {
        self.len() >= target || self.blobs.len() + 1 >= MAX_HEADER_ENTRIES
    }

    /// Appends a sealed blob to `open` (the open pack of each blob type,
    /// data first, shared by the threads that fill them) and returns a
    /// pack ready to be written, if one is: the blob's own when it is as
    /// large as a whole pack, or its type's open pack once that is full.
    pub(crate) fn add_to_open(
        open: &[Mutex<PackBuilder>; 2],
        pack_size: u64,
        blob_type: BlobType,
        id: Id,
        sealed: &[u8],
        uncompressed_length: Option<u32>,
    ) -> Result<Option<PackBuilder>> {
        if sealed.len() as u64 >= pack_size {
            let mut own = PackBuilder::new();
            own.add(blob_type, id, sealed, uncompressed_length)?;
            return Ok(Some(own));
        }
        let slot = match blob_type {
            BlobType::Data => &open[0],
            BlobType::Tree => &open[1],
        };
        let mut pack = slot.lock().expect("pack lock poisoned");
        pack.add(blob_type, id, sealed, uncompressed_length)?;
        Ok(pack.is_full(pack_size).then(|| std::mem::take(&mut *pack)))
    }

    /// Seals the header and appends it with its length: the pack file.
    pub fn finish(self, key: &MasterKey) -> FinishedPack {
        let mut bytes = self.data;
        let header = key.seal(&serialize_header(&self.blobs));
        debug_assert_eq!(header.len(), self.header_size + cairn_crypto::OVERHEAD);
        let header_len =
            u32::try_from(header.len()).expect("header size is bounded by MAX_HEADER_ENTRIES");
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&header_len.to_le_bytes());
        FinishedPack {
            id: Id::hash(&bytes),
            bytes,
            blobs: self.blobs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_format::{check_pack_layout, header_length, parse_header};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn finished_packs_parse_back(blobs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), any::<bool>()), 1..20)) {
            let key = MasterKey::generate();
            let mut pack = PackBuilder::new();
            let mut expected = Vec::new();
            for (is_tree, plain, compressed) in &blobs {
                let t = if *is_tree { BlobType::Tree } else { BlobType::Data };
                let id = Id::hash(plain);
                let sealed = key.seal(plain);
                let unc = (*compressed && !plain.is_empty()).then_some(plain.len() as u32);
                pack.add(t, id, &sealed, unc).unwrap();
                expected.push((t, id, unc));
            }
            let done = pack.finish(&key);
            prop_assert_eq!(done.id, Id::hash(&done.bytes));
            let n = done.bytes.len();
            let hlen = header_length(done.bytes[n - 4..].try_into().unwrap()) as usize;
            let header = key.open(&done.bytes[n - 4 - hlen..n - 4]).unwrap();
            let parsed = parse_header(&header).unwrap();
            check_pack_layout(&parsed, hlen as u32, n as u64).unwrap();
            prop_assert_eq!(&parsed, &done.blobs);
            for (b, (t, id, unc)) in parsed.iter().zip(&expected) {
                prop_assert_eq!((b.blob_type, b.id, b.uncompressed_length), (*t, *id, *unc));
                let stored = &done.bytes[b.offset as usize..(b.offset + u64::from(b.length)) as usize];
                prop_assert_eq!(Id::hash(&key.open(stored).unwrap()), *id);
            }
        }
    }
}
