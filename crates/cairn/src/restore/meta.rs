//! Creating non-file nodes and restoring metadata, in restic's order:
//! owner, extended attributes, timestamps, and last the mode (so that a
//! read-only mode does not block the other steps and `chown` cannot clear
//! setuid/setgid bits set before it).

use super::sys;
use crate::filter::PatternList;
use cairn_format::{mode, GoTime, Node, NodeType};
use filetime::FileTime;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Which extended attributes are restored (and which existing ones not in
/// the snapshot are removed): restic's `--include-xattr`/`--exclude-xattr`.
#[derive(Clone, Debug, Default)]
pub enum XattrFilter {
    /// Every attribute (the default).
    #[default]
    All,
    /// Only attributes matching these patterns.
    Include(PatternList),
    /// All attributes except those matching these patterns.
    Exclude(PatternList),
}

impl XattrFilter {
    /// Whether the attribute `name` is handled by the restore.
    pub fn selects(&self, name: &[u8]) -> bool {
        match self {
            XattrFilter::All => true,
            XattrFilter::Include(l) => l.matches(name),
            XattrFilter::Exclude(l) => !l.matches(name),
        }
    }
}

/// Creates a symlink, FIFO or device node at `path` (which must not exist).
/// Sockets are never passed here (restic does not restore them).
pub(crate) fn create_special(node: &Node, path: &Path) -> io::Result<()> {
    match &node.node_type {
        NodeType::Symlink => std::os::unix::fs::symlink(OsStr::from_bytes(&node.link_target), path),
        NodeType::Fifo => sys::mkfifo(path, 0o600),
        NodeType::Dev => sys::mknod(path, sys::S_IFBLK | 0o600, node.device),
        NodeType::Chardev => sys::mknod(path, sys::S_IFCHR | 0o600, node.device),
        other => Err(io::Error::other(format!(
            "filetype {other:?} not implemented"
        ))),
    }
}

fn file_time(t: &GoTime) -> FileTime {
    FileTime::from_unix_time(t.unix_secs, t.nanos)
}

/// Restores owner, extended attributes, access and modification times and
/// mode of `path` from `node`, never following a symlink at `path`.
///
/// Every step is tried; the first failure is returned. Like restic, a
/// permission error is ignored when not running as root (it is normal not
/// to be allowed to give files away).
pub(crate) fn restore_metadata(node: &Node, path: &Path, xattrs: &XattrFilter) -> io::Result<()> {
    let mut first: Option<io::Error> = None;
    let mut note = |r: io::Result<()>| {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    };
    note(std::os::unix::fs::lchown(
        path,
        Some(node.uid),
        Some(node.gid),
    ));
    note(restore_xattrs(node, path, xattrs));
    note(filetime::set_symlink_file_times(
        path,
        file_time(&node.atime),
        file_time(&node.mtime),
    ));
    if node.node_type != NodeType::Symlink {
        let perms = std::fs::Permissions::from_mode(mode::to_unix(node.mode, &node.node_type));
        note(std::fs::set_permissions(path, perms));
    }
    match first {
        Some(e) if e.kind() == io::ErrorKind::PermissionDenied && sys::geteuid() != 0 => Ok(()),
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Sets the node's attributes and removes other (selected) attributes the
/// file has. A file system without xattr support is not an error.
fn restore_xattrs(node: &Node, path: &Path, filter: &XattrFilter) -> io::Result<()> {
    // ENODATA is ENOATTR on Linux (some CIFS mounts answer it).
    let codes = [libc::ENOTSUP, libc::EOPNOTSUPP, libc::ENODATA];
    let unsupported = |e: &io::Error| e.raw_os_error().is_some_and(|c| codes.contains(&c));
    let ok_if_unsupported = |r: io::Result<()>| match r {
        Err(e) if unsupported(&e) => Ok(()),
        other => other,
    };
    let mut wanted = Vec::new();
    for attr in &node.extended_attributes {
        if filter.selects(attr.name.as_bytes()) {
            ok_if_unsupported(xattr::set(path, &attr.name, &attr.value))?;
            wanted.push(attr.name.as_bytes());
        }
    }
    let existing = match xattr::list(path) {
        Ok(list) => list,
        Err(e) if unsupported(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in existing {
        let bytes = name.as_bytes();
        if !wanted.contains(&bytes) && filter.selects(bytes) {
            ok_if_unsupported(xattr::remove(path, &name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_format::ExtendedAttribute;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn node(node_type: NodeType, mode: u32) -> Node {
        let mut n = Node::new(*b"x", node_type);
        n.mode = mode;
        n.mtime = GoTime {
            unix_secs: 1_600_000_000,
            nanos: 123_456_789,
            offset_secs: 7200,
        };
        n.atime = GoTime {
            unix_secs: 1_500_000_000,
            nanos: 987_654_321,
            offset_secs: 0,
        };
        // Our own IDs, so that chown succeeds without root.
        let own = std::fs::metadata("/proc/self").unwrap();
        n.uid = own.uid();
        n.gid = own.gid();
        n
    }

    #[test]
    fn file_mode_and_times_to_the_nanosecond() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"data").unwrap();
        let n = node(NodeType::File, mode::SETGID | 0o640);
        restore_metadata(&n, &p, &XattrFilter::All).unwrap();
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o2640);
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000, 123_456_789));
        assert_eq!((m.atime(), m.atime_nsec()), (1_500_000_000, 987_654_321));
    }

    #[test]
    fn setuid_survives_because_chmod_is_last() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("suid");
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        let n = node(NodeType::File, mode::SETUID | mode::STICKY | 0o755);
        restore_metadata(&n, &p, &XattrFilter::All).unwrap();
        let mode = std::fs::metadata(&p).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o5755);
    }

    #[test]
    fn symlink_with_non_utf8_target_keeps_its_own_times() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("link");
        let mut n = node(NodeType::Symlink, mode::SYMLINK | 0o777);
        n.link_target = b"../dangling-\xff\xfe".to_vec();
        create_special(&n, &p).unwrap();
        restore_metadata(&n, &p, &XattrFilter::All).unwrap();
        let target = std::fs::read_link(&p).unwrap();
        assert_eq!(target.as_os_str().as_bytes(), b"../dangling-\xff\xfe");
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert!(m.file_type().is_symlink());
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000, 123_456_789));
    }

    #[test]
    fn fifo_and_directory_modes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pipe");
        let n = node(NodeType::Fifo, mode::NAMED_PIPE | 0o620);
        create_special(&n, &p).unwrap();
        restore_metadata(&n, &p, &XattrFilter::All).unwrap();
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert!(m.file_type().is_fifo());
        assert_eq!(m.mode() & 0o7777, 0o620);

        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        let n = node(NodeType::Dir, mode::DIR | mode::STICKY | 0o755);
        restore_metadata(&n, &d, &XattrFilter::All).unwrap();
        let m = std::fs::metadata(&d).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o1755);
        assert_eq!(m.mtime_nsec(), 123_456_789);
    }

    #[test]
    fn devices_need_root() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("null");
        let mut n = node(NodeType::Chardev, mode::DEVICE | mode::CHAR_DEVICE | 0o666);
        n.device = libc::makedev(1, 3);
        let created = create_special(&n, &p);
        if sys::geteuid() == 0 {
            created.unwrap();
            let m = std::fs::symlink_metadata(&p).unwrap();
            assert!(m.file_type().is_char_device());
            assert_eq!(m.rdev(), libc::makedev(1, 3));
            let b = dir.path().join("blk");
            n.node_type = NodeType::Dev;
            n.device = libc::makedev(7, 0);
            create_special(&n, &b).unwrap();
            assert!(std::fs::symlink_metadata(&b)
                .unwrap()
                .file_type()
                .is_block_device());
        } else {
            assert_eq!(created.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        }
        let sock = node(NodeType::Irregular, 0);
        assert!(create_special(&sock, &dir.path().join("irr")).is_err());
    }

    /// Extended attributes (user namespace) where the file system allows
    /// them; tmpfs before Linux 6.6 does not, so a file under the crate's
    /// target directory (usually ext4/xfs/btrfs) is used.
    #[test]
    fn xattrs_set_replaced_and_filtered() {
        let mut dir = tempfile::tempdir().unwrap();
        let mut p = dir.path().join("x");
        std::fs::write(&p, b"").unwrap();
        if xattr::set(&p, "user.probe", b"1").is_err() {
            dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
            p = dir.path().join("x");
            std::fs::write(&p, b"").unwrap();
        }
        if let Err(e) = xattr::set(&p, "user.probe", b"1") {
            // Record why the check could not run instead of passing silently.
            assert!(
                [Some(libc::ENOTSUP), Some(libc::EOPNOTSUPP)].contains(&e.raw_os_error()),
                "{e}"
            );
            eprintln!("xattrs unsupported here: {e}");
            return;
        }
        xattr::set(&p, "user.keep_me", b"old").unwrap();
        let mut n = node(NodeType::File, 0o644);
        n.extended_attributes = vec![
            ExtendedAttribute {
                name: "user.bin".into(),
                value: vec![0, 255, 10, 0],
            },
            ExtendedAttribute {
                name: "user.empty".into(),
                value: Vec::new(),
            },
        ];
        let filter = XattrFilter::Exclude(PatternList::new(["user.keep*"], false).unwrap());
        restore_metadata(&n, &p, &filter).unwrap();
        assert_eq!(
            xattr::get(&p, "user.bin").unwrap().unwrap(),
            vec![0, 255, 10, 0]
        );
        assert_eq!(
            xattr::get(&p, "user.empty").unwrap().unwrap(),
            Vec::<u8>::new()
        );
        // Not in the snapshot but excluded: kept. Not in the snapshot and
        // selected: removed.
        assert_eq!(xattr::get(&p, "user.keep_me").unwrap().unwrap(), b"old");
        assert!(xattr::get(&p, "user.probe").unwrap().is_none());
    }
}
