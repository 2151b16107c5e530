//! Thin safe wrappers around the few system calls std does not offer.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

// File type bits as u32 (`mode_t` is narrower on some platforms).
#[allow(clippy::unnecessary_cast)]
pub(crate) const S_IFBLK: u32 = libc::S_IFBLK as u32;
#[allow(clippy::unnecessary_cast)]
pub(crate) const S_IFCHR: u32 = libc::S_IFCHR as u32;
#[allow(clippy::unnecessary_cast)]
const S_IFIFO: u32 = libc::S_IFIFO as u32;

/// The effective user ID of this process.
pub(crate) fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions, touches no memory of ours and
    // cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates a device node or FIFO (`mknod(2)`); `mode` holds the file type
/// bits (`S_IFCHR`, `S_IFBLK`, `S_IFIFO`) and the permissions, `dev` the
/// device number as stored in `st_rdev`.
pub(crate) fn mknod(path: &Path, mode: u32, dev: u64) -> io::Result<()> {
    let c = c_path(path)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call;
    // mknod only reads it. The integer arguments need no validation (the
    // kernel rejects bad values with an error code).
    let rc = unsafe { libc::mknod(c.as_ptr(), mode as libc::mode_t, dev as libc::dev_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Creates a named pipe with permissions `mode`.
pub(crate) fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    mknod(path, S_IFIFO | (mode & 0o7777), 0)
}

/// Removes a file, symlink or empty directory (Go's `os.Remove`); a path
/// that does not exist is not an error.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(file_err) => match std::fs::remove_dir(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            // Report why unlinking failed unless the path is a directory.
            Err(dir_err) if is_dir(path) => Err(dir_err),
            Err(_) => Err(file_err),
        },
    }
}

/// Removes a path and, if it is a directory, everything below it, without
/// following symlinks; a missing path is not an error.
pub(crate) fn remove_all(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => remove(path),
    }
}

fn is_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn fifo_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        mkfifo(&p, 0o640).unwrap();
        assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_fifo());
        remove(&p).unwrap();
        remove(&p).unwrap();
        assert!(!p.exists());

        let d = dir.path().join("d");
        std::fs::create_dir_all(d.join("x/y")).unwrap();
        std::fs::write(d.join("x/y/f"), b"1").unwrap();
        assert!(remove(&d).is_err());
        remove_all(&d).unwrap();
        assert!(!d.exists());
        assert!(mknod(&dir.path().join("a\0b"), 0, 0).is_err());
    }
}
