//! The node restic records for a file-system entry.
//!
//! [`node_from_metadata`] turns an entry's `lstat` result into the
//! [`Node`] restic 0.14 (and later, on Linux) writes into a tree blob, so
//! that trees written by Cairn hash the same as restic's for the same
//! files:
//!
//! * `type` and `mode` from `st_mode` (Go `fs.FileMode` bits, masked to
//!   permissions, type, setuid, setgid and sticky); sockets are `socket`;
//! * `mtime`, `ctime` (and `atime`, which is a copy of `mtime` unless
//!   [`NodeOptions::with_atime`]) with nanoseconds, each in the local zone
//!   offset in force *at that instant*, as Go's `time.Unix` prints them;
//! * `uid`/`gid` and the user/group names (looked up once per ID and
//!   cached; an unknown ID gives an empty name);
//! * `inode`, `device_id` (`st_dev`) for every node;
//! * `size` for regular files only; `links` (`st_nlink`) for files,
//!   symlinks and devices, but not for directories, FIFOs or sockets;
//! * the raw link target for symlinks and `device` (`st_rdev`) for
//!   block/character devices;
//! * extended attributes in `listxattr` order, except for symlinks (restic
//!   does not read them there). File systems without xattr support give
//!   none; an attribute that cannot be read is skipped (restic prints a
//!   warning and skips it too).
//!
//! restic's archiver does not save sockets at all (it treats them as
//! excluded); this function still describes them, with type `socket`.
//!
//! `content` is `Some(vec![])` for files and `subtree` is `None`: the
//! archiver fills them in.
//!
//! The local offset comes from the C library (`localtime_r`), which reads
//! `TZ` or `/etc/localtime` as Go does for zone files. Go does not
//! understand POSIX rule strings in `TZ` (such as `CET-1CEST`) and falls
//! back to UTC there; the C library applies the rule.

use std::collections::HashMap;
use std::ffi::CStr;
use std::fs::Metadata;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use cairn_format::{mode, ExtendedAttribute, GoTime, Node, NodeType};

/// Choices that change the recorded metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeOptions {
    /// Record the real access time (`--with-atime`); otherwise `atime`
    /// is a copy of `mtime`, as restic does by default.
    pub with_atime: bool,
}

/// The node restic records for the entry at `path`, named `name`, whose
/// `lstat` result is `meta` (use [`std::fs::symlink_metadata`]).
///
/// `path` is only used to read the link target and extended attributes.
/// Fails if the link target or the list of extended attributes cannot be
/// read (restic reports the entry as an error then).
pub fn node_from_metadata(
    path: &Path,
    name: &[u8],
    meta: &Metadata,
    opts: &NodeOptions,
) -> io::Result<Node> {
    let go_mode = mode::from_unix(meta.mode());
    let node_type = mode::node_type_of(go_mode);
    let mut node = Node::new(name.to_vec(), node_type);
    node.mode = go_mode;
    node.mtime = local_time(meta.mtime(), meta.mtime_nsec());
    node.ctime = local_time(meta.ctime(), meta.ctime_nsec());
    node.atime = if opts.with_atime {
        local_time(meta.atime(), meta.atime_nsec())
    } else {
        node.mtime
    };
    node.uid = meta.uid();
    node.gid = meta.gid();
    node.user = user_name(meta.uid());
    node.group = group_name(meta.gid());
    node.inode = meta.ino();
    node.device_id = meta.dev();
    match node.node_type {
        NodeType::File => {
            node.size = meta.size();
            node.links = meta.nlink();
        }
        NodeType::Symlink => {
            node.links = meta.nlink();
            node.link_target = std::fs::read_link(path)?.into_os_string().into_vec();
        }
        NodeType::Dev | NodeType::Chardev => {
            node.links = meta.nlink();
            node.device = meta.rdev();
        }
        _ => {}
    }
    if node.node_type != NodeType::Symlink {
        node.extended_attributes = read_xattrs(path)?;
    }
    Ok(node)
}

/// Whether a regular file is unchanged since the parent snapshot, so its
/// old `content` can be reused without reading it (restic's rule): both
/// nodes are files with the same size and the same mtime instant, and,
/// unless ignored, the same ctime instant and inode. Zone offsets do not
/// matter (Go compares with `Time.Equal`).
pub fn is_unchanged(old: &Node, new: &Node, ignore_inode: bool, ignore_ctime: bool) -> bool {
    let same_instant = |a: &GoTime, b: &GoTime| (a.unix_secs, a.nanos) == (b.unix_secs, b.nanos);
    old.node_type == NodeType::File
        && new.node_type == NodeType::File
        && old.size == new.size
        && same_instant(&old.mtime, &new.mtime)
        && (ignore_ctime || same_instant(&old.ctime, &new.ctime))
        && (ignore_inode || old.inode == new.inode)
}

/// The instant `secs`.`nanos` (as `stat` returns it) in the local zone
/// offset in force at that instant.
pub fn local_time(secs: i64, nanos: i64) -> GoTime {
    // stat's nanosecond fields are always in 0..1e9; clamp defensively.
    let nanos = nanos.clamp(0, 999_999_999) as u32;
    GoTime {
        unix_secs: secs,
        nanos,
        offset_secs: local_offset(secs),
    }
}

/// Seconds east of UTC of the local zone at `secs` (0 if the C library
/// cannot convert the instant).
fn local_offset(secs: i64) -> i32 {
    // `time_t` is 32 bits wide on some platforms.
    #[allow(irrefutable_let_patterns, clippy::useless_conversion)]
    let Ok(t) = libc::time_t::try_from(secs) else {
        return 0;
    };
    let mut tm = MaybeUninit::<libc::tm>::zeroed();
    // SAFETY: `t` and `tm` are live, properly aligned locals; localtime_r
    // reads `*t` and writes only `*tm` (it is the reentrant variant and
    // keeps no pointer to either). It returns null on failure, which we
    // check before reading `tm`.
    let r = unsafe { libc::localtime_r(&t, tm.as_mut_ptr()) };
    if r.is_null() {
        return 0;
    }
    // SAFETY: `tm` was zero-initialised (a valid `tm`: plain integers and
    // a null zone pointer) and localtime_r succeeded, filling it in.
    let tm = unsafe { tm.assume_init() };
    i32::try_from(tm.tm_gmtoff).unwrap_or(0)
}

/// A cache of ID-to-name lookups (restic caches them for the whole run).
type NameCache = OnceLock<Mutex<HashMap<u32, String>>>;

fn cached(cache: &NameCache, id: u32, lookup: fn(u32) -> Option<Vec<u8>>) -> String {
    let map = cache.get_or_init(Default::default);
    if let Some(name) = map.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return name.clone();
    }
    // Go keeps the raw bytes and its JSON encoder replaces invalid UTF-8.
    let name = lookup(id)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, name.clone());
    name
}

/// The name of user `uid` (`getpwuid_r`), cached; empty if unknown.
pub fn user_name(uid: u32) -> String {
    static CACHE: NameCache = OnceLock::new();
    cached(&CACHE, uid, passwd_name)
}

/// The name of group `gid` (`getgrgid_r`), cached; empty if unknown.
pub fn group_name(gid: u32) -> String {
    static CACHE: NameCache = OnceLock::new();
    cached(&CACHE, gid, group_entry_name)
}

/// Largest buffer tried for one passwd/group entry (as Go's cgo lookup).
const MAX_ENTRY_BUF: usize = 1 << 20;

/// Calls a `get*_r` function with a growing scratch buffer until it no
/// longer reports `ERANGE`; `call` gets the buffer and returns the C
/// library's result code and the name it found (copied out of the buffer).
fn with_entry_buffer(
    mut call: impl FnMut(&mut [libc::c_char]) -> (libc::c_int, Option<Vec<u8>>),
) -> Option<Vec<u8>> {
    let mut len = 1024;
    loop {
        let mut buf = vec![0 as libc::c_char; len];
        match call(&mut buf) {
            (libc::ERANGE, _) if len < MAX_ENTRY_BUF => len *= 2,
            (0, name) => return name,
            _ => return None,
        }
    }
}

fn passwd_name(uid: u32) -> Option<Vec<u8>> {
    with_entry_buffer(|buf| {
        let mut pwd = MaybeUninit::<libc::passwd>::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer refers to a live local or to `buf`, whose
        // real length is passed; getpwuid_r writes the entry into `pwd`,
        // its strings into `buf`, and `result` (null when not found).
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                pwd.as_mut_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc != 0 || result.is_null() {
            return (rc, None);
        }
        // SAFETY: on success `result` points to `pwd`, now initialised,
        // whose `pw_name` is a NUL-terminated string inside `buf`, which
        // is still alive here; we copy it out before returning.
        let name = unsafe { CStr::from_ptr((*result).pw_name) };
        (0, Some(name.to_bytes().to_vec()))
    })
}

fn group_entry_name(gid: u32) -> Option<Vec<u8>> {
    with_entry_buffer(|buf| {
        let mut grp = MaybeUninit::<libc::group>::zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in `passwd_name`, for getgrgid_r and `struct group`.
        let rc = unsafe {
            libc::getgrgid_r(
                gid,
                grp.as_mut_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc != 0 || result.is_null() {
            return (rc, None);
        }
        // SAFETY: as in `passwd_name`: `gr_name` points into the live `buf`.
        let name = unsafe { CStr::from_ptr((*result).gr_name) };
        (0, Some(name.to_bytes().to_vec()))
    })
}

/// Extended attributes of `path` (not following a final symlink), in
/// `listxattr` order. No xattr support (`ENOTSUP`) means none; attributes
/// that vanish or cannot be read are skipped.
fn read_xattrs(path: &Path) -> io::Result<Vec<ExtendedAttribute>> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if is_xattr_unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        if let Ok(Some(value)) = xattr::get(path, &name) {
            out.push(ExtendedAttribute {
                name: String::from_utf8_lossy(&name.into_vec()).into_owned(),
                value,
            });
        }
    }
    Ok(out)
}

/// `ENOTSUP`, or `ENODATA` which some network file systems return instead
/// (restic treats both as "no attributes").
fn is_xattr_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(c) if c == libc::ENOTSUP || c == libc::EOPNOTSUPP || c == libc::ENODATA)
}

#[cfg(test)]
#[path = "fsnode_tests.rs"]
pub(crate) mod tests;
