//! A thorough directory-tree comparator for restored trees.
//!
//! `Tree::scan` records, for every entry below a root (names as raw bytes):
//! file type, full `st_mode` (permission bits plus setuid/setgid/sticky),
//! uid/gid, size, mtime and atime to the nanosecond, device numbers, symlink
//! target as raw bytes, xattrs (names and raw values), the hard-link group
//! (all paths in the tree sharing the inode) and, for regular files, the
//! content.  All entries are `lstat`ed before anything is read (directory
//! listings come right after the directory's own lstat; readlink, file content
//! and xattrs in a second pass), so reading does not disturb the atimes that
//! get compared, not even through another name of a hard-linked file.  `diff` reports every difference with its path.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::show_bytes;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    CharDev,
    BlockDev,
    Socket,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// st_mode & 0o7777
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    /// regular files and symlinks only (a directory's size is fs-specific)
    pub size: Option<u64>,
    pub mtime: (i64, i64),
    pub atime: (i64, i64),
    /// st_rdev for device nodes
    pub rdev: Option<u64>,
    pub link_target: Option<Vec<u8>>,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// other paths in the tree with the same inode (regular files only, sorted)
    pub hardlinks: Vec<Vec<u8>>,
    pub content: Option<Vec<u8>>,
    /// raw (dev, ino); not compared, used to build `hardlinks`
    ino: (u64, u64),
    nlink: u64,
}

/// Which attributes to compare.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    pub atime: bool,
    pub mtime: bool,
    pub owner: bool,
    pub xattrs: bool,
    /// compare the metadata of the root directory itself
    pub root_meta: bool,
    /// compare directory atimes too (listing a directory can move its atime)
    pub dir_atime: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            atime: true,
            mtime: true,
            owner: true,
            xattrs: true,
            root_meta: false,
            dir_atime: true,
        }
    }
}

#[derive(Debug)]
pub struct Tree {
    pub root: PathBuf,
    /// relative path (raw bytes, "" for the root) -> entry
    pub entries: BTreeMap<Vec<u8>, Entry>,
}

impl Tree {
    pub fn scan(root: &Path) -> Tree {
        let mut entries = BTreeMap::new();
        // pass 1: lstat everything (a directory is listed only after its own lstat)
        scan_rec(root, Vec::new(), &mut entries);
        // pass 2: read contents, link targets and xattrs
        for (rel, e) in entries.iter_mut() {
            read_contents(&join(root, rel), e);
        }
        // hard-link groups
        let mut by_ino: BTreeMap<(u64, u64), Vec<Vec<u8>>> = BTreeMap::new();
        for (p, e) in &entries {
            if e.kind == Kind::File {
                by_ino.entry(e.ino).or_default().push(p.clone());
            }
        }
        for (p, e) in entries.iter_mut() {
            if e.kind == Kind::File {
                let mut g: Vec<Vec<u8>> =
                    by_ino[&e.ino].iter().filter(|q| *q != p).cloned().collect();
                g.sort();
                e.hardlinks = g;
            }
        }
        Tree {
            root: root.to_owned(),
            entries,
        }
    }

    pub fn get(&self, rel: &str) -> Option<&Entry> {
        self.entries.get(rel.as_bytes())
    }

    /// Relative paths of all entries, for messages.
    pub fn paths(&self) -> Vec<String> {
        self.entries.keys().map(|k| show_bytes(k)).collect()
    }
}

fn join(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        root.to_owned()
    } else {
        root.join(OsStr::from_bytes(rel))
    }
}

fn scan_rec(root: &Path, rel: Vec<u8>, out: &mut BTreeMap<Vec<u8>, Entry>) {
    let path = join(root, &rel);
    // 1. lstat first: nothing below may touch the atime before we record it.
    let md =
        fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
    let ft = md.file_type();
    let kind = if ft.is_file() {
        Kind::File
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_char_device() {
        Kind::CharDev
    } else if ft.is_block_device() {
        Kind::BlockDev
    } else if ft.is_socket() {
        Kind::Socket
    } else {
        panic!("unknown file type at {}", path.display())
    };
    let e = Entry {
        kind,
        perm: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: matches!(kind, Kind::File | Kind::Symlink).then(|| md.size()),
        mtime: (md.mtime(), md.mtime_nsec()),
        atime: (md.atime(), md.atime_nsec()),
        rdev: matches!(kind, Kind::CharDev | Kind::BlockDev).then(|| md.rdev()),
        link_target: None,
        xattrs: BTreeMap::new(),
        hardlinks: Vec::new(),
        content: None,
        ino: (md.dev(), md.ino()),
        nlink: md.nlink(),
    };
    // Reading a file, a symlink or xattrs happens in a second pass (see
    // `read_contents`): hard links share one atime, so reading any name of
    // an inode before all its names were lstat'ed would move the atime.
    let is_dir = kind == Kind::Dir;
    out.insert(rel.clone(), e);
    if is_dir {
        let mut names: Vec<Vec<u8>> = fs::read_dir(&path)
            .unwrap_or_else(|err| panic!("read_dir {}: {err}", path.display()))
            .map(|d| d.unwrap().file_name().as_bytes().to_vec())
            .collect();
        names.sort();
        for n in names {
            let mut child = rel.clone();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(&n);
            scan_rec(root, child, out);
        }
    }
}

fn read_contents(path: &Path, e: &mut Entry) {
    e.xattrs = read_xattrs(path);
    match e.kind {
        Kind::Symlink => {
            e.link_target = Some(
                fs::read_link(path)
                    .unwrap()
                    .into_os_string()
                    .into_vec_bytes(),
            );
        }
        Kind::File => {
            let mut buf = Vec::new();
            match fs::File::open(path) {
                Ok(mut f) => {
                    f.read_to_end(&mut buf).unwrap();
                }
                Err(err) => panic!("open {}: {err}", path.display()),
            }
            e.content = Some(buf);
        }
        _ => {}
    }
}

trait IntoVecBytes {
    fn into_vec_bytes(self) -> Vec<u8>;
}
impl IntoVecBytes for std::ffi::OsString {
    fn into_vec_bytes(self) -> Vec<u8> {
        use std::os::unix::ffi::OsStringExt;
        self.into_vec()
    }
}

/// All extended attributes of `path` (not following symlinks).
pub fn read_xattrs(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 4096];
    let n = loop {
        // SAFETY: valid C string and buffer of the given length.
        let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
        if n >= 0 {
            break n as usize;
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) => names.resize(names.len() * 4, 0),
            Some(libc::ENOTSUP) => return out,
            _ => panic!("llistxattr {}: {err}", path.display()),
        }
    };
    for name in names[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let cname = CString::new(name).unwrap();
        let mut val = vec![0u8; 1024];
        loop {
            // SAFETY: valid C strings and buffer of the given length.
            let m = unsafe {
                libc::lgetxattr(
                    c.as_ptr(),
                    cname.as_ptr(),
                    val.as_mut_ptr().cast(),
                    val.len(),
                )
            };
            if m >= 0 {
                val.truncate(m as usize);
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ERANGE) {
                val.resize(val.len() * 4, 0);
            } else {
                panic!("lgetxattr {} {}: {err}", path.display(), show_bytes(name));
            }
        }
        out.insert(name.to_vec(), val);
    }
    out
}

/// Set an xattr (for the comparator's own tests).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: valid C strings and buffer.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "lsetxattr {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Set atime and mtime (seconds, nanoseconds) without following symlinks.
pub fn set_times(path: &Path, atime: (i64, i64), mtime: (i64, i64)) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let ts = [
        libc::timespec {
            tv_sec: atime.0 as libc::time_t,
            tv_nsec: atime.1 as _,
        },
        libc::timespec {
            tv_sec: mtime.0 as libc::time_t,
            tv_nsec: mtime.1 as _,
        },
    ];
    // SAFETY: valid C string and two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(
        r,
        0,
        "utimensat {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn fmt_time(t: (i64, i64)) -> String {
    format!("{}.{:09}", t.0, t.1)
}

fn fmt_content(c: &[u8]) -> String {
    if c.len() <= 64 {
        format!("{:?}", String::from_utf8_lossy(c))
    } else {
        format!("{} bytes", c.len())
    }
}

/// Every difference between `expected` (e.g. restic's restore) and `actual`
/// (Cairn's), one line each, prefixed with the relative path.
pub fn diff(expected: &Tree, actual: &Tree, opts: Opts) -> Vec<String> {
    let mut d = Vec::new();
    for (p, e) in &expected.entries {
        let name = if p.is_empty() {
            "<root>".to_owned()
        } else {
            show_bytes(p)
        };
        let Some(a) = actual.entries.get(p) else {
            d.push(format!("{name}: missing (expected {:?})", e.kind));
            continue;
        };
        if p.is_empty() && !opts.root_meta {
            continue;
        }
        if e.kind != a.kind {
            d.push(format!(
                "{name}: type {:?} expected, got {:?}",
                e.kind, a.kind
            ));
            continue;
        }
        // Linux ignores permission bits of symlinks (always 0777)
        if e.perm != a.perm && e.kind != Kind::Symlink {
            d.push(format!(
                "{name}: mode {:04o} expected, got {:04o}",
                e.perm, a.perm
            ));
        }
        if opts.owner && (e.uid, e.gid) != (a.uid, a.gid) {
            d.push(format!(
                "{name}: owner {}:{} expected, got {}:{}",
                e.uid, e.gid, a.uid, a.gid
            ));
        }
        if e.size != a.size {
            d.push(format!(
                "{name}: size {:?} expected, got {:?}",
                e.size, a.size
            ));
        }
        if opts.mtime && e.mtime != a.mtime {
            d.push(format!(
                "{name}: mtime {} expected, got {}",
                fmt_time(e.mtime),
                fmt_time(a.mtime)
            ));
        }
        if opts.atime && (opts.dir_atime || e.kind != Kind::Dir) && e.atime != a.atime {
            d.push(format!(
                "{name}: atime {} expected, got {}",
                fmt_time(e.atime),
                fmt_time(a.atime)
            ));
        }
        if e.rdev != a.rdev {
            d.push(format!(
                "{name}: device {:?} expected, got {:?}",
                e.rdev, a.rdev
            ));
        }
        if e.link_target != a.link_target {
            d.push(format!(
                "{name}: symlink target {:?} expected, got {:?}",
                e.link_target.as_deref().map(show_bytes),
                a.link_target.as_deref().map(show_bytes)
            ));
        }
        if opts.xattrs && e.xattrs != a.xattrs {
            let show = |m: &BTreeMap<Vec<u8>, Vec<u8>>| {
                m.iter()
                    .map(|(k, v)| format!("{}={:?}", show_bytes(k), show_bytes(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            d.push(format!(
                "{name}: xattrs {{{}}} expected, got {{{}}}",
                show(&e.xattrs),
                show(&a.xattrs)
            ));
        }
        if e.hardlinks != a.hardlinks {
            let show = |v: &Vec<Vec<u8>>| {
                v.iter()
                    .map(|x| show_bytes(x))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            d.push(format!(
                "{name}: hard-linked with [{}] expected, got [{}]",
                show(&e.hardlinks),
                show(&a.hardlinks)
            ));
        }
        if e.content != a.content {
            let (ec, ac) = (
                e.content.as_deref().unwrap_or(&[]),
                a.content.as_deref().unwrap_or(&[]),
            );
            let first = ec
                .iter()
                .zip(ac)
                .position(|(x, y)| x != y)
                .unwrap_or(ec.len().min(ac.len()));
            d.push(format!(
                "{name}: content differs at byte {first} (expected {}, got {})",
                fmt_content(ec),
                fmt_content(ac)
            ));
        }
    }
    for (p, a) in &actual.entries {
        if !expected.entries.contains_key(p) {
            d.push(format!("{}: unexpected {:?}", show_bytes(p), a.kind));
        }
    }
    d
}

/// Panic listing every difference.
pub fn assert_same(what: &str, expected: &Path, actual: &Path, opts: Opts) {
    let e = Tree::scan(expected);
    let a = Tree::scan(actual);
    let d = diff(&e, &a, opts);
    assert!(
        d.is_empty(),
        "{what}: restored trees differ in {} place(s) (expected = restic at {}, got = cairn at {}):\n  {}",
        d.len(),
        expected.display(),
        actual.display(),
        d.iter().take(200).cloned().collect::<Vec<_>>().join("\n  ")
    );
}
