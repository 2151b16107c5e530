//! Proof that a restore changed nothing outside its target: a fingerprint
//! of every path below a directory, taken before and compared after.
//! Used by the library's restore tests and by `cairn-cli`'s, which craft
//! the same hostile snapshots and restore them through the binary.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Everything about one path that a restore must not change: type and
/// mode, mtime (with nanoseconds), owner and group, and content (a file's
/// bytes, a directory's sorted names, a symlink's target). Does not follow
/// a symlink.
pub fn fingerprint(p: &Path) -> String {
    let m = fs::symlink_metadata(p).unwrap();
    let content = if m.is_dir() {
        let mut names: Vec<_> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        format!("{names:?}")
    } else if m.is_file() {
        format!("{:?}", fs::read(p).unwrap())
    } else {
        format!("{:?}", fs::read_link(p).unwrap())
    };
    format!(
        "{:o} {}.{} {}:{} {content}",
        m.mode(),
        m.mtime(),
        m.mtime_nsec(),
        m.uid(),
        m.gid()
    )
}

/// The [`fingerprint`] of `dir` and of every path below it (without
/// following symlinks), sorted by path.
pub fn fingerprint_tree(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
        out.push((p.clone(), fingerprint(&p)));
    }
    out.sort();
    out
}
