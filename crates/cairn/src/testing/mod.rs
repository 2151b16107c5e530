//! Crafting repositories for tests, including hostile ones.
//!
//! A [`Crafter`] makes a real repository (v1 or v2, with cheap scrypt
//! parameters) and writes into it exactly what a test asks for, sealed the
//! way restic seals it: blobs go through the library's [`BlobWriter`]
//! into packs with an index, unpacked files (snapshots, index files)
//! through [`Repository::save_unpacked`] or the same encryption. Nothing is
//! sorted, deduplicated or validated, so a test can build trees restic
//! itself would never write: duplicate names, names with `/` or `..`,
//! symlinks to anywhere, odd modes, chains 100,000 directories deep,
//! index entries claiming huge lengths, compression bombs and blobs that
//! fail their hash check.
//!
//! Only built for tests: `cfg(test)` or the `test-support` feature.
//!
//! Outside this crate, enable the `test-support` feature (the example is
//! also the unit test `testing::tests::doc_example`):
//!
//! ```ignore
//! use cairn::testing::{Crafter, dir, file};
//!
//! let tmp = tempfile::tempdir().unwrap();
//! let mut c = Crafter::init(&tmp.path().join("repo"), 2).unwrap();
//! let blob = c.data(b"hello").unwrap();
//! // Two entries called "f": restic would never write this tree.
//! let tree = c.tree(vec![file("f", &[blob], 5), file("f", &[], 0)]).unwrap();
//! let deep = c.chain(1000, tree).unwrap();
//! let root = c.tree(vec![dir("top", deep)]).unwrap();
//! let snapshot = c.snapshot(root).unwrap();
//! assert_eq!(c.repo().list_ids(cairn::FileType::Snapshot).unwrap()[0].0, snapshot);
//! ```

mod bomb;
mod counting;
#[cfg(test)]
mod tests;
mod untouched;

pub use bomb::{BombRepeat, INDEX_BOMB_UNIT, SNAPSHOT_TAGS_UNIT};
pub use counting::{CountingBackend, ReadCounts};
pub use untouched::{fingerprint, fingerprint_tree};

use crate::write::{BlobWriter, WriteOptions};
use crate::{BlobLocation, InitOptions, LocalBackend, Repository, Result};
use cairn_backend::{Backend, FileType};
use cairn_crypto::ScryptParams;
use cairn_format::{BlobType, GoTime, Id, IndexBlob, IndexFile, IndexPack, Node, NodeType};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The password of every crafted repository.
pub const PASSWORD: &str = "test-password";

/// Fast scrypt parameters (N = 1024, r = 8, p = 1), which restic accepts.
pub fn small_scrypt() -> ScryptParams {
    ScryptParams {
        n: 1024,
        r: 8,
        p: 1,
    }
}

/// A file node with `content` and `size` (mode 0644).
pub fn file(name: impl Into<Vec<u8>>, content: &[Id], size: u64) -> Node {
    let mut node = Node::new(name, NodeType::File);
    node.mode = 0o644;
    node.content = Some(content.to_vec());
    node.size = size;
    node
}

/// A directory node whose contents are the tree `subtree` (mode 0755).
pub fn dir(name: impl Into<Vec<u8>>, subtree: Id) -> Node {
    let mut node = Node::new(name, NodeType::Dir);
    node.mode = crate::format::mode::DIR | 0o755;
    node.subtree = Some(subtree);
    node
}

/// A symlink node pointing at `target` (any bytes).
pub fn symlink(name: impl Into<Vec<u8>>, target: impl Into<Vec<u8>>) -> Node {
    let mut node = Node::new(name, NodeType::Symlink);
    node.mode = crate::format::mode::SYMLINK | 0o777;
    node.link_target = target.into();
    node
}

/// A repository being crafted. Blobs are buffered in packs until
/// [`Crafter::flush`] (called by [`Crafter::snapshot`]) writes them with
/// their index.
pub struct Crafter {
    path: PathBuf,
    repo: Repository,
    writer: Option<BlobWriter>,
}

impl Crafter {
    /// Creates a repository of format `version` (1 or 2) at `path`, with
    /// password [`PASSWORD`].
    pub fn init(path: &Path, version: u32) -> Result<Crafter> {
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(path));
        let opts = InitOptions {
            version,
            scrypt: Some(small_scrypt()),
            ..InitOptions::default()
        };
        let mut repo = Repository::init(backend, PASSWORD, &opts)?;
        repo.load_index()?;
        // Crafted damage (a blob under another blob's ID) is the point
        // here; the check before upload would refuse it.
        repo.set_extra_verify(false);
        Ok(Crafter {
            path: path.to_path_buf(),
            repo,
            writer: None,
        })
    }

    /// The repository's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open repository (its index is as of the last flush).
    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    fn writer(&mut self) -> Result<&BlobWriter> {
        if self.writer.is_none() {
            self.writer = Some(BlobWriter::new(&self.repo, WriteOptions::default())?);
        }
        Ok(self.writer.as_ref().expect("just set"))
    }

    /// Stores a data blob; returns its ID.
    pub fn data(&mut self, plain: &[u8]) -> Result<Id> {
        Ok(self.writer()?.save_blob(BlobType::Data, plain)?.id)
    }

    /// Stores `json` as a tree blob, byte for byte; returns its ID.
    pub fn tree_json(&mut self, json: &[u8]) -> Result<Id> {
        Ok(self.writer()?.save_blob(BlobType::Tree, json)?.id)
    }

    /// Stores a tree of `nodes` in the given order, duplicates and all.
    pub fn tree(&mut self, nodes: Vec<Node>) -> Result<Id> {
        self.tree_json(&crate::Tree { nodes }.to_json())
    }

    /// Stores a chain of `depth` directories, each holding only a
    /// directory `d`, the last holding `leaf`; returns the top tree.
    /// The chain is `depth` small distinct trees, so even 100,000 levels
    /// are cheap.
    pub fn chain(&mut self, depth: usize, leaf: Id) -> Result<Id> {
        let mut below = leaf;
        for _ in 0..depth {
            below = self.tree(vec![dir("d", below)])?;
        }
        Ok(below)
    }

    /// Stores `plain` as a blob under `claimed`, an ID that is not its
    /// SHA-256: the blob decrypts fine but fails its hash check.
    pub fn mismatched_blob(
        &mut self,
        blob_type: BlobType,
        claimed: Id,
        plain: &[u8],
    ) -> Result<()> {
        self.writer()?
            .save_blob_with_id(blob_type, claimed, plain)
            .map(|_| ())
    }

    /// Writes the buffered packs and their index, then reloads the index.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(writer) = self.writer.take() {
            writer.flush()?;
        }
        self.repo.invalidate_index();
        self.repo.load_index()?;
        Ok(())
    }

    /// Flushes, then writes a snapshot of `tree` (path `/crafted`, host
    /// `crafted`); returns its ID.
    pub fn snapshot(&mut self, tree: Id) -> Result<Id> {
        self.flush()?;
        let mut snap = crate::Snapshot::new(GoTime::now_local(), tree);
        snap.paths = vec!["/crafted".to_string()];
        snap.hostname = "crafted".to_string();
        snap.username = "crafted".to_string();
        self.repo.save_unpacked(FileType::Snapshot, &snap.to_json())
    }

    /// Writes `json` as a snapshot file verbatim (compressed in v2).
    pub fn snapshot_json(&self, json: &[u8]) -> Result<Id> {
        self.repo.save_unpacked(FileType::Snapshot, json)
    }

    /// Where the index says a blob is (after [`Crafter::flush`]).
    pub fn locate(&self, blob_type: BlobType, id: &Id) -> Option<BlobLocation> {
        self.repo.index().lookup(blob_type, id)
    }

    /// Writes an extra index file claiming that `blob` lives in `pack`
    /// at `offset` with the given stored and uncompressed lengths
    /// (anything, e.g. 4 GiB). Flushes first; index files are read in
    /// name order, so remove the real one (see [`Crafter::index_files`])
    /// to make the claim the only one.
    pub fn claim(&mut self, pack: Id, blob: IndexBlob) -> Result<Id> {
        self.flush()?;
        let file = IndexFile {
            packs: vec![IndexPack {
                id: pack,
                blobs: vec![blob],
            }],
        };
        let id = self.repo.save_unpacked(FileType::Index, &file.to_json())?;
        self.repo.invalidate_index();
        self.repo.load_index()?;
        Ok(id)
    }

    /// The IDs of the index files written so far.
    pub fn index_files(&self) -> Result<Vec<Id>> {
        Ok(self
            .repo
            .list_ids(FileType::Index)?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// The file of a repository object on disk.
    pub fn file_path(&self, file_type: FileType, id: &Id) -> PathBuf {
        let hex = id.to_hex();
        match file_type {
            FileType::Pack => self.path.join("data").join(&hex[..2]).join(hex),
            FileType::Snapshot => self.path.join("snapshots").join(hex),
            FileType::Index => self.path.join("index").join(hex),
            FileType::Key => self.path.join("keys").join(hex),
            FileType::Lock => self.path.join("locks").join(hex),
            FileType::Config => self.path.join("config"),
        }
    }

    /// Flips one byte in the middle of a stored blob (after a flush), so
    /// that it no longer decrypts (its MAC fails). The pack keeps its
    /// name, so only reading that blob notices.
    pub fn corrupt_blob(&self, blob_type: BlobType, id: &Id) -> std::io::Result<()> {
        let loc = self
            .locate(blob_type, id)
            .ok_or_else(|| std::io::Error::other(format!("{blob_type} blob {id} not indexed")))?;
        let path = self.file_path(FileType::Pack, &loc.pack);
        let mut bytes = std::fs::read(&path)?;
        let at = usize::try_from(loc.offset + u64::from(loc.length) / 2).expect("small pack");
        bytes[at] ^= 0x55;
        write_replacing(&path, &bytes)
    }

    /// Seals `plaintext` (already framed for the repository version) with
    /// the master key and stores it as a file of `file_type` under its
    /// SHA-256.
    pub fn write_sealed(&self, file_type: FileType, plaintext: &[u8]) -> Result<Id> {
        let sealed = self.repo.key().seal(plaintext);
        let id = Id::hash(&sealed);
        self.repo
            .backend()
            .write(file_type, &id.to_hex(), &sealed)?;
        Ok(id)
    }
}

/// Replaces a repository file (they are read-only on disk).
fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::remove_file(path)?;
    std::fs::write(path, bytes)
}

/// A lock on `repo` (exclusive or shared) taken without restic's 200 ms
/// wait for conflicting locks, for tests that pass it to writers.
pub fn lock(repo: &Repository, exclusive: bool) -> Result<crate::LockGuard> {
    let mut opts = crate::LockOptions::new(exclusive);
    opts.wait_before_check = std::time::Duration::ZERO;
    repo.lock_with(&opts)
}
