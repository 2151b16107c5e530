//! Helpers shared by the backend tests of remote stores: opening a
//! location with `-o` options, sorted listings, and file names.
#![allow(dead_code)]

pub mod sshd;

use cairn_backend::{open, Backend, BackendOptions, FileType, Location};
use std::sync::Arc;

pub const PACK1: &str = "aa11000000000000000000000000000000000000000000000000000000000000";
pub const PACK2: &str = "ff22000000000000000000000000000000000000000000000000000000000000";
pub const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Opens `repo` (no wrappers) with `-o` `options`.
pub fn open_with<S: AsRef<str>>(
    repo: &str,
    options: &[S],
) -> cairn_backend::Result<Arc<dyn Backend>> {
    let mut opts = BackendOptions::default();
    opts.set_extended(options)?;
    open(&Location::parse(repo)?, &opts)
}

/// The files of one type as (name, size), sorted.
pub fn sorted(be: &dyn Backend, t: FileType) -> Vec<(String, u64)> {
    let mut v: Vec<_> = be
        .list(t)
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.size))
        .collect();
    v.sort();
    v
}

/// Writes `each` packs from each of `threads` threads at once, reading
/// every one back; returns the bytes written.
pub fn write_from_threads(be: &Arc<dyn Backend>, threads: u8, each: u8) -> u64 {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let be = Arc::clone(be);
            std::thread::spawn(move || {
                let mut total = 0;
                for i in 0..each {
                    let name = format!("{t:02x}{i:02x}{}", "0".repeat(60));
                    let data = vec![t ^ i; 1000 + usize::from(i) * 1000];
                    be.write(FileType::Pack, &name, &data).unwrap();
                    assert_eq!(be.read(FileType::Pack, &name).unwrap(), data);
                    total += data.len() as u64;
                }
                total
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

/// Opening failed within 20 s, with a permanent error on one line that
/// starts with `prefix` (the backend) and says each of `wanted`.
pub fn assert_fails_quickly_in_one_line(
    started: std::time::Instant,
    result: cairn_backend::Result<Arc<dyn Backend>>,
    prefix: &str,
    wanted: &[&str],
) {
    let err = result.err().expect("must fail");
    let text = err.to_string();
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(20),
        "took {took:?}: {text}"
    );
    assert!(!text.contains('\n'), "{text}");
    assert!(text.starts_with(prefix), "names the backend: {text}");
    for w in wanted {
        assert!(text.contains(w), "{w:?} not in {text}");
    }
    assert!(!err.is_transient(), "{text}");
}

/// Opens a backend with `open` and uses it (see [`exercise`]) from inside
/// a tokio task, first on a multi-thread runtime, then on a
/// current-thread one, and drops it there: what an async embedder does.
/// A backend that blocks on a runtime of its own without stepping outside
/// the caller's panics here ("Cannot start a runtime from within a
/// runtime").
pub fn in_tokio_tasks(open: impl Fn() -> Arc<dyn Backend> + Send + Sync + 'static) {
    let open = Arc::new(open);
    let runtimes = [
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    ];
    for rt in runtimes {
        let open = Arc::clone(&open);
        let task =
            rt.block_on(async move { tokio::spawn(async move { exercise(&*open()) }).await });
        if let Err(e) = task {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// Writes, lists, stats, reads (whole and a range) and removes one pack.
pub fn exercise(be: &dyn Backend) {
    let name = "cc33".to_string() + &"0".repeat(60);
    be.write(FileType::Pack, &name, b"0123456789").unwrap();
    assert!(be
        .list(FileType::Pack)
        .unwrap()
        .iter()
        .any(|f| f.name == name && f.size == 10));
    assert_eq!(be.stat(FileType::Pack, &name).unwrap().size, 10);
    assert_eq!(be.read(FileType::Pack, &name).unwrap(), b"0123456789");
    assert_eq!(be.read_range(FileType::Pack, &name, 2, 3).unwrap(), b"234");
    be.remove(FileType::Pack, &name).unwrap();
    assert!(be.stat(FileType::Pack, &name).unwrap_err().is_not_found());
}
