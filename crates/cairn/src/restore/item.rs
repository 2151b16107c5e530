//! What a restore keeps of every regular file from planning to the end,
//! in compact form.
//!
//! A restore plans the whole snapshot before it writes anything, so a
//! million-file snapshot means a million records held at once. A tree
//! node (name, three times, user and group strings, content ID list, ...)
//! costs about a kilobyte with its allocations; a [`FileItem`] keeps only
//! what restoring the file needs, in about a hundred bytes: its name as an
//! index into its directory's [`Names`] (one buffer per directory, which
//! `--delete` needs anyway), its blob IDs as a stretch of one shared
//! [`BlobLists`], and its metadata as a [`Meta`], with the owner already
//! resolved (`--ownership-by-name`), so no user or group name is kept.

use super::owners::Owners;
use super::state::{Expected, FileState};
use cairn_format::{mode, ExtendedAttribute, Id, Node, NodeType};

/// The names of one tree's entries, in tree order, in one buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Names {
    bytes: Vec<u8>,
    /// Where each name ends in `bytes`.
    ends: Vec<u32>,
}

impl Names {
    /// The names of `nodes`, in their order.
    pub(crate) fn of(nodes: &[Node]) -> Names {
        let total = nodes.iter().map(|n| n.name.len()).sum();
        let mut names = Names {
            bytes: Vec::with_capacity(total),
            ends: Vec::with_capacity(nodes.len()),
        };
        for n in nodes {
            names.bytes.extend_from_slice(&n.name);
            // A tree blob is at most 128 MiB (`MAX_TREE_BLOB`), names
            // included.
            let end = u32::try_from(names.bytes.len()).expect("a tree's names fit in 4 GiB");
            names.ends.push(end);
        }
        names
    }

    /// Name number `i`.
    pub(crate) fn get(&self, i: u32) -> &[u8] {
        let i = i as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        &self.bytes[start..self.ends[i] as usize]
    }

    /// How many names there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Every name, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.ends.len() as u32).map(|i| self.get(i))
    }
}

/// What kind of entry metadata is restored on; it decides how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file: opened, then changed through its descriptor.
    File,
    /// A directory.
    Dir,
    /// A symlink: its mode is left alone.
    Symlink,
    /// A FIFO or device node.
    Other,
}

/// The metadata a restore sets on an entry, taken from its node: owner,
/// extended attributes, access and modification times, mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    atime_secs: i64,
    mtime_secs: i64,
    atime_nanos: u32,
    mtime_nanos: u32,
    /// Permission bits with setuid, setgid and sticky, as `chmod` takes
    /// them.
    pub perm: u32,
    /// Owner; `u32::MAX` leaves it alone.
    pub uid: u32,
    /// Group; `u32::MAX` leaves it alone.
    pub gid: u32,
    pub kind: Kind,
    /// Empty for almost every file: no allocation then.
    pub xattrs: Box<[ExtendedAttribute]>,
}

impl Meta {
    /// The metadata of `node`, with the owner and group `owners` has for
    /// its user and group names (`--ownership-by-name`) if given, else its
    /// IDs.
    pub(crate) fn of(node: &Node, owners: Option<&Owners>) -> Meta {
        let (uid, gid) = match owners {
            Some(o) => o.ids(node),
            None => (node.uid, node.gid),
        };
        let kind = match node.node_type {
            NodeType::File => Kind::File,
            NodeType::Dir => Kind::Dir,
            NodeType::Symlink => Kind::Symlink,
            _ => Kind::Other,
        };
        Meta {
            atime_secs: node.atime.unix_secs,
            mtime_secs: node.mtime.unix_secs,
            atime_nanos: node.atime.nanos,
            mtime_nanos: node.mtime.nanos,
            perm: mode::to_unix(node.mode, &node.node_type) & 0o7777,
            uid,
            gid,
            kind,
            xattrs: node.extended_attributes.clone().into_boxed_slice(),
        }
    }

    /// Access time: seconds since the epoch and nanoseconds.
    pub(crate) fn atime(&self) -> (i64, u32) {
        (self.atime_secs, self.atime_nanos)
    }

    /// Modification time: seconds since the epoch and nanoseconds.
    pub(crate) fn mtime(&self) -> (i64, u32) {
        (self.mtime_secs, self.mtime_nanos)
    }
}

/// A regular file of the snapshot that is selected.
#[derive(Debug)]
pub(crate) struct FileItem {
    /// The directory it goes in (index into `DirTree::dirs`).
    pub dir: usize,
    /// Its name: entry `name` of its directory's [`Names`].
    pub name: u32,
    /// Its size in the snapshot.
    pub size: u64,
    /// Its content blobs in [`BlobLists`]: `blob_count` from `first_blob`.
    first_blob: usize,
    blob_count: u32,
    pub meta: Meta,
    pub action: FileAction,
}

/// What happens to a regular file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FileAction {
    /// Not decided yet (the existing file is compared in parallel).
    Undecided,
    /// Write its content; blobs the existing file already has are kept.
    /// (Boxed: it is rare, and would double every record's size.)
    Write(Option<Box<FileState>>),
    /// The content is already right: restore only the metadata.
    Unchanged,
    /// Left alone because of the overwrite policy.
    Skip,
    /// Writing failed early (an error is recorded); leave it alone.
    Failed,
}

/// The content blob IDs of every planned file, one file's after another.
#[derive(Debug, Default)]
pub(crate) struct BlobLists(Vec<Id>);

impl BlobLists {
    /// The blob IDs of `file`.
    pub(crate) fn of(&self, file: &FileItem) -> &[Id] {
        &self.0[file.first_blob..file.first_blob + file.blob_count as usize]
    }

    /// What `file` should be once restored.
    pub(crate) fn expected(&self, file: &FileItem) -> Expected<'_> {
        Expected {
            size: file.size,
            mtime: file.meta.mtime(),
            content: self.of(file),
        }
    }
}

/// The selected regular files and their blob lists.
#[derive(Debug, Default)]
pub(crate) struct Files {
    pub list: Vec<FileItem>,
    pub blobs: BlobLists,
}

impl Files {
    /// Adds the file `node`, entry `name` of directory `dir`, with its
    /// metadata `meta`; returns its number.
    pub(crate) fn push(&mut self, node: &Node, dir: usize, name: u32, meta: Meta) -> usize {
        let content = node.content.as_deref().unwrap_or_default();
        let first_blob = self.blobs.0.len();
        self.blobs.0.extend_from_slice(content);
        self.list.push(FileItem {
            dir,
            name,
            size: node.size,
            first_blob,
            // One tree blob (at most 128 MiB of JSON) lists far fewer.
            blob_count: u32::try_from(content.len()).expect("fewer than 2^32 blobs per file"),
            meta,
            action: FileAction::Undecided,
        });
        self.list.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_format::GoTime;

    fn node(name: &[u8], node_type: NodeType) -> Node {
        let mut n = Node::new(name, node_type);
        n.mode = mode::SETUID | mode::SETGID | mode::STICKY | 0o751;
        n.mtime = GoTime {
            unix_secs: 1_600_000_000,
            nanos: 123_456_789,
            offset_secs: 7200,
        };
        n.atime = GoTime {
            unix_secs: -5,
            nanos: 999_999_999,
            offset_secs: 0,
        };
        (n.uid, n.gid) = (1001, u32::MAX);
        (n.user, n.group) = ("alice".into(), "staff".into());
        n.size = 42;
        n
    }

    /// Every field restore sets comes through, as the node had it.
    #[test]
    fn meta_keeps_every_field_restored() {
        let mut n = node(b"f", NodeType::File);
        n.extended_attributes = vec![ExtendedAttribute {
            name: "user.x".into(),
            value: vec![0, 255],
        }];
        let m = Meta::of(&n, None);
        assert_eq!(m.mtime(), (1_600_000_000, 123_456_789));
        assert_eq!(m.atime(), (-5, 999_999_999));
        assert_eq!(m.perm, 0o7751);
        assert_eq!(m.perm, mode::to_unix(n.mode, &n.node_type) & 0o7777);
        assert_eq!((m.uid, m.gid), (1001, u32::MAX));
        assert_eq!(m.kind, Kind::File);
        assert_eq!(&*m.xattrs, n.extended_attributes.as_slice());

        let kinds = [
            (NodeType::Dir, Kind::Dir),
            (NodeType::Symlink, Kind::Symlink),
            (NodeType::Fifo, Kind::Other),
            (NodeType::Chardev, Kind::Other),
        ];
        for (t, k) in kinds {
            let n = node(b"x", t);
            let m = Meta::of(&n, None);
            assert_eq!(m.kind, k);
            assert_eq!(m.perm, mode::to_unix(n.mode, &n.node_type) & 0o7777);
            assert!(m.xattrs.is_empty());
        }
    }

    /// A plan holds one record per file of the snapshot: it must stay a
    /// fraction of a tree node (about 400 bytes inline, plus its
    /// allocations).
    #[test]
    fn file_records_stay_small() {
        assert!(std::mem::size_of::<FileItem>() <= 112);
        assert!(std::mem::size_of::<FileItem>() * 3 < std::mem::size_of::<Node>());
        assert!(std::mem::size_of::<FileAction>() <= 16);
    }

    /// Names and blob lists read back per entry, empty ones included.
    #[test]
    fn names_and_blob_lists_round_trip() {
        let names: [&[u8]; 4] = [b"a", b"", b"long name \xff", b"z"];
        let nodes: Vec<Node> = names
            .iter()
            .map(|n| Node::new(*n, NodeType::File))
            .collect();
        let table = Names::of(&nodes);
        assert_eq!(table.len(), 4);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(table.get(i as u32), *n);
        }
        assert_eq!(table.iter().collect::<Vec<_>>(), names);

        let mut files = Files::default();
        let ids = [Id::hash(b"1"), Id::hash(b"2"), Id::hash(b"3")];
        let mut a = node(b"a", NodeType::File);
        a.content = Some(ids[..2].to_vec());
        let mut b = node(b"b", NodeType::File);
        b.content = Some(Vec::new());
        let mut c = node(b"c", NodeType::File);
        c.content = Some(ids[2..].to_vec());
        c.size = 7;
        for (i, n) in [&a, &b, &c].into_iter().enumerate() {
            assert_eq!(files.push(n, 3, i as u32, Meta::of(n, None)), i);
        }
        let f = &files.list;
        assert_eq!(files.blobs.of(&f[0]), &ids[..2]);
        assert!(files.blobs.of(&f[1]).is_empty());
        assert_eq!(files.blobs.of(&f[2]), &ids[2..]);
        assert_eq!((f[2].dir, f[2].name, f[2].size), (3, 2, 7));
        assert_eq!(f[2].action, FileAction::Undecided);
        let e = files.blobs.expected(&f[0]);
        assert_eq!((e.size, e.mtime), (42, (1_600_000_000, 123_456_789)));
    }
}
