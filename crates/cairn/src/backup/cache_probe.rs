//! Whether the files a backup reads are in the page cache already, so that
//! reading ahead (the `prefetch` module) is only paid for when it helps.
//!
//! Reading a file ahead costs an open, a status call, the advice and a
//! close on a third thread: about as many system calls as reading a small
//! file itself. When the files are cached already (a backup right after a
//! build, or of files just read), all of that is wasted. A [`Gate`]
//! decides whether to read ahead. It starts open, as a cold backup needs.
//! The prefetch thread first asks the kernel, without waiting for the disk
//! (`preadv2` with `RWF_NOWAIT`), whether the start of a file is cached,
//! and gives its advice only if it is not; after [`CLOSE_AFTER`] files in
//! a row that were cached, the gate closes and nothing more is asked for.
//! The archiver's first read of every file is such a non-waiting read too
//! ([`ProbedFile`]): if the kernel would have to wait for the disk
//! (`EAGAIN`), the read is made again normally and the gate opens again.
//! Where non-waiting reads are not supported nothing is learnt, and the
//! gate stays open for good.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Files in a row found cached by the prefetch thread after which it stops
/// reading ahead.
pub(crate) const CLOSE_AFTER: u64 = 256;

/// Whether to read ahead (see the [module](self) docs). Shared by the
/// archiver's threads and the prefetch thread.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    closed: AtomicBool,
    /// Set when non-waiting reads failed as unsupported: stays open.
    blind: AtomicBool,
    cached_in_a_row: AtomicU64,
    /// How often the gate opened again after being closed.
    reopened: AtomicU64,
}

impl Gate {
    /// True while reading ahead is worth it.
    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Relaxed)
    }

    /// How many times the gate opened again after being closed; the
    /// archiver asks again for what it skipped when this changes.
    pub fn reopened(&self) -> u64 {
        self.reopened.load(Ordering::Relaxed)
    }

    /// The prefetch thread found a file's start cached.
    pub fn found_cached(&self) {
        let in_a_row = self.cached_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row >= CLOSE_AFTER && !self.blind.load(Ordering::Relaxed) {
            self.closed.store(true, Ordering::Relaxed);
        }
    }

    /// Some reader found a file's start not cached.
    pub fn found_uncached(&self) {
        self.cached_in_a_row.store(0, Ordering::Relaxed);
        if self.closed.swap(false, Ordering::Relaxed) {
            self.reopened.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What a non-waiting read's outcome says about the cache.
    fn learn(&self, outcome: &io::Result<usize>) {
        match outcome {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => self.found_uncached(),
            Err(e) if is_unsupported(e) => {
                self.blind.store(true, Ordering::Relaxed);
                self.found_uncached();
            }
            Err(_) => {}
        }
    }
}

/// `EOPNOTSUPP`, `EINVAL` or `ENOSYS`: the file system or kernel cannot
/// read without waiting.
fn is_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(c) if c == libc::EOPNOTSUPP || c == libc::EINVAL || c == libc::ENOSYS)
}

/// Reads into `buf` from `file`'s current position (advancing it) only
/// if the data is in the page cache: `EAGAIN` if the kernel would have to
/// wait for the disk. A short count means only that much was cached.
pub(crate) fn read_if_cached(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes exactly `buf`, a live, writable slice that
    // is borrowed mutably for the whole call, so the kernel writes at
    // most `buf.len()` bytes into memory nothing else uses. One iovec is
    // passed and it outlives the call. Offset -1 means the file's own
    // position, which `file` owns; the descriptor is open while `file`
    // lives.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Whether the start of the open `file` is cached, as the prefetch thread
/// asks before giving advice (reading one byte of it); the answer is
/// recorded in `gate`. True only if it is known to be cached.
pub(crate) fn start_is_cached(file: &File, gate: &Gate) -> bool {
    let outcome = read_if_cached(file, &mut [0u8; 1]);
    gate.learn(&outcome);
    if outcome.is_ok() {
        gate.found_cached();
    }
    outcome.is_ok()
}

/// A file whose first read is a non-waiting one, to learn whether files
/// are cached; it reports a file that is not to the gate and then reads
/// normally. Later reads are plain reads.
pub(crate) struct ProbedFile<'g> {
    file: File,
    gate: Option<&'g Gate>,
}

impl<'g> ProbedFile<'g> {
    /// `file` (opened, at its start), probed on its first read if `gate`
    /// is given.
    pub fn new(file: File, gate: Option<&'g Gate>) -> Self {
        ProbedFile { file, gate }
    }
}

impl Read for ProbedFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(gate) = self.gate.take() {
            if !gate.blind.load(Ordering::Relaxed) {
                let outcome = read_if_cached(&self.file, buf);
                gate.learn(&outcome);
                if let Ok(n) = outcome {
                    return Ok(n);
                }
            }
        }
        self.file.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_gate_closes_after_enough_cached_files_and_opens_on_a_miss() {
        let gate = Gate::default();
        assert!(gate.is_open());
        for _ in 0..CLOSE_AFTER - 1 {
            gate.found_cached();
        }
        assert!(gate.is_open());
        gate.found_uncached();
        for _ in 0..CLOSE_AFTER - 1 {
            gate.found_cached();
        }
        assert!(gate.is_open(), "a miss starts the count again");
        gate.found_cached();
        assert!(!gate.is_open());
        assert_eq!(gate.reopened(), 0);
        gate.learn(&Err(io::Error::from_raw_os_error(libc::EAGAIN)));
        assert!(gate.is_open() && gate.reopened() == 1);
        gate.learn(&Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)));
        for _ in 0..2 * CLOSE_AFTER {
            gate.found_cached();
        }
        assert!(gate.is_open(), "without non-waiting reads it stays open");
    }

    #[test]
    fn probed_files_read_whole_and_report_evicted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut f = File::create(&path).unwrap();
        f.write_all(&data).unwrap();
        f.sync_all().unwrap();
        drop(f);
        let gate = Gate::default();
        let mut read = Vec::new();
        ProbedFile::new(File::open(&path).unwrap(), Some(&gate))
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read, data, "a cached file reads whole");
        assert!(start_is_cached(&File::open(&path).unwrap(), &gate));

        let file = File::open(&path).unwrap();
        // SAFETY: advice only, on a descriptor open for the call.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let evicted = matches!(
            read_if_cached(&File::open(&path).unwrap(), &mut [0u8; 1]),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN)
        );
        for _ in 0..CLOSE_AFTER {
            gate.found_cached();
        }
        assert!(!gate.is_open());
        let mut read = Vec::new();
        ProbedFile::new(file, Some(&gate))
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read, data, "an evicted file reads whole");
        if evicted {
            // (Only where the file system can evict the file: not tmpfs.)
            assert!(gate.is_open(), "the miss opened the gate");
        }
    }
}
