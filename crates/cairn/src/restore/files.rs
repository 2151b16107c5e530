//! Creating regular files and writing blobs into them at their offsets.

use super::sys;
use rustix::fs::OFlags;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Prepares the file `name` in `dir` to receive `size` bytes of content,
/// as restic does:
///
/// * an existing regular file with a single link is reused (so blobs
///   already in place need not be written again) and cut or extended to
///   `size`;
/// * anything else there (a symlink, a directory, a FIFO, a file with
///   other hard links) is removed first, never followed (a non-empty
///   directory only with `remove_dirs`, i.e. under `--delete`);
/// * a read-only file is made writable (its mode is restored later).
///
/// New files are created with mode 0600. The length is set without
/// writing, so whatever is not written later (zeros skipped by sparse
/// writes) is a hole.
pub(crate) fn prepare_file(
    dir: &File,
    name: &[u8],
    size: u64,
    remove_dirs: bool,
) -> io::Result<File> {
    let replace = match sys::stat_at(dir, name)? {
        Some(st) => !sys::is_file(&st) || st.st_nlink > 1,
        None => false,
    };
    let file = if replace {
        if remove_dirs {
            sys::remove_tree_at(dir, name, true, &mut |_| {})?;
        } else {
            sys::remove_at(dir, name)?;
        }
        open(dir, name, OFlags::CREATE | OFlags::EXCL)?
    } else {
        match open(dir, name, OFlags::CREATE) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                sys::chmod_at(dir, name, 0o600)?;
                open(dir, name, OFlags::empty())?
            }
            other => other?,
        }
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() != size {
        file.set_len(size)?;
    }
    Ok(file)
}

/// Creates the file `name` in `dir` if nothing is there (`O_EXCL`, so
/// nothing is followed or reused) and sets its length to `len`; `None`
/// if something is in the way (then [`prepare_file`] deals with it).
/// One call instead of a lookup, a create and a status check for the
/// usual case of a restore into a new or empty directory.
pub(crate) fn create_new(dir: &File, name: &[u8], len: u64) -> io::Result<Option<File>> {
    let file = match open(dir, name, OFlags::CREATE | OFlags::EXCL) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(e),
    };
    if len > 0 {
        file.set_len(len)?;
    }
    Ok(Some(file))
}

fn open(dir: &File, name: &[u8], extra_flags: OFlags) -> io::Result<File> {
    // Non-blocking: should a FIFO appear meanwhile, fail instead of
    // waiting for a reader (it does not change writes to regular files).
    let flags = OFlags::WRONLY | OFlags::NONBLOCK | extra_flags;
    sys::open_file_at(dir, name, flags, 0o600)
}

/// Opens a prepared file to write blobs into it.
pub(crate) fn open_for_write(dir: &File, name: &[u8]) -> io::Result<File> {
    let file = open(dir, name, OFlags::empty())?;
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
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    /// Creates a FIFO at `p`.
    pub(crate) fn mkfifo(p: &Path) {
        let dir = sys::open_root(p.parent().unwrap()).unwrap();
        let name = p.file_name().unwrap().as_encoded_bytes();
        #[allow(clippy::unnecessary_cast)]
        sys::mknod_at(&dir, name, libc::S_IFIFO as u32, 0o600, 0).unwrap();
    }

    fn at(p: &Path) -> (File, &[u8]) {
        let dir = sys::open_root(p.parent().unwrap()).unwrap();
        (dir, p.file_name().unwrap().as_encoded_bytes())
    }

    fn prepare(p: &Path, size: u64, remove_dirs: bool) -> io::Result<()> {
        let (dir, name) = at(p);
        prepare_file(&dir, name, size, remove_dirs).map(drop)
    }

    fn for_write(p: &Path) -> File {
        let (dir, name) = at(p);
        open_for_write(&dir, name).unwrap()
    }

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
        prepare(&p, size, false).unwrap();
        let f = for_write(&p);
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
        prepare(&q, size, false).unwrap();
        let f = for_write(&q);
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
        prepare(&p, 4, false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);

        // Read-only files are made writable.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
        prepare(&p, 6, false).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123\0\0");

        // A hard-linked file is replaced, leaving the other link alone.
        let other = dir.path().join("other");
        std::fs::hard_link(&p, &other).unwrap();
        prepare(&p, 2, false).unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"0123\0\0");
        assert_eq!(std::fs::metadata(&p).unwrap().nlink(), 1);

        // A symlink is replaced, not followed.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&other, &link).unwrap();
        prepare(&link, 1, false).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
        assert_eq!(std::fs::read(&other).unwrap().len(), 6);

        // A non-empty directory only goes with remove_dirs.
        let d = dir.path().join("d");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("x"), b"x").unwrap();
        assert!(prepare(&d, 1, false).is_err());
        prepare(&d, 1, true).unwrap();
        assert!(std::fs::symlink_metadata(&d).unwrap().is_file());

        // A FIFO is replaced without blocking.
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        prepare(&fifo, 0, false).unwrap();
        assert!(std::fs::symlink_metadata(&fifo).unwrap().is_file());
    }
}
