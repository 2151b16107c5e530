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
