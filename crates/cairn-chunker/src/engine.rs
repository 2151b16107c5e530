//! [`ChunkerKind`] and [`ChunkEngine`]: choosing a cut algorithm and
//! applying it to memory or to a reader.

use std::io::Read;
use std::sync::Arc;

use crate::cdc::FastCdc;
use crate::scan;
use crate::{Chunker, Error, Polynomial, Rabin, RabinSizes};

/// Minimum number of new bytes worth a scan while a chunk is still
/// growing (fewer would waste the scanner's per-call warm-up).
const RESCAN_MIN: usize = 1 << 20;
const _: () = assert!(RESCAN_MIN >= scan::BLOCK);

/// Which content-defined chunking algorithm to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChunkerKind {
    /// restic's Rabin chunker with the repository's polynomial and
    /// restic's sizes. The only choice that deduplicates with restic.
    Rabin(Polynomial),
    /// FastCDC (2020, normalization level 1) with the given sizes in bytes.
    ///
    /// **Does not deduplicate with restic**: it cuts elsewhere, so no blob
    /// restic wrote will be reused. Limits: `64 <= min <= 1 MiB`,
    /// `256 <= avg <= 4 MiB`, `1 KiB <= max <= 16 MiB`, `min <= avg <= max`,
    /// `min` even.
    FastCdc {
        /// Smallest chunk (except a stream's last).
        min: u32,
        /// Target average chunk size.
        avg: u32,
        /// Largest chunk.
        max: u32,
    },
}

impl ChunkerKind {
    /// Precompute what the algorithm needs.
    pub fn build(self) -> Result<ChunkEngine, Error> {
        ChunkEngine::new(self)
    }
}

/// A ready-to-use cut algorithm: cheap to clone (the Rabin tables are
/// shared), `Send + Sync`, and immutable. Build one per repository.
#[derive(Clone, Debug)]
pub struct ChunkEngine(Inner);

#[derive(Clone, Debug)]
enum Inner {
    Rabin(Arc<Rabin>),
    FastCdc(FastCdc),
}

impl From<Rabin> for ChunkEngine {
    fn from(rabin: Rabin) -> Self {
        ChunkEngine(Inner::Rabin(Arc::new(rabin)))
    }
}

impl From<Arc<Rabin>> for ChunkEngine {
    fn from(rabin: Arc<Rabin>) -> Self {
        ChunkEngine(Inner::Rabin(rabin))
    }
}

impl ChunkEngine {
    /// Same as [`ChunkerKind::build`].
    pub fn new(kind: ChunkerKind) -> Result<ChunkEngine, Error> {
        Ok(match kind {
            ChunkerKind::Rabin(pol) => Rabin::new(pol)?.into(),
            ChunkerKind::FastCdc { min, avg, max } => {
                ChunkEngine(Inner::FastCdc(FastCdc::new(min, avg, max)?))
            }
        })
    }

    /// The Rabin tables, if this is a Rabin engine.
    pub fn rabin(&self) -> Option<&Arc<Rabin>> {
        match &self.0 {
            Inner::Rabin(r) => Some(r),
            Inner::FastCdc(_) => None,
        }
    }

    /// Whether chunks match restic's (Rabin with restic's sizes).
    pub fn is_restic_compatible(&self) -> bool {
        self.rabin()
            .is_some_and(|r| r.sizes() == RabinSizes::RESTIC)
    }

    /// Smallest chunk the engine cuts (a stream's last chunk may be shorter).
    pub fn min_size(&self) -> usize {
        match &self.0 {
            Inner::Rabin(r) => r.sizes().min,
            Inner::FastCdc(f) => f.min,
        }
    }

    /// Largest chunk the engine cuts.
    pub fn max_size(&self) -> usize {
        match &self.0 {
            Inner::Rabin(r) => r.sizes().max,
            Inner::FastCdc(f) => f.max,
        }
    }

    /// A streaming chunker over `reader`.
    pub fn chunker<R: Read>(&self, reader: R) -> Chunker<R> {
        Chunker::new(self.clone(), reader)
    }

    /// Chunks of data held entirely in memory, as subslices.
    pub fn chunks<'a>(&'a self, data: &'a [u8]) -> SliceChunks<'a> {
        SliceChunks { engine: self, data }
    }

    /// Decide the chunk starting at `chunk[0]`.
    ///
    /// `eof` says `chunk` holds all remaining input. `scanned` carries
    /// progress between calls on a growing chunk; it must be 0 for a new
    /// chunk and is reset to 0 when a length is returned. Returns `None`
    /// if more input is needed (or at end of input with nothing left).
    pub(crate) fn decide(&self, chunk: &[u8], scanned: &mut usize, eof: bool) -> Option<usize> {
        if chunk.is_empty() {
            return None;
        }
        let len = match &self.0 {
            Inner::Rabin(r) => {
                let sizes = r.sizes();
                let complete = eof || chunk.len() >= sizes.max;
                let chunk = if complete {
                    chunk
                } else {
                    // Scan whole lane blocks only, and only once enough
                    // new bytes have arrived.
                    let from = (*scanned).max(sizes.min - 1);
                    let pending = chunk.len().saturating_sub(from);
                    if pending < RESCAN_MIN {
                        return None;
                    }
                    &chunk[..from + pending / scan::BLOCK * scan::BLOCK]
                };
                match r.find_boundary_from(chunk, *scanned) {
                    Some(n) => n,
                    None if eof => chunk.len(),
                    None => {
                        *scanned = chunk.len();
                        return None;
                    }
                }
            }
            Inner::FastCdc(f) => {
                if !eof && chunk.len() < f.max {
                    return None;
                }
                f.cut(chunk)
            }
        };
        *scanned = 0;
        Some(len)
    }
}

/// Iterator over the chunks of an in-memory buffer; see
/// [`ChunkEngine::chunks`].
#[derive(Debug, Clone)]
pub struct SliceChunks<'a> {
    engine: &'a ChunkEngine,
    data: &'a [u8],
}

impl<'a> Iterator for SliceChunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = self.engine.decide(self.data, &mut 0, true)?;
        let (chunk, rest) = self.data.split_at(len);
        self.data = rest;
        Some(chunk)
    }
}

impl std::iter::FusedIterator for SliceChunks<'_> {}
