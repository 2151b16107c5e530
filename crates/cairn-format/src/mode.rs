//! Go `fs.FileMode` bits, which restic stores in a node's `mode`, and
//! conversions to and from Unix `st_mode`.

use crate::node::NodeType;

/// Directory.
pub const DIR: u32 = 1 << 31;
/// Append-only.
pub const APPEND: u32 = 1 << 30;
/// Exclusive use.
pub const EXCLUSIVE: u32 = 1 << 29;
/// Temporary file (Plan 9).
pub const TEMPORARY: u32 = 1 << 28;
/// Symbolic link.
pub const SYMLINK: u32 = 1 << 27;
/// Device file.
pub const DEVICE: u32 = 1 << 26;
/// Named pipe (FIFO).
pub const NAMED_PIPE: u32 = 1 << 25;
/// Unix domain socket.
pub const SOCKET: u32 = 1 << 24;
/// setuid.
pub const SETUID: u32 = 1 << 23;
/// setgid.
pub const SETGID: u32 = 1 << 22;
/// Character device (together with [`DEVICE`]).
pub const CHAR_DEVICE: u32 = 1 << 21;
/// Sticky bit.
pub const STICKY: u32 = 1 << 20;
/// Non-regular file of unknown type.
pub const IRREGULAR: u32 = 1 << 19;
/// Unix permission bits.
pub const PERM: u32 = 0o777;
/// All file type bits.
pub const TYPE: u32 = DIR | SYMLINK | NAMED_PIPE | SOCKET | DEVICE | CHAR_DEVICE | IRREGULAR;
/// What restic keeps of a file's mode: permissions, type, setuid, setgid,
/// sticky.
pub const RESTIC_MASK: u32 = PERM | TYPE | SETUID | SETGID | STICKY;

const S_IFMT: u32 = 0o170000;
const S_IFSOCK: u32 = 0o140000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFBLK: u32 = 0o060000;
const S_IFDIR: u32 = 0o040000;
const S_IFCHR: u32 = 0o020000;
const S_IFIFO: u32 = 0o010000;
const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;

/// The permission bits to pass to `chmod` for a node with Go mode `mode`:
/// rwx bits plus setuid, setgid and sticky (as Go's `os.Chmod` converts
/// them). The file type is not included; see [`unix_file_type`].
/// `node_type` is accepted for symmetry: restic never chmods symlinks.
pub fn to_unix(mode: u32, _node_type: &NodeType) -> u32 {
    let mut m = mode & PERM;
    if mode & SETUID != 0 {
        m |= S_ISUID;
    }
    if mode & SETGID != 0 {
        m |= S_ISGID;
    }
    if mode & STICKY != 0 {
        m |= S_ISVTX;
    }
    m
}

/// The `S_IFMT` bits of a node type (0 for unknown types).
pub fn unix_file_type(node_type: &NodeType) -> u32 {
    match node_type {
        NodeType::File => S_IFREG,
        NodeType::Dir => S_IFDIR,
        NodeType::Symlink => S_IFLNK,
        NodeType::Dev => S_IFBLK,
        NodeType::Chardev => S_IFCHR,
        NodeType::Fifo => S_IFIFO,
        NodeType::Socket => S_IFSOCK,
        NodeType::Irregular | NodeType::Other(_) => 0,
    }
}

/// Go's `fs.FileMode` for a Unix `st_mode`, masked as restic stores it
/// ([`RESTIC_MASK`]).
pub fn from_unix(st_mode: u32) -> u32 {
    let mut m = st_mode & PERM;
    m |= match st_mode & S_IFMT {
        S_IFBLK => DEVICE,
        S_IFCHR => DEVICE | CHAR_DEVICE,
        S_IFDIR => DIR,
        S_IFIFO => NAMED_PIPE,
        S_IFLNK => SYMLINK,
        S_IFSOCK => SOCKET,
        _ => 0,
    };
    if st_mode & S_ISUID != 0 {
        m |= SETUID;
    }
    if st_mode & S_ISGID != 0 {
        m |= SETGID;
    }
    if st_mode & S_ISVTX != 0 {
        m |= STICKY;
    }
    m
}

/// The node type restic derives from a Go mode's type bits.
pub fn node_type_of(mode: u32) -> NodeType {
    match mode & TYPE {
        0 => NodeType::File,
        DIR => NodeType::Dir,
        SYMLINK => NodeType::Symlink,
        x if x == DEVICE | CHAR_DEVICE => NodeType::Chardev,
        DEVICE => NodeType::Dev,
        NAMED_PIPE => NodeType::Fifo,
        SOCKET => NodeType::Socket,
        _ => NodeType::Irregular,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(from_unix(0o040755), 2_147_484_141);
        assert_eq!(from_unix(0o120777), 134_218_239);
        // Values seen in restic 0.14 trees.
        assert_eq!(from_unix(0o020644), 69_206_436);
        assert_eq!(from_unix(0o060644), 67_109_284);
        assert_eq!(from_unix(0o010644), 33_554_852);
        assert_eq!(from_unix(0o104755), 8_389_101);
        assert_eq!(from_unix(0o102750), 4_194_792);
        assert_eq!(from_unix(0o041777), 2_148_532_735);
        assert_eq!(to_unix(8_389_101, &NodeType::File), 0o4755);
        assert_eq!(to_unix(2_148_532_735, &NodeType::Dir), 0o1777);
        assert_eq!(node_type_of(69_206_436), NodeType::Chardev);
        assert_eq!(node_type_of(67_109_284), NodeType::Dev);
        assert_eq!(node_type_of(2_148_532_735), NodeType::Dir);
        for st in [
            0o100644u32,
            0o040755,
            0o120777,
            0o060600,
            0o020600,
            0o010600,
            0o140755,
            0o107777,
        ] {
            let m = from_unix(st);
            assert_eq!(
                to_unix(m, &node_type_of(m)) | unix_file_type(&node_type_of(m)),
                st
            );
        }
    }
}
