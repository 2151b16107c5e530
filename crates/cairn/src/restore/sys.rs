//! Thin wrappers around the system calls a restore makes. Everything below
//! the target is reached relative to an open directory descriptor, one
//! name at a time, and never through a symlink: directories are opened
//! with `O_DIRECTORY | O_NOFOLLOW`, files with `O_NOFOLLOW`, and the `*at`
//! calls that take a name get `AT_SYMLINK_NOFOLLOW`. Paths are never
//! resolved by the kernel from the target down, so neither their length
//! nor a symlink planted on the way matters.

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What an entry is, from `lstat`.
pub(crate) type Stat = rfs::Stat;

fn c_name(name: &[u8]) -> io::Result<CString> {
    CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

// File type bits as u32 (`mode_t` is narrower on some platforms).
#[allow(clippy::unnecessary_cast)]
pub(crate) const S_IFMT: u32 = libc::S_IFMT as u32;
#[allow(clippy::unnecessary_cast)]
pub(crate) const S_IFDIR: u32 = libc::S_IFDIR as u32;
#[allow(clippy::unnecessary_cast)]
pub(crate) const S_IFREG: u32 = libc::S_IFREG as u32;

/// Whether an `lstat` result is a directory.
pub(crate) fn is_dir(st: &Stat) -> bool {
    st.st_mode & S_IFMT == S_IFDIR
}

/// Whether an `lstat` result is a regular file.
pub(crate) fn is_file(st: &Stat) -> bool {
    st.st_mode & S_IFMT == S_IFREG
}

/// The effective user ID of this process.
pub(crate) fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions, touches no memory of ours and
    // cannot fail.
    unsafe { libc::geteuid() }
}

/// Opens the restore target itself (a path the user gave; symlinks in it
/// are the user's choice and are followed).
pub(crate) fn open_root(path: &Path) -> io::Result<File> {
    let fd = rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// Opens the directory `name` in `dir`; fails (ELOOP or ENOTDIR) if it is
/// a symlink or not a directory.
pub(crate) fn open_dir_at(dir: &File, name: &[u8]) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(File::from(rfs::openat(dir, name, flags, Mode::empty())?))
}

/// Whether an error means "nothing (usable as a directory) is there".
pub(crate) fn is_absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP))
}

/// `lstat` of `name` in `dir`; `None` if nothing is there.
pub(crate) fn stat_at(dir: &File, name: &[u8]) -> io::Result<Option<Stat>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(e) if e == rustix::io::Errno::NOENT => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `fstat` of an open file.
pub(crate) fn fstat(file: &File) -> io::Result<Stat> {
    Ok(rfs::fstat(file)?)
}

/// Creates the directory `name` in `dir`.
pub(crate) fn mkdir_at(dir: &File, name: &[u8], mode: u32) -> io::Result<()> {
    Ok(rfs::mkdirat(dir, name, Mode::from_raw_mode(mode))?)
}

/// Opens (with `flags` plus `O_NOFOLLOW | O_CLOEXEC`, creating with
/// `mode` if `O_CREAT` is given) the file `name` in `dir`.
pub(crate) fn open_file_at(dir: &File, name: &[u8], flags: OFlags, mode: u32) -> io::Result<File> {
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
    Ok(File::from(rfs::openat(
        dir,
        name,
        flags,
        Mode::from_raw_mode(mode),
    )?))
}

/// Removes a file, symlink or empty directory `name` from `dir` (Go's
/// `os.Remove`); nothing there is not an error.
pub(crate) fn remove_at(dir: &File, name: &[u8]) -> io::Result<()> {
    let file_err = match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(e) if e == rustix::io::Errno::NOENT => return Ok(()),
        Err(e) => e,
    };
    match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::NOENT => Ok(()),
        // Report why unlinking failed unless the entry is a directory.
        Err(dir_err)
            if stat_at(dir, name)
                .ok()
                .flatten()
                .is_some_and(|s| is_dir(&s)) =>
        {
            Err(dir_err.into())
        }
        Err(_) => Err(file_err.into()),
    }
}

/// Creates a symlink `name` in `dir` pointing to `target`.
pub(crate) fn symlink_at(target: &[u8], dir: &File, name: &[u8]) -> io::Result<()> {
    Ok(rfs::symlinkat(target, dir, name)?)
}

/// Creates a device node or FIFO `name` in `dir`; `kind` is the file type
/// bits of `st_mode` (`S_IFCHR`, `S_IFBLK`, `S_IFIFO`).
pub(crate) fn mknod_at(dir: &File, name: &[u8], kind: u32, perm: u32, dev: u64) -> io::Result<()> {
    let file_type = rfs::FileType::from_raw_mode(kind as rfs::RawMode);
    Ok(rfs::mknodat(
        dir,
        name,
        file_type,
        Mode::from_raw_mode(perm as rfs::RawMode),
        dev as rfs::Dev,
    )?)
}

/// Creates a hard link `to_name` in `to_dir` to the entry `from_name` of
/// `from_dir` (a symlink there is linked itself, not followed).
pub(crate) fn link_at(
    from_dir: &File,
    from_name: &[u8],
    to_dir: &File,
    to_name: &[u8],
) -> io::Result<()> {
    Ok(rfs::linkat(
        from_dir,
        from_name,
        to_dir,
        to_name,
        AtFlags::empty(),
    )?)
}

/// Changes the owner of `name` in `dir` itself (not a symlink's target).
pub(crate) fn chown_at(dir: &File, name: &[u8], uid: u32, gid: u32) -> io::Result<()> {
    Ok(rfs::chownat(
        dir,
        name,
        // -1 means "leave as is" to the kernel (and rustix asserts on it).
        (uid != u32::MAX).then(|| rfs::Uid::from_raw(uid)),
        (gid != u32::MAX).then(|| rfs::Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// Sets access and modification times of `name` in `dir` itself.
pub(crate) fn utimes_at(dir: &File, name: &[u8], times: &rfs::Timestamps) -> io::Result<()> {
    Ok(rfs::utimensat(dir, name, times, AtFlags::SYMLINK_NOFOLLOW)?)
}

/// Sets the mode of `name` in `dir` without following a symlink there
/// (glibc does this through an `O_PATH` descriptor; a symlink is refused
/// with EOPNOTSUPP).
pub(crate) fn chmod_at(dir: &File, name: &[u8], mode: u32) -> io::Result<()> {
    let c = c_name(name)?;
    // SAFETY: the descriptor is open for the duration of the call (borrowed
    // from `dir`), `c` is a valid NUL-terminated string that outlives it
    // and fchmodat only reads it; the mode is a plain integer the kernel
    // validates.
    let rc = unsafe {
        libc::fchmodat(
            dir.as_raw_fd(),
            c.as_ptr(),
            mode as libc::mode_t,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A path naming `name` in `dir` for the few calls that take only a path
/// (extended attributes of symlinks and special files): the directory is
/// reached through its descriptor in `/proc/self/fd`, so only `name`
/// is looked up (use the calls that do not follow it).
pub(crate) fn proc_path(dir: &File, name: &[u8]) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()));
    p.push(std::ffi::OsStr::from_bytes(name));
    p
}

/// The names in a directory (without `.` and `..`).
pub(crate) fn read_names(dir: &File) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    Ok(names)
}

/// One directory being walked by [`remove_tree_at`].
struct Level {
    /// Device and inode, to check the way back up.
    id: (u64, u64),
    /// Names still to visit, last first.
    rest: Vec<Vec<u8>>,
    /// Length of the relative path up to and including this directory.
    rel_len: usize,
}

fn dev_ino(st: &Stat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

/// Visits `name` in `parent` and, if it is a directory, everything below
/// it (children before their directory), calling `visit` with the path
/// relative to `parent`; with `delete`, removes each entry after visiting
/// it. Symlinks are removed, never followed.
///
/// Only one directory below `parent` is open at a time, however deep the
/// tree: the way back up goes through `..`, checked against the device
/// and inode recorded on the way down (a directory moved meanwhile is an
/// error, not a walk elsewhere).
pub(crate) fn remove_tree_at(
    parent: &File,
    name: &[u8],
    delete: bool,
    visit: &mut dyn FnMut(&[u8]),
) -> io::Result<()> {
    let Some(st) = stat_at(parent, name)? else {
        return Ok(());
    };
    if !is_dir(&st) {
        visit(name);
        return if delete {
            remove_at(parent, name)
        } else {
            Ok(())
        };
    }
    let mut rel = name.to_vec();
    let mut current = open_dir_at(parent, name)?;
    let mut levels = vec![enter(&current, &st, rel.len())?];
    loop {
        let top = levels.last_mut().expect("loop ends when empty");
        if let Some(child) = top.rest.pop() {
            let base = rel.len();
            rel.push(b'/');
            rel.extend_from_slice(&child);
            match stat_at(&current, &child)? {
                Some(cst) if is_dir(&cst) => {
                    let sub = open_dir_at(&current, &child)?;
                    let level = enter(&sub, &cst, rel.len())?;
                    levels.push(level);
                    current = sub;
                    continue;
                }
                Some(_) => {
                    visit(&rel);
                    if delete {
                        remove_at(&current, &child)?;
                    }
                }
                None => {}
            }
            rel.truncate(base);
            continue;
        }
        let done = levels.pop().expect("checked above");
        visit(&rel[..done.rel_len]);
        let own_name_start = rel[..done.rel_len]
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(0, |i| i + 1);
        let own_name = rel[own_name_start..done.rel_len].to_vec();
        let Some(up_level) = levels.last() else {
            drop(current);
            return if delete {
                remove_at(parent, name)
            } else {
                Ok(())
            };
        };
        let up = open_dir_at(&current, b"..")?;
        if dev_ino(&fstat(&up)?) != up_level.id {
            return Err(io::Error::other(
                "a directory being removed was moved meanwhile",
            ));
        }
        current = up;
        if delete {
            remove_at(&current, &own_name)?;
        }
        rel.truncate(own_name_start.saturating_sub(1));
    }
}

fn enter(dir: &File, st: &Stat, rel_len: usize) -> io::Result<Level> {
    let opened = fstat(dir)?;
    if dev_ino(&opened) != dev_ino(st) {
        return Err(io::Error::other("a directory changed while it was opened"));
    }
    let mut rest = read_names(dir)?;
    rest.sort_unstable_by(|a, b| b.cmp(a));
    Ok(Level {
        id: dev_ino(st),
        rest,
        rel_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn fifo_remove_and_trees() {
        let dir = tempfile::tempdir().unwrap();
        let d = open_root(dir.path()).unwrap();
        #[allow(clippy::unnecessary_cast)]
        let fifo = libc::S_IFIFO as u32;
        mknod_at(&d, b"fifo", fifo, 0o640, 0).unwrap();
        assert!(std::fs::symlink_metadata(dir.path().join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        remove_at(&d, b"fifo").unwrap();
        remove_at(&d, b"fifo").unwrap();
        assert!(!dir.path().join("fifo").exists());

        let t = dir.path().join("t");
        std::fs::create_dir_all(t.join("x/y")).unwrap();
        std::fs::write(t.join("x/y/f"), b"1").unwrap();
        std::fs::write(t.join("a"), b"1").unwrap();
        std::os::unix::fs::symlink(dir.path(), t.join("x/out")).unwrap();
        assert!(remove_at(&d, b"t").is_err());
        let mut seen = Vec::new();
        remove_tree_at(&d, b"t", false, &mut |p| seen.push(p.to_vec())).unwrap();
        let want: Vec<&[u8]> = vec![b"t/a", b"t/x/out", b"t/x/y/f", b"t/x/y", b"t/x", b"t"];
        assert_eq!(seen, want);
        assert!(t.join("x/y/f").exists());
        remove_tree_at(&d, b"t", true, &mut |_| {}).unwrap();
        assert!(!t.exists() && dir.path().exists());
        assert!(mknod_at(&d, b"a\0b", fifo, 0, 0).is_err());
    }

    #[test]
    fn symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = open_root(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
        assert!(is_absent(&open_dir_at(&d, b"link").unwrap_err()));
        assert!(open_file_at(&d, b"link", OFlags::RDONLY, 0).is_err());
        assert!(chmod_at(&d, b"link", 0o700).is_err());
        assert!(stat_at(&d, b"link").unwrap().is_some());
        assert!(stat_at(&d, b"none").unwrap().is_none());
    }
}
