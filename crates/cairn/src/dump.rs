//! `dump`: write a file's content, or a directory as a tar or zip archive.

use crate::repository::Repository;
use crate::walk::{find_node, walk, Visit};
use crate::{Error, Result};
use cairn_format::{BlobType, Id, Node, NodeType};
use rayon::prelude::*;
use std::io::{self, Write};

/// How many blobs are decoded in parallel ahead of the writer.
const BLOBS_IN_FLIGHT: usize = 8;

/// Archive format for dumping a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    /// POSIX tar (restic's default).
    #[default]
    Tar,
    /// Zip.
    Zip,
}

/// Writes the content of a file node to `out`, in order, decoding blobs in
/// parallel a few at a time.
pub fn write_file_content(repo: &Repository, node: &Node, out: &mut dyn Write) -> Result<()> {
    let content = node.content.as_deref().unwrap_or(&[]);
    for window in content.chunks(BLOBS_IN_FLIGHT) {
        let blobs: Vec<Result<Vec<u8>>> = window
            .par_iter()
            .map(|id| repo.load_blob(BlobType::Data, id))
            .collect();
        for blob in blobs {
            out.write_all(&blob?)
                .map_err(|e| Error::io("<output>", e))?;
        }
    }
    Ok(())
}

/// Counts what goes through to the output.
struct Counting<'a> {
    out: &'a mut dyn Write,
    written: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Repository {
    /// Writes the content of the file at `path` (`/home/u/notes.txt`, as
    /// [`ls`](crate::walk) shows it and
    /// [`backup::snapshot_path`](crate::backup::snapshot_path) computes it)
    /// in the snapshot tree `tree` (a snapshot's
    /// [`tree`](cairn_format::Snapshot::tree)) to `out`, and returns the
    /// number of bytes written. The index must be loaded.
    ///
    /// Only regular files are dumped: a directory, a symlink or another
    /// node type is refused with [`Error::InvalidArgument`], a path that is
    /// not in the snapshot with [`Error::PathNotFound`]. For a directory as
    /// a tar or zip archive, see [`dump`].
    ///
    /// ```no_run
    /// # fn f(repo: &cairn::Repository) -> cairn::Result<()> {
    /// let latest = repo.find_snapshot("latest", &cairn::SnapshotFilter::default())?;
    /// let mut out = Vec::new();
    /// let size = repo.dump_file(&latest.snapshot.tree, "/etc/hostname", &mut out)?;
    /// assert_eq!(size, out.len() as u64);
    /// # Ok(()) }
    /// ```
    pub fn dump_file(&self, tree: &Id, path: impl AsRef<[u8]>, out: &mut dyn Write) -> Result<u64> {
        let path = path.as_ref();
        let shown = String::from_utf8_lossy(path);
        let node = match find_node(self, tree, path)? {
            (Some(node), _) => node,
            (None, _) => {
                return Err(Error::InvalidArgument(format!(
                    "{shown:?} is the snapshot's root directory, not a file; \
                     dump it as an archive with cairn::dump::dump"
                )))
            }
        };
        match node.node_type {
            NodeType::File => {}
            NodeType::Dir => {
                return Err(Error::InvalidArgument(format!(
                    "{shown:?} is a directory, not a file; \
                     dump it as an archive with cairn::dump::dump"
                )))
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "{shown:?} is not a regular file"
                )))
            }
        }
        let mut counting = Counting { out, written: 0 };
        write_file_content(self, &node, &mut counting)?;
        Ok(counting.written)
    }
}

/// Dumps `path` of the snapshot tree `root`: a file's content as is, a
/// directory (or the root) as an archive.
pub fn dump(
    repo: &Repository,
    root: &Id,
    path: &[u8],
    format: ArchiveFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let (node, _) = find_node(repo, root, path)?;
    match node {
        Some(n) if n.node_type == NodeType::File => write_file_content(repo, &n, out),
        Some(n) if n.node_type == NodeType::Dir => {
            let sub = n
                .subtree
                .ok_or_else(|| Error::PathNotFound(String::from_utf8_lossy(path).into()))?;
            write_archive(repo, &sub, path, format, out)
        }
        Some(_) => Err(Error::InvalidArgument(format!(
            "{}: cannot dump this node type",
            String::from_utf8_lossy(path)
        ))),
        None => write_archive(repo, root, b"", format, out),
    }
}

fn write_archive(
    repo: &Repository,
    tree: &Id,
    prefix: &[u8],
    format: ArchiveFormat,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        ArchiveFormat::Tar => write_tar(repo, tree, prefix, out),
        ArchiveFormat::Zip => write_zip(repo, tree, prefix, out),
    }
}

fn io_err(e: io::Error) -> Error {
    Error::io("<output>", e)
}

/// The archive member name of a node: its full path in the snapshot,
/// cleaned as Go's `path.Join` cleans restic's member names, without the
/// leading `/`. Cleaning a rooted path resolves every `..` lexically, so
/// no name (a node may be called `..` or `../../etc`) climbs out of the
/// archive; empty when the path cleans to the root itself.
fn member_name(prefix: &[u8], path: &[u8]) -> Vec<u8> {
    let mut rooted = b"/".to_vec();
    rooted.extend_from_slice(prefix);
    rooted.push(b'/');
    rooted.extend_from_slice(path);
    let mut name = crate::filter::clean(&rooted);
    name.remove(0);
    name
}

fn write_tar(repo: &Repository, tree: &Id, prefix: &[u8], out: &mut dyn Write) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    let mut failure: Option<Error> = None;
    walk(
        repo,
        tree,
        &mut |path, node| {
            let mut name = member_name(prefix, path);
            if name.is_empty() {
                // A node whose name cleans to the root (`..`): restic
                // would write the root itself, which is not a member.
                return Ok(Visit::Continue);
            }
            // Extended attributes travel as PAX records, as restic writes them.
            if !node.extended_attributes.is_empty() {
                // Go writes PAX records sorted by key.
                let mut records: Vec<(String, &[u8])> = node
                    .extended_attributes
                    .iter()
                    .map(|x| (format!("SCHILY.xattr.{}", x.name), x.value.as_slice()))
                    .collect();
                records.sort();
                builder
                    .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
                    .map_err(io_err)?;
            }
            let mut header = tar::Header::new_ustar();
            header.set_mode(node.mode & 0o777 | unix_setid_bits(node.mode));
            header.set_uid(u64::from(node.uid));
            header.set_gid(u64::from(node.gid));
            // Go's tar writer rounds to the nearest second, halves up.
            let secs = node.mtime.unix_secs + i64::from(node.mtime.nanos >= 500_000_000);
            header.set_mtime(secs.max(0) as u64);
            let _ = header.set_username(&node.user);
            let _ = header.set_groupname(&node.group);
            let result = match node.node_type {
                NodeType::File => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(content_length(repo, node)?);
                    let reader = ContentReader::new(repo, node);
                    builder.append_data(&mut header, os_path(&name), reader)
                }
                NodeType::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    name.push(b'/');
                    builder.append_data(&mut header, os_path(&name), io::empty())
                }
                NodeType::Symlink => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder.append_link(&mut header, os_path(&name), os_path(&node.link_target))
                }
                // restic writes other node types as empty regular files.
                _ => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(0);
                    builder.append_data(&mut header, os_path(&name), io::empty())
                }
            };
            result.map_err(io_err)?;
            Ok(Visit::Continue)
        },
        &mut |_, e| {
            failure.get_or_insert(e);
            Ok(())
        },
    )?;
    builder.finish().map_err(io_err)?;
    failure.map_or(Ok(()), Err)
}

fn write_zip(repo: &Repository, tree: &Id, prefix: &[u8], out: &mut dyn Write) -> Result<()> {
    // Zip needs a seekable writer; build it in memory-backed temp storage.
    let mut buf = io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let mut failure: Option<Error> = None;
        walk(
            repo,
            tree,
            &mut |path, node| {
                let name = member_name(prefix, path);
                if name.is_empty() {
                    return Ok(Visit::Continue);
                }
                let name = String::from_utf8_lossy(&name).into_owned();
                let opts = zip::write::SimpleFileOptions::default()
                    .unix_permissions(node.mode & 0o777)
                    .large_file(node.size >= u32::MAX as u64);
                let zerr = |e: zip::result::ZipError| Error::InvalidArgument(format!("zip: {e}"));
                match node.node_type {
                    NodeType::File => {
                        zip.start_file(name, opts).map_err(zerr)?;
                        write_file_content(repo, node, &mut zip)?;
                    }
                    NodeType::Dir => zip.add_directory(name, opts).map_err(zerr)?,
                    NodeType::Symlink => zip
                        .add_symlink(name, String::from_utf8_lossy(&node.link_target), opts)
                        .map_err(zerr)?,
                    _ => {}
                }
                Ok(Visit::Continue)
            },
            &mut |_, e| {
                failure.get_or_insert(e);
                Ok(())
            },
        )?;
        zip.finish()
            .map_err(|e| Error::InvalidArgument(format!("zip: {e}")))?;
        if let Some(e) = failure {
            return Err(e);
        }
    }
    out.write_all(buf.get_ref()).map_err(io_err)
}

/// The length of a file's content according to the index (the node's
/// `size` field may be stale for files that changed while being read).
fn content_length(repo: &Repository, node: &Node) -> Result<u64> {
    let mut total = 0;
    for id in node.content.as_deref().unwrap_or(&[]) {
        total += repo.locate_blob(BlobType::Data, id)?.plain_length();
    }
    Ok(total)
}

/// Streams a file's content blob by blob, so that large files are never
/// held in memory whole.
struct ContentReader<'a> {
    repo: &'a Repository,
    ids: &'a [Id],
    next: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl<'a> ContentReader<'a> {
    fn new(repo: &'a Repository, node: &'a Node) -> Self {
        ContentReader {
            repo,
            ids: node.content.as_deref().unwrap_or(&[]),
            next: 0,
            buf: Vec::new(),
            pos: 0,
        }
    }
}

impl io::Read for ContentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            let Some(id) = self.ids.get(self.next) else {
                return Ok(0);
            };
            self.next += 1;
            self.buf = self
                .repo
                .load_blob(BlobType::Data, id)
                .map_err(|e| io::Error::other(e.to_string()))?;
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn unix_setid_bits(go_mode: u32) -> u32 {
    let mut bits = 0;
    if go_mode & (1 << 23) != 0 {
        bits |= 0o4000;
    }
    if go_mode & (1 << 22) != 0 {
        bits |= 0o2000;
    }
    if go_mode & (1 << 20) != 0 {
        bits |= 0o1000;
    }
    bits
}

fn os_path(raw: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(raw))
}

#[cfg(test)]
mod tests {
    use super::member_name;

    #[test]
    fn member_names_never_climb_out_of_the_archive() {
        let name =
            |prefix: &[u8], path: &[u8]| String::from_utf8(member_name(prefix, path)).unwrap();
        assert_eq!(name(b"", b"/a/b"), "a/b");
        assert_eq!(name(b"/dir", b"/a"), "dir/a");
        assert_eq!(name(b"", b"/../../etc/passwd"), "etc/passwd");
        assert_eq!(name(b"", b"/a/../../b"), "b");
        assert_eq!(name(b"/dir", b"/../x"), "x");
        assert_eq!(name(b"", b"/.."), "");
        assert_eq!(name(b"", b"/a//b/./c"), "a/b/c");
    }
}
