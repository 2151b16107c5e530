//! Compression bombs and hand-made packs: small files that claim or
//! expand to far more than they hold.

use super::Crafter;
use crate::write::PackBuilder;
use crate::{Error, Result};
use cairn_backend::FileType;
use cairn_format::{BlobType, Id, IndexBlob};
use std::io::Write;

/// The unit a snapshot tags bomb repeats: `"a",`.
pub const SNAPSHOT_TAGS_UNIT: &[u8] = b"\"a\",";

/// The unit an index bomb repeats: a pack with no blobs.
pub const INDEX_BOMB_UNIT: &[u8] =
    b"{\"id\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"blobs\":[]},";

/// JSON made of `prefix`, `unit` repeated `count` times, then `suffix`.
#[derive(Clone, Copy, Debug)]
pub struct BombRepeat<'a> {
    /// What comes first.
    pub prefix: &'a [u8],
    /// What is repeated.
    pub unit: &'a [u8],
    /// How many times.
    pub count: u64,
    /// What comes last.
    pub suffix: &'a [u8],
}

impl BombRepeat<'_> {
    /// Total length of the expanded content.
    pub fn expanded_len(&self) -> u64 {
        self.prefix.len() as u64 + self.unit.len() as u64 * self.count + self.suffix.len() as u64
    }

    /// One zstd frame of the expanded content, encoded by streaming: the
    /// expanded content is never held in memory.
    pub fn zstd_frame(&self) -> Vec<u8> {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("zstd encoder");
        enc.write_all(self.prefix).expect("write to memory");
        let per_chunk = (1usize << 20) / self.unit.len().max(1) + 1;
        let chunk = self.unit.repeat(per_chunk);
        let mut left = self.count;
        while left > 0 {
            let n = left.min(per_chunk as u64);
            let bytes = n as usize * self.unit.len();
            enc.write_all(&chunk[..bytes]).expect("write to memory");
            left -= n;
        }
        enc.write_all(self.suffix).expect("write to memory");
        enc.finish().expect("zstd finish")
    }
}

impl Crafter {
    /// Writes a v2 unpacked file of `file_type` (snapshot, index, lock)
    /// whose compressed JSON expands to `bomb`; returns its ID. Fails in
    /// a v1 repository, which never compresses.
    pub fn unpacked_bomb(&self, file_type: FileType, bomb: BombRepeat<'_>) -> Result<Id> {
        if self.repo.config().version < 2 {
            return Err(Error::InvalidArgument(
                "compression bombs need a version 2 repository".into(),
            ));
        }
        let mut framed = vec![cairn_format::COMPRESSED_MARKER];
        framed.extend_from_slice(&bomb.zstd_frame());
        self.write_sealed(file_type, &framed)
    }

    /// A snapshot of `tree` whose JSON is about `expanded` bytes, nearly
    /// all of it `"tags":["a","a",...]`.
    pub fn snapshot_tags_bomb(&self, tree: Id, expanded: u64) -> Result<Id> {
        let prefix = format!(
            "{{\"time\":\"2024-01-01T00:00:00Z\",\"tree\":\"{tree}\",\"paths\":[\"/crafted\"],\
             \"hostname\":\"crafted\",\"username\":\"crafted\",\"tags\":["
        );
        let bomb = BombRepeat {
            prefix: prefix.as_bytes(),
            unit: SNAPSHOT_TAGS_UNIT,
            count: expanded / SNAPSHOT_TAGS_UNIT.len() as u64,
            suffix: b"\"a\"]}",
        };
        self.unpacked_bomb(FileType::Snapshot, bomb)
    }

    /// An index file of about `expanded` bytes listing the same empty
    /// pack over and over.
    pub fn index_bomb(&self, expanded: u64) -> Result<Id> {
        let last = &INDEX_BOMB_UNIT[..INDEX_BOMB_UNIT.len() - 1];
        let suffix = [last, b"]}"].concat();
        let bomb = BombRepeat {
            prefix: b"{\"packs\":[",
            unit: INDEX_BOMB_UNIT,
            count: expanded / INDEX_BOMB_UNIT.len() as u64,
            suffix: &suffix,
        };
        self.unpacked_bomb(FileType::Index, bomb)
    }

    /// Writes a pack holding one blob whose stored plaintext is `stored`
    /// (e.g. a zstd frame from [`BombRepeat::zstd_frame`]), sealed, with
    /// header entry and index entry saying `id` and `uncompressed_length`
    /// (`None`: stored raw). Returns the pack's ID. Nothing checks that
    /// `stored` matches `id` or the claimed length.
    pub fn raw_blob_pack(
        &mut self,
        blob_type: BlobType,
        id: Id,
        stored: &[u8],
        uncompressed_length: Option<u32>,
    ) -> Result<Id> {
        let sealed = self.repo.key().seal(stored);
        let mut pack = PackBuilder::new();
        pack.add(blob_type, id, &sealed, uncompressed_length)?;
        let done = pack.finish(self.repo.key());
        self.repo
            .backend()
            .write(FileType::Pack, &done.id.to_hex(), &done.bytes)?;
        let entry = done.blobs[0];
        self.claim(
            done.id,
            IndexBlob {
                id,
                blob_type,
                offset: entry.offset,
                length: entry.length,
                uncompressed_length,
            },
        )?;
        Ok(done.id)
    }
}
