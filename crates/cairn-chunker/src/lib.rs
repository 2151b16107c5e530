//! Content-defined chunking, byte-compatible with restic.
//!
//! restic splits file contents into chunks with a Rabin fingerprint over a
//! sliding 64-byte window, using a random irreducible polynomial of degree
//! 53 stored in each repository's config. Identical chunks deduplicate, so
//! Cairn must cut exactly where restic cuts. This crate provides:
//!
//! * [`Polynomial`] — generation ([`Polynomial::random`]), the
//!   irreducibility check and config hex form; raw GF(2) arithmetic lives
//!   in [`gf2`].
//! * [`Rabin`] — per-polynomial tables plus in-memory boundary search
//!   ([`Rabin::find_boundary`]) and a piecewise, restic-style state machine
//!   ([`Rabin::next_split_point`] with [`RabinState`]).
//! * [`ChunkerKind`] / [`ChunkEngine`] — Rabin or (not restic-compatible)
//!   FastCDC behind one interface, for memory ([`ChunkEngine::chunks`]) or
//!   any reader ([`Chunker`]).
//!
//! ```
//! use cairn_chunker::{ChunkerKind, Polynomial};
//!
//! // The polynomial normally comes from the repository config.
//! let pol: Polynomial = "3da3358b4dc173".parse()?;
//! assert!(pol.is_irreducible());
//! let engine = ChunkerKind::Rabin(pol).build()?;
//!
//! // Zeros always cut at the minimum chunk size, 512 KiB.
//! let data = vec![0u8; 1_300_000];
//! let mut chunker = engine.chunker(&data[..]);
//! let mut sizes = Vec::new();
//! while let Some(chunk) = chunker.read_chunk()? {
//!     sizes.push(chunk.len());
//! }
//! assert_eq!(sizes, [524_288, 524_288, 251_424]);
//!
//! // The same boundaries from memory, without copying.
//! let lens: Vec<usize> = engine.chunks(&data).map(<[u8]>::len).collect();
//! assert_eq!(lens, sizes);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cdc;
mod engine;
mod error;
pub mod gf2;
mod polynomial;
mod rabin;
mod scan;
mod stream;

pub use engine::{ChunkEngine, ChunkerKind, SliceChunks};
pub use error::Error;
pub use polynomial::{Polynomial, MAX_TRIES};
pub use rabin::{Rabin, RabinSizes, RabinState, MAX_SIZE, MIN_SIZE, SPLIT_MASK, WINDOW_SIZE};
pub use stream::Chunker;
