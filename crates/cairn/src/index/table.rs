//! The index's table of blobs of one type: compact entries sorted by ID.

use cairn_format::{BlobType, Id, IndexBlob, PackedBlob};

/// One blob's place in the index: 48 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    pub(super) id: [u8; 32],
    /// The pack's number in the index's pack list.
    pub(super) pack: u32,
    pub(super) offset: u32,
    pub(super) length: u32,
    /// 0 when the blob is stored uncompressed.
    pub(super) uncompressed_length: u32,
}

/// The pack number of an entry whose pack is not known yet.
const UNPLACED: u32 = u32::MAX;

impl Entry {
    /// An entry for a blob whose pack is not written yet.
    pub(crate) fn unplaced(id: &Id) -> Entry {
        Entry {
            id: id.0,
            pack: UNPLACED,
            offset: 0,
            length: 0,
            uncompressed_length: 0,
        }
    }

    /// The blob's ID.
    pub(crate) fn id(&self) -> &[u8; 32] {
        &self.id
    }

    /// True once [`Entry::place`] gave it a pack.
    pub(crate) fn is_placed(&self) -> bool {
        self.pack != UNPLACED
    }

    /// Records where the blob was stored: `pack` numbers a pack in the
    /// list the entry will be added with. Fails if the offset does not
    /// fit an entry (packs are far smaller).
    pub(crate) fn place(&mut self, pack: u32, blob: &PackedBlob) -> Result<(), String> {
        self.offset = u32::try_from(blob.offset)
            .map_err(|_| format!("blob {}: offset {} too large", blob.id, blob.offset))?;
        self.pack = pack;
        self.length = blob.length;
        self.uncompressed_length = blob.uncompressed_length.unwrap_or(0);
        Ok(())
    }

    /// The entry as an index file lists it, with its pack number.
    pub(crate) fn to_index_blob(self, blob_type: BlobType) -> (u32, IndexBlob) {
        let blob = IndexBlob {
            id: Id(self.id),
            blob_type,
            offset: u64::from(self.offset),
            length: self.length,
            uncompressed_length: (self.uncompressed_length != 0)
                .then_some(self.uncompressed_length),
        };
        (self.pack, blob)
    }
}

/// A sorted table of entries with a bucket table over the leading ID
/// bits, so a lookup is a short binary search inside one bucket instead of
/// one over millions of entries (fewer cache misses).
#[derive(Debug, Default)]
pub(super) struct Table {
    pub(super) entries: Vec<Entry>,
    /// `starts[b]` is the first entry whose top `bits` bits are >= b;
    /// `starts.len()` is `2^bits + 1`.
    starts: Vec<u32>,
    bits: u32,
}

impl Table {
    pub(super) fn new(entries: Vec<Entry>) -> Table {
        // About eight entries per bucket, at most 2^16 buckets.
        let bits = (entries.len() / 8).max(1).ilog2().min(16);
        let buckets = 1usize << bits;
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut i = 0;
        for b in 0..buckets {
            while i < entries.len() && Self::bucket_of(&entries[i].id, bits) < b {
                i += 1;
            }
            starts.push(i as u32);
        }
        starts.push(entries.len() as u32);
        Table {
            entries,
            starts,
            bits,
        }
    }

    fn bucket_of(id: &[u8; 32], bits: u32) -> usize {
        if bits == 0 {
            return 0;
        }
        usize::from(u16::from_be_bytes([id[0], id[1]])) >> (16 - bits)
    }

    /// The entries with this ID (usually one, or none).
    pub(super) fn find(&self, id: &[u8; 32]) -> &[Entry] {
        &self.entries[self.find_range(id)]
    }

    /// Where the entries with this ID are in `entries` (empty if none).
    pub(super) fn find_range(&self, id: &[u8; 32]) -> std::ops::Range<usize> {
        if self.entries.is_empty() {
            return 0..0;
        }
        let b = Self::bucket_of(id, self.bits);
        let first = self.starts[b] as usize;
        let bucket = &self.entries[first..self.starts[b + 1] as usize];
        let start = bucket.partition_point(|e| e.id < *id);
        let len = bucket[start..].iter().take_while(|e| e.id == *id).count();
        first + start..first + start + len
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>() + self.starts.capacity() * 4
    }
}
