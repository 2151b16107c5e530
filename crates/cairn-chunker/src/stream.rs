//! [`Chunker`]: chunks from any [`Read`], through one reusable buffer.

use std::io::{self, Read};

use crate::ChunkEngine;

/// First buffer size; it doubles as needed up to about twice the
/// largest chunk.
const INITIAL_BUFFER: usize = 256 * 1024;

/// Cuts the bytes of a reader into chunks.
///
/// [`Chunker::read_chunk`] lends each chunk as a slice of the internal
/// buffer, so the steady state allocates nothing; the [`Iterator`]
/// implementation copies each chunk into a `Vec` for convenience. Keep
/// the buffer across files with [`Chunker::with_buffer`] and
/// [`Chunker::into_parts`].
///
/// Boundaries do not depend on how the reader splits its data: short
/// reads and `Interrupted` errors are handled. After another error the
/// read can be retried by calling again; no data is lost.
#[derive(Debug)]
pub struct Chunker<R> {
    engine: ChunkEngine,
    reader: R,
    buf: Vec<u8>,
    /// Start of the current chunk in `buf`.
    start: usize,
    /// End of the valid bytes in `buf`.
    end: usize,
    /// Progress of the boundary search within the current chunk.
    scanned: usize,
    eof: bool,
    /// Stream offset of `buf[start]`.
    offset: u64,
}

impl<R: Read> Chunker<R> {
    /// A chunker with a fresh buffer.
    pub fn new(engine: ChunkEngine, reader: R) -> Chunker<R> {
        Self::with_buffer(engine, reader, Vec::new())
    }

    /// A chunker reusing `buffer`'s allocation (its contents are ignored).
    pub fn with_buffer(engine: ChunkEngine, reader: R, mut buffer: Vec<u8>) -> Chunker<R> {
        // Keep the initialized length: resizing later only zeroes new room.
        buffer.resize(buffer.capacity(), 0);
        Chunker {
            engine,
            reader,
            buf: buffer,
            start: 0,
            end: 0,
            scanned: 0,
            eof: false,
            offset: 0,
        }
    }

    /// The reader and the buffer, for reuse.
    pub fn into_parts(self) -> (R, Vec<u8>) {
        (self.reader, self.buf)
    }

    /// Stream offset at which the next chunk starts (after a chunk was
    /// returned: the offset just past it).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next chunk, `Ok(None)` at the end of the stream. An empty
    /// stream has no chunks.
    pub fn read_chunk(&mut self) -> io::Result<Option<&[u8]>> {
        loop {
            let chunk = &self.buf[self.start..self.end];
            if let Some(len) = self.engine.decide(chunk, &mut self.scanned, self.eof) {
                let start = self.start;
                self.start += len;
                self.offset += len as u64;
                return Ok(Some(&self.buf[start..start + len]));
            }
            if self.eof {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Make room if needed, then read once.
    fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            let pending = self.end - self.start;
            let cap = 2 * self.engine.max_size();
            if self.start > 0 && (pending <= self.buf.len() / 2 || self.buf.len() >= cap) {
                self.buf.copy_within(self.start..self.end, 0);
                self.start = 0;
                self.end = pending;
            } else {
                let grown = (self.buf.len() * 2).clamp(INITIAL_BUFFER, cap.max(INITIAL_BUFFER));
                self.buf.resize(grown.max(self.buf.len() + 1), 0);
            }
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }
}

impl<R: Read> Iterator for Chunker<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_chunk().map(|c| c.map(<[u8]>::to_vec)).transpose()
    }
}
