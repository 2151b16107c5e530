//! Creating regular files and writing blobs into them at their offsets.

use super::sys;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Prepares `path` to receive `size` bytes of content, as restic does:
///
/// * an existing regular file with a single link is reused (so blobs
///   already in place need not be written again) and cut or extended to
///   `size`;
/// * anything else there (a symlink, a directory, a FIFO, a file with
///   other hard links) is removed first (a non-empty directory only with
///   `remove_dirs`, i.e. under `--delete`);
/// * a read-only file is made writable (its mode is restored later).
///
/// New files are created with mode 0600. The length is set without
/// writing, so whatever is not written later (zeros skipped by sparse
/// writes) is a hole.
pub(crate) fn prepare_file(path: &Path, size: u64, remove_dirs: bool) -> io::Result<()> {
    let replace = match std::fs::symlink_metadata(path) {
        Ok(m) => !m.is_file() || m.nlink() > 1,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    let file = if replace {
        if remove_dirs {
            sys::remove_all(path)?;
        } else {
            sys::remove(path)?;
        }
        open(path, libc::O_CREAT | libc::O_EXCL)?
    } else {
        match open(path, libc::O_CREAT) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                open(path, 0)?
            }
            other => other?,
        }
    };
    if file.metadata()?.len() != size {
        file.set_len(size)?;
    }
    Ok(())
}

fn open(path: &Path, extra_flags: i32) -> io::Result<File> {
    File::options()
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | extra_flags)
        .open(path)
}

/// Opens a prepared file to write blobs into it.
pub(crate) fn open_for_write(path: &Path) -> io::Result<File> {
    let file = open(path, 0)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Writes `data` at `offset`. With `sparse`, leading zero bytes are not
/// written (the file was sized beforehand, so they read back as zeros and
/// occupy no blocks when they cover whole blocks).
pub(crate) fn write_blob(file: &File, data: &[u8], offset: u64, sparse: bool) -> io::Result<u64> {
    let skip = if sparse { zero_prefix_len(data) } else { 0 };
    let rest = &data[skip..];
    if !rest.is_empty() {
        file.write_all_at(rest, offset + skip as u64)?;
    }
    Ok(rest.len() as u64)
}

/// Length of the run of zero bytes `data` starts with.
pub(crate) fn zero_prefix_len(data: &[u8]) -> usize {
    let mut chunks = data.chunks_exact(16);
    let mut n = 0;
    for c in &mut chunks {
        let word = u128::from_ne_bytes(c.try_into().expect("16-byte chunk"));
        if word != 0 {
            return n + c.iter().take_while(|&&b| b == 0).count();
        }
        n += 16;
    }
    n + chunks.remainder().iter().take_while(|&&b| b == 0).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn zero_prefix() {
        assert_eq!(zero_prefix_len(&[]), 0);
        assert_eq!(zero_prefix_len(&[0; 100]), 100);
        let mut v = vec![0u8; 100];
        v[37] = 1;
        assert_eq!(zero_prefix_len(&v), 37);
        v[3] = 9;
        assert_eq!(zero_prefix_len(&v), 3);
        assert_eq!(zero_prefix_len(&[1]), 0);
    }

    /// Holes are left where zero blobs would go: far fewer blocks than
    /// the length, and the content reads back right.
    #[test]
    fn sparse_writes_leave_holes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sparse");
        let mib = 1 << 20;
        let size = 8 * mib as u64 + 3;
        prepare_file(&p, size, false).unwrap();
        let f = open_for_write(&p).unwrap();
        let zeros = vec![0u8; mib];
        let mut data = vec![0u8; mib];
        data[mib - 1] = 7;
        for i in 0..8u64 {
            let blob = if i == 2 { &data } else { &zeros };
            write_blob(&f, blob, i * mib as u64, true).unwrap();
        }
        write_blob(&f, b"end", 8 * mib as u64, true).unwrap();
        drop(f);
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.len(), size);
        // 512-byte blocks: well under the 16 Ki blocks a dense file needs.
        assert!(m.blocks() < 1024, "{} blocks", m.blocks());
        let back = std::fs::read(&p).unwrap();
        assert_eq!(back[3 * mib - 1], 7);
        assert_eq!(&back[8 * mib..], b"end");
        assert_eq!(back.iter().filter(|&&b| b != 0).count(), 4);

        // The same writes without --sparse allocate everything.
        let q = dir.path().join("dense");
        prepare_file(&q, size, false).unwrap();
        let f = open_for_write(&q).unwrap();
        for i in 0..8u64 {
            write_blob(&f, &zeros, i * mib as u64, false).unwrap();
        }
        drop(f);
        assert!(std::fs::metadata(&q).unwrap().blocks() >= 16 * 1024);
    }

    #[test]
    fn prepare_reuses_truncates_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        prepare_file(&p, 4, false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);

        // Read-only files are made writable.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
        prepare_file(&p, 6, false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123\0\0");

        // A hard-linked file is replaced, leaving the other link alone.
        let other = dir.path().join("other");
        std::fs::hard_link(&p, &other).unwrap();
        prepare_file(&p, 2, false).unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"0123\0\0");
        assert_eq!(std::fs::metadata(&p).unwrap().nlink(), 1);

        // A symlink is replaced, not followed.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&other, &link).unwrap();
        prepare_file(&link, 1, false).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
        assert_eq!(std::fs::read(&other).unwrap().len(), 6);

        // A non-empty directory only goes with remove_dirs.
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("x"), b"x").unwrap();
        assert!(prepare_file(&d, 1, false).is_err());
        prepare_file(&d, 1, true).unwrap();
        assert!(std::fs::symlink_metadata(&d).unwrap().is_file());

        // A FIFO is replaced without blocking.
        let fifo = dir.path().join("fifo");
        sys::mkfifo(&fifo, 0o600).unwrap();
        prepare_file(&fifo, 0, false).unwrap();
        assert!(std::fs::symlink_metadata(&fifo).unwrap().is_file());
    }
}
