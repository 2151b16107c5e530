//! Comparing a file on disk with a snapshot node, blob by blob: used to
//! skip content that is already in place (`--overwrite`) and to check the
//! result (`--verify`).

use super::sys;
use cairn_format::Id;
use rustix::fs::OFlags;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// How an existing file compares with the node that is to be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileState {
    /// Per content blob, whether the bytes at its offset already hash to
    /// it; `None` when size and mtime matched and the content was trusted.
    blob_matches: Option<Vec<bool>>,
    size_matches: bool,
}

impl FileState {
    /// Whether anything must be written.
    pub(crate) fn needs_restore(&self) -> bool {
        !self.size_matches
            || self
                .blob_matches
                .as_ref()
                .is_some_and(|m| m.contains(&false))
    }

    /// Whether content blob number `i` is already in place.
    pub(crate) fn has_matching_blob(&self, i: usize) -> bool {
        self.blob_matches
            .as_ref()
            .is_some_and(|m| m.get(i) == Some(&true))
    }
}

/// What a restored file should be.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expected<'a> {
    pub size: u64,
    /// Modification time: seconds since the epoch and nanoseconds.
    pub mtime: (i64, u32),
    /// Its content blobs, in order.
    pub content: &'a [Id],
}

/// Why a restored file failed verification.
#[derive(Debug)]
pub(crate) enum Mismatch {
    /// The file could not be read.
    Io(io::Error),
    /// Not a regular file.
    NotRegular,
    /// A file with further names, which restore replaces.
    HardLinked,
    /// Wrong size.
    Size { expected: u64, actual: u64 },
    /// A blob's bytes differ; `offset` is where the blob starts.
    Content { blob: Id, offset: u64 },
    /// The index does not know a blob's length.
    UnknownBlob(Id),
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Io(e) => write!(f, "{e}"),
            Mismatch::NotRegular => f.write_str("expected a regular file"),
            Mismatch::HardLinked => f.write_str("the file has further hard links"),
            Mismatch::Size { expected, actual } => {
                write!(f, "invalid file size: expected {expected}, got {actual}")
            }
            Mismatch::Content { blob, offset } => {
                write!(
                    f,
                    "unexpected content starting at offset {offset} (blob {blob})"
                )
            }
            Mismatch::UnknownBlob(id) => write!(f, "unable to fetch blob {id}"),
        }
    }
}

impl From<io::Error> for Mismatch {
    fn from(e: io::Error) -> Self {
        Mismatch::Io(e)
    }
}

/// Compares the file `name` in `dir` with what it should be. With `fail_fast`, the
/// first difference is an error (verification); otherwise every blob is
/// checked and the result says which ones match (overwrite). With
/// `trust_mtime`, a file whose size and modification time match is taken
/// as unchanged unread. `blob_len` gives a data blob's plaintext length.
///
/// Only the entry itself is read: a symlink there is not followed, and
/// when comparing for overwrite a file with further hard links does not
/// count (restore replaces it with a new file rather than writing into
/// the other names).
pub(crate) fn compare(
    dir: &File,
    name: &[u8],
    want: &Expected<'_>,
    fail_fast: bool,
    trust_mtime: bool,
    blob_len: &dyn Fn(&Id) -> Option<u64>,
) -> Result<FileState, Mismatch> {
    // lstat first: opening a device node may have effects.
    let st = sys::stat_at(dir, name)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))?;
    if !sys::is_file(&st) {
        return Err(Mismatch::NotRegular);
    }
    let flags = OFlags::RDONLY | OFlags::NONBLOCK;
    let file = sys::open_file_at(dir, name, flags, 0)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Mismatch::NotRegular);
    }
    if !fail_fast && meta.nlink() > 1 {
        return Err(Mismatch::HardLinked);
    }
    let mut size_matches = meta.len() == want.size;
    if !size_matches && fail_fast {
        return Err(Mismatch::Size {
            expected: want.size,
            actual: meta.len(),
        });
    }
    let same_mtime = (meta.mtime(), meta.mtime_nsec()) == (want.mtime.0, i64::from(want.mtime.1));
    if trust_mtime && same_mtime && size_matches {
        return Ok(FileState {
            blob_matches: None,
            size_matches,
        });
    }
    let content = want.content;
    let mut matches = vec![false; content.len()];
    let mut buf = Vec::new();
    let mut offset = 0u64;
    for (i, id) in content.iter().enumerate() {
        let len = blob_len(id).ok_or(Mismatch::UnknownBlob(*id))?;
        buf.resize(len as usize, 0);
        match file.read_exact_at(&mut buf, offset) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !fail_fast => {
                size_matches = false;
                break;
            }
            Err(e) => return Err(e.into()),
        }
        matches[i] = Id::hash(&buf) == *id;
        if fail_fast && !matches[i] {
            return Err(Mismatch::Content { blob: *id, offset });
        }
        offset += len;
    }
    Ok(FileState {
        blob_matches: Some(matches),
        size_matches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_format::{GoTime, Node, NodeType};
    use std::collections::HashMap;
    use std::path::Path;

    /// `compare` for a path, through its parent directory.
    fn compare_path(
        p: &Path,
        node: &Node,
        fail_fast: bool,
        trust_mtime: bool,
        len: &dyn Fn(&Id) -> Option<u64>,
    ) -> Result<FileState, Mismatch> {
        let dir = sys::open_root(p.parent().unwrap()).unwrap();
        let name = p.file_name().unwrap().as_encoded_bytes();
        let want = Expected {
            size: node.size,
            mtime: (node.mtime.unix_secs, node.mtime.nanos),
            content: node.content.as_deref().unwrap_or_default(),
        };
        compare(&dir, name, &want, fail_fast, trust_mtime, len)
    }

    fn file_node(chunks: &[&[u8]]) -> (Node, HashMap<Id, u64>) {
        let mut n = Node::new(*b"f", NodeType::File);
        let ids: Vec<Id> = chunks.iter().map(|c| Id::hash(c)).collect();
        let lens = chunks
            .iter()
            .map(|c| (Id::hash(c), c.len() as u64))
            .collect();
        n.size = chunks.iter().map(|c| c.len() as u64).sum();
        n.content = Some(ids);
        (n, lens)
    }

    #[test]
    fn per_blob_matches_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let (node, lens) = file_node(&[b"aaaa", b"bbb", b"cc"]);
        let len = |id: &Id| lens.get(id).copied();

        std::fs::write(&p, b"aaaaXXXcc").unwrap();
        let s = compare_path(&p, &node, false, false, &len).unwrap();
        assert_eq!(s.blob_matches, Some(vec![true, false, true]));
        assert!(s.needs_restore() && s.has_matching_blob(0) && !s.has_matching_blob(1));
        assert!(matches!(
            compare_path(&p, &node, true, false, &len),
            Err(Mismatch::Content { offset: 4, .. })
        ));

        std::fs::write(&p, b"aaaabbb").unwrap();
        let s = compare_path(&p, &node, false, false, &len).unwrap();
        assert!(!s.size_matches && s.needs_restore());
        assert_eq!(s.blob_matches, Some(vec![true, true, false]));
        assert!(matches!(
            compare_path(&p, &node, true, false, &len),
            Err(Mismatch::Size {
                expected: 9,
                actual: 7
            })
        ));

        std::fs::write(&p, b"aaaabbbccEXTRA").unwrap();
        let s = compare_path(&p, &node, false, false, &len).unwrap();
        assert!(s.needs_restore() && s.has_matching_blob(2));

        std::fs::write(&p, b"aaaabbbcc").unwrap();
        assert!(!compare_path(&p, &node, false, false, &len)
            .unwrap()
            .needs_restore());
        compare_path(&p, &node, true, false, &len).unwrap();
    }

    #[test]
    fn trusting_mtime_skips_reading() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let (mut node, lens) = file_node(&[b"right"]);
        let len = |id: &Id| lens.get(id).copied();
        std::fs::write(&p, b"wrong").unwrap();
        node.mtime = GoTime {
            unix_secs: 1_000_000_000,
            nanos: 5,
            offset_secs: 0,
        };
        let t = filetime::FileTime::from_unix_time(1_000_000_000, 5);
        filetime::set_file_mtime(&p, t).unwrap();
        assert!(!compare_path(&p, &node, false, true, &len)
            .unwrap()
            .needs_restore());
        assert!(compare_path(&p, &node, false, false, &len)
            .unwrap()
            .needs_restore());
    }

    #[test]
    fn special_files_do_not_match() {
        let dir = tempfile::tempdir().unwrap();
        let (node, lens) = file_node(&[b"x"]);
        let len = |id: &Id| lens.get(id).copied();
        let fifo = dir.path().join("fifo");
        crate::restore::files::tests::mkfifo(&fifo);
        assert!(matches!(
            compare_path(&fifo, &node, false, false, &len),
            Err(Mismatch::NotRegular)
        ));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("fifo", &link).unwrap();
        assert!(matches!(
            compare_path(&link, &node, false, false, &len),
            Err(Mismatch::NotRegular)
        ));
        assert!(matches!(
            compare_path(&dir.path().join("none"), &node, false, false, &len),
            Err(Mismatch::Io(_))
        ));
        let unknown = |_: &Id| None;
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        assert!(matches!(
            compare_path(&dir.path().join("f"), &node, false, false, &unknown),
            Err(Mismatch::UnknownBlob(_))
        ));
    }
}
