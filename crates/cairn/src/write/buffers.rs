//! Keeping large buffers from inflating memory, and reusing buffers and
//! compression contexts.
//!
//! Backups and restores allocate and free many buffers of a megabyte or
//! more (chunks, sealed blobs, 16 MiB packs, pack ranges) from several
//! threads. glibc's malloc serves such sizes with `mmap` at first, but
//! raises its mmap threshold to the size of every mmapped block that is
//! freed (up to 32 MiB), after which these buffers come from per-thread
//! heap arenas, where freed memory mostly stays resident and fragments.
//! Measured on a 1 GiB backup, this added about 70 MiB of peak RSS (156
//! instead of about 80 MiB), and about 30 MiB to a restore.
//! [`return_large_buffers`] fixes the threshold at [`MMAP_THRESHOLD`], so
//! every buffer of that size or more is unmapped as soon as it is freed.
//!
//! The price of unmapping is paid again at the next allocation: every page
//! of a fresh mapping faults in and is zeroed by the kernel. Buffers made
//! for every chunk, sealed blob and pack cost a 1 GiB backup about 400,000
//! page faults (restic: about 20,000), a quarter of its CPU time. So the
//! buffers of the hot path are reused instead: a [`BufferPool`] for
//! chunks, which move between threads, and a per-thread buffer for sealing
//! ([`with_sealed`]). Pack buffers are not pooled: a kept 16 MiB buffer
//! raised the backup's peak memory by as much, for a few thousand faults
//! per pack.

use super::Compression;
use cairn_crypto::MasterKey;
use std::cell::RefCell;
use std::sync::Mutex;

/// Allocations of at least this many bytes get their own mapping, given
/// back to the system when freed.
pub const MMAP_THRESHOLD: usize = 1 << 20;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`] for this process
/// (once; later calls do nothing). Other C libraries do not have the
/// problem this solves, so this does nothing there.
pub(crate) fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes a tuning parameter of glibc's
            // allocator (it takes the allocator's own lock); it touches no
            // memory of ours and is safe to call at any time, from any
            // thread. A failure (return 0) leaves the default in place.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
            }
        });
    }
}

/// Asks the kernel to back the whole 2 MiB pages inside `buf`'s capacity
/// with transparent huge pages (when the kernel's THP mode is `always` or
/// `madvise`; with `never` this does nothing). A pack buffer is written
/// from end to end within moments: one fault per 2 MiB instead of 512,
/// which in a VM are each a first touch of memory the host may have taken
/// back.
pub(crate) fn prefer_huge_pages(buf: &Vec<u8>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = buf.as_ptr() as usize;
        let end = start + buf.capacity();
        let first = start.next_multiple_of(HUGE);
        let last = end - end % HUGE;
        if last > first {
            // SAFETY: madvise only gives the kernel advice about how to
            // back the pages of this range, which lies inside `buf`'s own
            // allocation (whole 2 MiB pages between its start and the end
            // of its capacity). MADV_HUGEPAGE never changes the contents
            // or the mapping's validity; a failure (e.g. THP disabled)
            // leaves everything as it was.
            let range = buf.as_ptr().wrapping_add(first - start);
            unsafe {
                libc::madvise(
                    range.cast_mut().cast::<libc::c_void>(),
                    last - first,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
}

/// A bounded stock of byte buffers for reuse. [`BufferPool::take`] hands
/// out an empty buffer, [`BufferPool::give`] takes one back; at most
/// `keep` buffers of at most `max_capacity` bytes are kept, so the pool
/// never holds more than `keep * max_capacity` bytes.
pub(crate) struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    keep: usize,
    max_capacity: usize,
}

impl BufferPool {
    pub(crate) const fn new(keep: usize, max_capacity: usize) -> Self {
        BufferPool {
            free: Mutex::new(Vec::new()),
            keep,
            max_capacity,
        }
    }

    /// An empty buffer with room for at least `len` bytes: the smallest
    /// kept buffer that fits, else the largest one grown, else a new one.
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        let found = {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            let fit = free
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            let largest = || (0..free.len()).max_by_key(|&i| free[i].capacity());
            fit.or_else(largest).map(|i| free.swap_remove(i))
        };
        let mut buf = found.unwrap_or_default();
        buf.reserve_exact(len);
        buf
    }

    /// Keeps `buf` for a later [`take`](Self::take) if there is room.
    pub(crate) fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > self.max_capacity {
            return;
        }
        buf.clear();
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.keep {
            free.push(buf);
        }
    }
}

/// Chunks waiting to be sealed: up to 8 MiB of each file being read are
/// in flight (the archiver's `CONTENT_IN_FLIGHT`), most chunks are 0.5 to
/// 2 MiB.
pub(crate) static CHUNK_BUFFERS: BufferPool = BufferPool::new(12, 2 << 20);

thread_local! {
    static SEALED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Seals `plain` into this thread's reusable buffer and hands the sealed
/// bytes to `f`.
pub(crate) fn with_sealed<R>(key: &MasterKey, plain: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    SEALED.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            key.seal_into(plain, &mut buf);
            f(&buf)
        }
        // Only reachable if `f` seals again on this thread: a buffer of
        // its own then.
        Err(_) => f(&key.seal(plain)),
    })
}

/// A zstd context set up for `mode` (its level, clamped to zstd's range,
/// and its hash log), or `None` for [`Compression::Off`] or a context
/// zstd cannot make.
fn new_context(mode: Compression) -> Option<zstd::bulk::Compressor<'static>> {
    let range = zstd::compression_level_range();
    let level = mode.zstd_level()?.clamp(*range.start(), *range.end());
    let mut context = zstd::bulk::Compressor::new(level).ok()?;
    if let Some(log) = mode.zstd_hash_log() {
        context
            .set_parameter(zstd::zstd_safe::CParameter::HashLog(log))
            .ok()?;
    }
    Some(context)
}

/// zstd-compresses a blob as `mode` says into a single frame without
/// checksum, with a context of its own. The bytes are exactly what
/// [`with_compressed`] gives. Panics for [`Compression::Off`].
pub(crate) fn compress_once(plain: &[u8], mode: Compression) -> Vec<u8> {
    let mut context = new_context(mode).expect("a zstd context for a compressing mode");
    context
        .compress(plain)
        .expect("zstd compression into memory cannot fail")
}

/// One zstd context per thread and mode, with its output buffer:
/// creating a context per blob costs an allocation of about a megabyte and
/// its zeroing, and a fresh output buffer per blob its page faults. The
/// buffer keeps the capacity of the largest blob this thread compressed
/// (at most about one 8 MiB chunk).
struct ThreadCompressor {
    mode: Compression,
    context: zstd::bulk::Compressor<'static>,
    out: Vec<u8>,
}

thread_local! {
    static COMPRESSOR: RefCell<Option<ThreadCompressor>> = const { RefCell::new(None) };
}

/// zstd-compresses a blob as `mode` says with this thread's context and
/// buffer, and hands the result to `f`. The bytes are exactly what
/// [`compress_once`] gives. Panics for [`Compression::Off`].
pub(crate) fn with_compressed<R>(plain: &[u8], mode: Compression, f: impl FnOnce(&[u8]) -> R) -> R {
    COMPRESSOR.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            // Only if `f` compresses again on this thread: one-shot then.
            return f(&compress_once(plain, mode));
        };
        if slot.as_ref().is_none_or(|c| c.mode != mode) {
            *slot = new_context(mode).map(|context| ThreadCompressor {
                mode,
                context,
                out: Vec::new(),
            });
        }
        if let Some(c) = slot.as_mut() {
            c.out.clear();
            c.out.reserve(zstd::zstd_safe::compress_bound(plain.len()));
            if c.context.compress_to_buffer(plain, &mut c.out).is_ok() {
                return f(&c.out);
            }
        }
        // A context that cannot be made or used: the one-shot path.
        f(&compress_once(plain, mode))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_bytes_as_one_shot_compression(
            blobs in proptest::collection::vec(proptest::collection::vec(0u8..4, 1..5000), 1..6),
            mode in prop_oneof![Just(Compression::Fastest), Just(Compression::Auto), Just(Compression::Better)],
        ) {
            for b in &blobs {
                let once = compress_once(b, mode);
                prop_assert_eq!(with_compressed(b, mode, <[u8]>::to_vec), once.clone());
                prop_assert_eq!(cairn_format::decompress_blob(&once, b.len() as u32).unwrap(), b.clone());
            }
        }
    }

    #[test]
    fn pools_hand_out_fitting_empty_buffers_and_keep_a_bounded_number() {
        let pool = BufferPool::new(2, 1000);
        for cap in [100, 500, 2000, 300] {
            pool.give(Vec::with_capacity(cap));
        }
        // 2000 exceeds max_capacity; only two of the others were kept.
        assert_eq!(pool.free.lock().unwrap().len(), 2);
        let b = pool.take(200);
        assert!(b.is_empty() && b.capacity() >= 200);
        assert_eq!(b.capacity(), 500, "smallest kept buffer that fits");
        let big = pool.take(5000);
        assert!(big.capacity() >= 5000);
        assert!(pool.free.lock().unwrap().is_empty());
        let mut used = vec![1u8; 10];
        used.reserve(100);
        pool.give(used);
        assert!(pool.take(1).is_empty(), "given buffers come back cleared");
    }

    #[test]
    fn sealed_buffers_open_to_the_plaintext() {
        let key = MasterKey::generate();
        for plain in [&b""[..], b"abc", &[9u8; 70_000]] {
            let sealed = with_sealed(&key, plain, <[u8]>::to_vec);
            assert_eq!(key.open(&sealed).unwrap(), plain);
            // Nested use on one thread still works.
            let nested = with_sealed(&key, plain, |outer| {
                with_sealed(&key, b"x", |inner| (outer.to_vec(), inner.to_vec()))
            });
            assert_eq!(key.open(&nested.0).unwrap(), plain);
            assert_eq!(key.open(&nested.1).unwrap(), b"x");
        }
    }

    #[test]
    fn switching_modes_reuses_nothing_wrong() {
        let data = vec![7u8; 100_000];
        for mode in [
            Compression::Auto,
            Compression::Max,
            Compression::Auto,
            Compression::Fastest,
        ] {
            assert_eq!(
                with_compressed(&data, mode, <[u8]>::to_vec),
                compress_once(&data, mode)
            );
        }
    }

    #[test]
    fn auto_sets_its_hash_log_on_top_of_its_level() {
        // Text whose repeats sit far apart: a bigger match table finds
        // more of them, so the setting must show in the output.
        let mut text = Vec::new();
        let mut x = 1u64;
        while text.len() < 2 << 20 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.extend_from_slice(format!("word{} ", (x >> 33) % 200_000).as_bytes());
        }
        let auto = compress_once(&text, Compression::Auto);
        let level_only =
            zstd::bulk::compress(&text, Compression::Auto.zstd_level().unwrap()).unwrap();
        assert_ne!(auto, level_only);
        assert_eq!(
            cairn_format::decompress_blob(&auto, text.len() as u32).unwrap(),
            text
        );
    }
}
