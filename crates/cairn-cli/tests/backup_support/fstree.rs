//! Builds source trees for the backup tests, from Rust, in a temporary
//! directory: every node type restic records (see `build_full`), plus
//! deterministic pseudo-random content.
#![allow(dead_code)]

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::common::tree::{set_times, set_xattr};

/// Deterministic pseudo-random bytes (splitmix64), `seed` selects the stream.
pub fn prng(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Compressible text made from pseudo-random bytes (hex, one line per 16).
pub fn prtext(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len * 3);
    for (i, b) in prng(len, seed).iter().enumerate() {
        out.extend_from_slice(format!("{b:02x}").as_bytes());
        out.push(if i % 16 == 15 { b'\n' } else { b' ' });
    }
    out
}

pub fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Path below `root` from raw bytes (names that are not UTF-8).
pub fn raw(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(rel))
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

pub fn mknod(path: &Path, kind: libc::mode_t, perm: u32, major: u32, minor: u32) {
    // SAFETY: valid C string.
    let r = unsafe {
        libc::mknod(
            cstr(path).as_ptr(),
            kind | perm as libc::mode_t,
            libc::makedev(major, minor),
        )
    };
    assert_eq!(
        r,
        0,
        "mknod {} (tests must run as root): {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

pub fn mkfifo(path: &Path, perm: u32) {
    mknod(path, libc::S_IFIFO, perm, 0, 0);
}

/// mtime used for every entry not in `times/`: 2020-01-02T03:04:05.5Z.
pub const DEFAULT_MTIME: (i64, i64) = (1_577_934_245, 500_000_000);

/// Sets atime and mtime of every entry below (and including) `root`.
pub fn stamp_all(root: &Path, mtime: (i64, i64)) {
    let md = fs::symlink_metadata(root).unwrap();
    if md.is_dir() {
        for e in fs::read_dir(root).unwrap() {
            stamp_all(&e.unwrap().path(), mtime);
        }
    }
    set_times(root, (mtime.0 + 1000, 123), mtime);
}

/// A tree with every node type restic records, at `root` (created):
/// regular files (empty, small, a 4 MiB multi-chunk file whose first MiB
/// repeats, incompressible, compressible), a sparse file, directories
/// 0700/1777/2775/0555, setuid/setgid files, other owners, symlinks
/// (relative, absolute, dangling, non-UTF-8 and odd targets), hard links,
/// FIFOs, char and block devices, a unix socket (not saved by restic),
/// xattrs (binary, empty, on a directory), non-UTF-8 and odd names, and
/// nanosecond times including pre-1970.
pub fn build_full(root: &Path) {
    fs::create_dir_all(root).unwrap();
    let p = |rel: &str| root.join(rel);

    // regular files
    write(&p("files/empty"), b"");
    write(&p("files/small.txt"), b"hello, cairn\n");
    write(&p("files/no-newline.txt"), b"no trailing newline");
    write(&p("files/medium.bin"), &prng(100_000, 1));
    write(&p("files/text.txt"), &prtext(300_000, 2));
    let block = prng(1 << 20, 3);
    let mut multi = Vec::new();
    for _ in 0..3 {
        multi.extend_from_slice(&block);
    }
    multi.extend_from_slice(&prng(1 << 20, 4));
    write(&p("files/multi-chunk.bin"), &multi);
    write(&p("files/exactly-512KiB.bin"), &prng(512 << 10, 5));

    // sparse: 8 MiB hole with 24 bytes at 4 MiB, and a file that is all hole
    fs::create_dir_all(p("sparse")).unwrap();
    let f = fs::File::create(p("sparse/sparse.img")).unwrap();
    f.set_len(8 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, b"in the middle of nothing", 4 << 20).unwrap();
    fs::File::create(p("sparse/all-hole.img"))
        .unwrap()
        .set_len(1 << 20)
        .unwrap();

    // permission bits
    for (d, mode) in [("d0700", 0o700), ("d1777", 0o1777), ("d2775", 0o2775)] {
        write(
            &p(&format!("perms/{d}/f")),
            format!("inside {d}\n").as_bytes(),
        );
        chmod(&p(&format!("perms/{d}")), mode);
    }
    for (f, mode) in [
        ("setuid", 0o4755),
        ("setgid", 0o2755),
        ("ugt", 0o7751),
        ("r0444", 0o444),
        ("r0000", 0o000),
    ] {
        write(&p(&format!("perms/{f}")), format!("{f}\n").as_bytes());
        chmod(&p(&format!("perms/{f}")), mode);
    }
    write(&p("perms/d0555/f"), b"inside read-only dir\n");
    chmod(&p("perms/d0555"), 0o555);

    // owners (chown before chmod: chown clears setuid)
    write(&p("owner/file-1234"), b"owned by 1234:5678\n");
    lchown(p("owner/file-1234"), Some(1234), Some(5678)).unwrap();
    write(&p("owner/setuid-1234"), b"setuid, owned by 1234\n");
    lchown(p("owner/setuid-1234"), Some(1234), Some(5678)).unwrap();
    chmod(&p("owner/setuid-1234"), 0o4750);
    std::os::unix::fs::symlink("file-1234", p("owner/symlink-1234")).unwrap();
    lchown(p("owner/symlink-1234"), Some(1234), Some(5678)).unwrap();
    write(&p("owner/dir-4321/inner"), b"x\n");
    lchown(p("owner/dir-4321/inner"), Some(4321), Some(8765)).unwrap();
    lchown(p("owner/dir-4321"), Some(4321), Some(8765)).unwrap();
    chmod(&p("owner/dir-4321"), 0o750);

    // symlinks
    fs::create_dir_all(p("links")).unwrap();
    let sl = |target: &[u8], name: &str| {
        std::os::unix::fs::symlink(OsStr::from_bytes(target), p(&format!("links/{name}"))).unwrap()
    };
    sl(b"../files/small.txt", "relative");
    sl(p("files/small.txt").as_os_str().as_bytes(), "absolute");
    sl(b"does/not/exist", "dangling");
    sl(b"../files", "to-dir");
    sl(b"bad-\xff\xfe-target", "non-utf8-target");
    sl(b"tab\there and new\nline", "odd-chars-target");
    sl(b"self-loop", "self-loop");
    sl(&[b'a'; 200], "long-target");

    // hard links
    write(&p("hardlinks/a"), b"one inode, three names\n");
    fs::create_dir_all(p("hardlinks/sub")).unwrap();
    fs::hard_link(p("hardlinks/a"), p("hardlinks/b")).unwrap();
    fs::hard_link(p("hardlinks/a"), p("hardlinks/sub/c")).unwrap();
    write(&p("hardlinks/pair-1"), b"two names\n");
    fs::hard_link(p("hardlinks/pair-1"), p("hardlinks/pair-2")).unwrap();

    // special files
    fs::create_dir_all(p("special")).unwrap();
    mkfifo(&p("special/fifo"), 0o644);
    mkfifo(&p("special/fifo-0600"), 0o600);
    mknod(&p("special/chardev"), libc::S_IFCHR, 0o644, 1, 3);
    mknod(&p("special/chardev-big"), libc::S_IFCHR, 0o644, 254, 65537);
    mknod(&p("special/blockdev"), libc::S_IFBLK, 0o640, 7, 0);
    drop(std::os::unix::net::UnixListener::bind(p("special/socket")).unwrap());

    // xattrs
    write(&p("xattr/file"), b"has xattrs\n");
    set_xattr(&p("xattr/file"), "user.cairn", b"value");
    set_xattr(&p("xattr/file"), "user.binary", b"\x00\xff\x01\xfe\x7f\x80");
    set_xattr(&p("xattr/file"), "user.empty", b"");
    set_xattr(&p("xattr/file"), "user.unicode", "ünïcödé 🪨".as_bytes());
    fs::create_dir_all(p("xattr/dir")).unwrap();
    set_xattr(&p("xattr/dir"), "user.on-dir", b"dir-value");
    set_xattr(&p("xattr/dir"), "user.long", &[b'7'; 1000]);

    // awkward names
    let names = p("names");
    fs::create_dir_all(&names).unwrap();
    let odd: [&[u8]; 14] = [
        b"\xff\xfe",
        b"latin1-caf\xe9",
        b"tab\there",
        b"new\nline",
        b"cr\rhere",
        b"double\"quote",
        b"back\\slash",
        b"nbsp\xc2\xa0here",
        "emoji-🪨-cairn".as_bytes(),
        b"ctrl-\x01\x7f",
        b" leading space",
        b"*star?[glob]",
        b"UPPER.txt",
        b"upper.txt",
    ];
    for (i, n) in odd.iter().enumerate() {
        write(&raw(&names, n), format!("{i}\n").as_bytes());
    }
    write(&raw(&names, b"dir-\xff/inner"), b"inside a non-UTF-8 dir\n");

    // deep nesting
    let mut deep = p("deep");
    for i in 1..=20 {
        deep.push(format!("level{i}"));
    }
    write(&deep.join("bottom.txt"), b"bottom\n");

    // times
    for f in ["nanos", "pre-1970", "epoch", "future"] {
        write(&p(&format!("times/{f}")), format!("{f}\n").as_bytes());
    }
    std::os::unix::fs::symlink("nanos", p("times/symlink")).unwrap();
    write(&p("times/dir-with-time/pre-1970-in-dir"), b"x\n");

    stamp_all(root, DEFAULT_MTIME);
    let t = |rel: &str, m: (i64, i64)| set_times(&p(rel), (m.0 + 7, 5), m);
    t("times/nanos", (1_614_834_367, 123_456_789));
    t("times/pre-1970", (-14_182_940, 999_999_999));
    t("times/epoch", (0, 0));
    t("times/future", (4_105_483_506, 7));
    t("times/symlink", (1_577_836_799, 999_999_999));
    t(
        "times/dir-with-time/pre-1970-in-dir",
        (-147_034_495, 50_505_050),
    );
    t("times/dir-with-time", (1_614_834_367, 123_456_789));
}

/// `n` files of `size` pseudo-random bytes each (seeds from `seed`), spread
/// over a few subdirectories of `root`.
pub fn build_random_files(root: &Path, n: usize, size: usize, seed: u64) {
    for i in 0..n {
        let path = root.join(format!("d{}/f{i:03}.bin", i % 4));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(&prng(size, seed * 1000 + i as u64)).unwrap();
    }
}

/// `cp -a` (keeps owners, modes, times, xattrs, hard links, devices).
pub fn copy_all(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

/// The changes between the rounds of the interleaved test.
pub fn mutate(src: &Path, round: u64) {
    let p = |rel: &str| src.join(rel);
    write(&p("files/small.txt"), format!("round {round}\n").as_bytes());
    write(
        &p(&format!("new/round-{round}.bin")),
        &prng(600_000 + round as usize, 100 + round),
    );
    let f = fs::OpenOptions::new()
        .write(true)
        .open(p("files/multi-chunk.bin"))
        .unwrap();
    std::os::unix::fs::FileExt::write_at(&f, &prng(1024, 200 + round), round * 700_000).unwrap();
    set_xattr(&p("xattr/file"), "user.round", round.to_string().as_bytes());
    match round {
        1 => fs::remove_file(p("hardlinks/b")).unwrap(),
        2 => chmod(&p("perms/r0444"), 0o640),
        3 => fs::remove_file(p("files/medium.bin")).unwrap(),
        _ => fs::rename(p("deep/level1"), p("deep/moved")).unwrap(),
    }
}

/// Tree for the selection flags: patterns, caches, markers, sizes, names.
pub fn build_select(src: &Path) {
    let p = |rel: &str| src.join(rel);
    for f in [
        "a.txt",
        "b.TMP",
        "c.tmp",
        "keep/x.tmp",
        "sub/deeper/e.txt",
        "sub/Mixed.Txt",
        "with space/f",
        "marked/sub/f",
        "badcache/data",
        "cachedir/data",
    ] {
        write(&p(f), f.as_bytes());
    }
    write(&p("big.bin"), &prng(2 << 20, 1));
    write(&p("exactly-1M.bin"), &prng(1 << 20, 2));
    write(&p("marked/.nobackup"), b"");
    write(
        &p("cachedir/CACHEDIR.TAG"),
        b"Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n",
    );
    write(&p("badcache/CACHEDIR.TAG"), b"Signature: wrong\n");
    write(&raw(src, b"caf\xe9/f"), b"latin1 dir");
    std::os::unix::fs::symlink("big.bin", p("link-to-big")).unwrap();
}
