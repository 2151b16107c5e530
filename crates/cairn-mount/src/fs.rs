//! The FUSE file system: `fuser`'s callbacks answered from the layout, the
//! inode table, the tree cache and file readers. Read-only: every call
//! that would change something fails with `EROFS`.

use crate::inodes::{Inode, InodeTable, ROOT};
use crate::layout::{Layout, MetaEntry};
use crate::tree_cache::TreeCache;
use cairn::file_reader::{BlobCache, FileReader};
use cairn::format::{mode, GoTime};
use cairn::{Node, NodeType, Repository};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyXattr, Request,
};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the kernel may keep what it learnt about the virtual
/// directories (they change when snapshots come and go).
const META_TTL: Duration = Duration::from_secs(1);
/// How long it may keep what it learnt inside a snapshot (never changes).
const SNAPSHOT_TTL: Duration = Duration::from_secs(60);
/// The block size `stat` reports, as restic's mount.
const BLOCK_SIZE: u32 = 512;

/// Who owns what the mount shows.
#[derive(Debug, Clone, Copy)]
pub struct Owners {
    /// `--owner-root`: everything belongs to root.
    pub owner_root: bool,
    /// The owner of the virtual directories otherwise.
    pub uid: u32,
    /// Their group.
    pub gid: u32,
}

/// The file system's state, shared by its threads.
pub struct CairnFs {
    repo: RwLock<Arc<Repository>>,
    layout: Mutex<Layout>,
    inodes: Mutex<InodeTable>,
    trees: TreeCache,
    blobs: Arc<BlobCache>,
    handles: Mutex<HashMap<u64, Arc<FileReader>>>,
    next_handle: AtomicU64,
    owners: Owners,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn time(t: &GoTime) -> SystemTime {
    t.to_system_time().unwrap_or(UNIX_EPOCH)
}

fn blocks(size: u64) -> u64 {
    size.div_ceil(u64::from(BLOCK_SIZE))
}

fn kind_of(node_type: &NodeType) -> FileType {
    match node_type {
        NodeType::Dir => FileType::Directory,
        NodeType::Symlink => FileType::Symlink,
        NodeType::Dev => FileType::BlockDevice,
        NodeType::Chardev => FileType::CharDevice,
        NodeType::Fifo => FileType::NamedPipe,
        NodeType::Socket => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

/// A device number as the FUSE protocol carries it (the kernel's 32-bit
/// encoding: 12 bits of major, 20 of minor).
fn kernel_rdev(device: u64) -> u32 {
    let major = ((device >> 8) & 0xfff) | ((device >> 32) & 0xffff_f000);
    let minor = (device & 0xff) | ((device >> 12) & 0xffff_ff00);
    ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12)) as u32
}

/// Logs a failure the kernel only sees as an errno.
fn log_error(what: &str, err: &dyn std::fmt::Display) {
    eprintln!("mount: {what}: {err}");
}

impl CairnFs {
    /// A file system over `repo` (its index loaded) showing `layout`
    /// (already refreshed once), with a blob cache of `cache_bytes` and at
    /// most `trees` directory listings kept.
    pub fn new(
        repo: Repository,
        layout: Layout,
        owners: Owners,
        cache_bytes: usize,
        trees: usize,
    ) -> CairnFs {
        CairnFs {
            repo: RwLock::new(Arc::new(repo)),
            layout: Mutex::new(layout),
            inodes: Mutex::new(InodeTable::default()),
            trees: TreeCache::new(trees),
            blobs: Arc::new(BlobCache::new(cache_bytes)),
            handles: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            owners,
        }
    }

    fn repo(&self) -> Arc<Repository> {
        self.repo.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The current tree of virtual paths, after reading the snapshot list
    /// again if it is old; the index is read again when snapshots changed,
    /// so that new snapshots' blobs are found.
    fn meta_tree(&self) -> Arc<crate::layout::Tree> {
        let mut layout = lock(&self.layout);
        let repo = self.repo();
        match layout.refresh(&repo, false) {
            Ok(true) => {
                let mut fresh = (*repo).clone();
                match fresh.reload_index() {
                    Ok(problems) => {
                        problems.iter().for_each(|p| log_error("index", p));
                        *self.repo.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
                    }
                    Err(e) => log_error("reading the index again", &e),
                }
            }
            Ok(false) => {}
            Err(e) => log_error("listing snapshots", &e),
        }
        layout.tree()
    }

    fn inode(&self, ino: INodeNo) -> Option<Inode> {
        lock(&self.inodes).get(ino.0).cloned()
    }

    fn owner(&self, uid: u32, gid: u32) -> (u32, u32) {
        if self.owners.owner_root {
            (0, 0)
        } else {
            (uid, gid)
        }
    }

    fn attr(&self, ino: u64, inode: &Inode) -> Option<(FileAttr, Duration)> {
        let mut a = FileAttr {
            ino: INodeNo(ino),
            size: 0,
            blocks: 0,
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind: FileType::Directory,
            perm: 0o555,
            nlink: 2,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: BLOCK_SIZE,
            flags: 0,
        };
        match inode {
            Inode::Meta(_) => {
                (a.uid, a.gid) = self.owner(self.owners.uid, self.owners.gid);
                Some((a, META_TTL))
            }
            Inode::Link(path) => {
                let tree = self.meta_tree();
                let entry = tree.get(path)?;
                let target = entry.link_target.as_deref()?;
                let t = time(&entry.snapshot.as_ref()?.snapshot.time);
                a.kind = FileType::Symlink;
                a.perm = 0o777;
                a.size = target.len() as u64;
                a.blocks = blocks(a.size);
                (a.atime, a.mtime, a.ctime) = (t, t, t);
                a.nlink = 1;
                (a.uid, a.gid) = self.owner(self.owners.uid, self.owners.gid);
                Some((a, META_TTL))
            }
            Inode::Snapshot(sn) => {
                let t = time(&sn.snapshot.time);
                (a.atime, a.mtime, a.ctime) = (t, t, t);
                a.nlink = 2 + self
                    .trees
                    .cached(&sn.snapshot.tree)
                    .map_or(0, |l| l.subdirs);
                Some((a, SNAPSHOT_TTL))
            }
            Inode::Node { node, .. } => Some((self.node_attr(ino, node, a), SNAPSHOT_TTL)),
        }
    }

    fn node_attr(&self, ino: u64, node: &Node, mut a: FileAttr) -> FileAttr {
        a.ino = INodeNo(ino);
        a.kind = kind_of(&node.node_type);
        a.perm = (mode::to_unix(node.mode, &node.node_type) & 0o7777) as u16;
        (a.uid, a.gid) = self.owner(node.uid, node.gid);
        a.atime = time(&node.atime);
        a.mtime = time(&node.mtime);
        a.ctime = time(&node.ctime);
        a.nlink = u32::try_from(node.links).unwrap_or(u32::MAX);
        match node.node_type {
            NodeType::File => {
                a.size = node.size;
                a.nlink = a.nlink.max(1);
            }
            NodeType::Symlink => a.size = node.link_target.len() as u64,
            NodeType::Dev | NodeType::Chardev => a.rdev = kernel_rdev(node.device),
            NodeType::Dir => {
                a.nlink = 2 + node
                    .subtree
                    .and_then(|t| self.trees.cached(&t))
                    .map_or(0, |l| l.subdirs);
            }
            _ => {}
        }
        a.blocks = blocks(a.size);
        a
    }

    /// A virtual path's child: its inode.
    fn meta_child(&self, path: &str, name: &str) -> Option<(u64, Inode)> {
        let tree = self.meta_tree();
        let child_path = format!("{path}/{name}");
        let entry: &MetaEntry = tree.get(&child_path)?;
        if !tree.get(path)?.names.contains(name) {
            return None;
        }
        let mut inodes = lock(&self.inodes);
        let ino = match (&entry.link_target, &entry.snapshot) {
            (Some(_), _) => inodes.link(&child_path),
            (None, Some(sn)) => inodes.snapshot(&child_path, sn),
            (None, None) => inodes.meta(&child_path),
        };
        Some((ino, inodes.get(ino)?.clone()))
    }

    /// The tree a directory inode lists, if it is one inside a snapshot.
    fn subtree(inode: &Inode) -> Option<cairn::Id> {
        match inode {
            Inode::Snapshot(sn) => Some(sn.snapshot.tree),
            Inode::Node { node, .. } if node.node_type == NodeType::Dir => node.subtree,
            _ => None,
        }
    }

    fn listing(&self, tree: &cairn::Id) -> Result<Arc<crate::tree_cache::Listing>, Errno> {
        self.trees.get(&self.repo(), tree).map_err(|e| {
            log_error(&format!("loading tree {}", tree.short()), &e);
            Errno::EIO
        })
    }

    fn lookup_inner(&self, parent: INodeNo, name: &OsStr) -> Result<(FileAttr, Duration), Errno> {
        let parent_inode = self.inode(parent).ok_or(Errno::ENOENT)?;
        let (ino, inode) = match &parent_inode {
            Inode::Meta(path) => {
                let name = name.to_str().ok_or(Errno::ENOENT)?;
                self.meta_child(path, name).ok_or(Errno::ENOENT)?
            }
            other => {
                let tree = Self::subtree(other).ok_or(Errno::ENOTDIR)?;
                let listing = self.listing(&tree)?;
                let node = listing.entries.get(name.as_bytes()).ok_or(Errno::ENOENT)?;
                let mut inodes = lock(&self.inodes);
                let ino = inodes.node(parent.0, node);
                (ino, inodes.get(ino).cloned().ok_or(Errno::ENOENT)?)
            }
        };
        self.attr(ino, &inode).ok_or(Errno::ENOENT)
    }

    /// Every entry of directory `ino`: (inode, kind, name), `.` and `..`
    /// first.
    fn entries(&self, ino: u64) -> Result<Vec<(u64, FileType, Vec<u8>)>, Errno> {
        let inode = self.inode(INodeNo(ino)).ok_or(Errno::ENOENT)?;
        let parent = match &inode {
            Inode::Node { parent, .. } => *parent,
            _ => ROOT,
        };
        let mut out = vec![
            (ino, FileType::Directory, b".".to_vec()),
            (parent, FileType::Directory, b"..".to_vec()),
        ];
        match &inode {
            Inode::Meta(path) => {
                let tree = self.meta_tree();
                let entry = tree.get(path).ok_or(Errno::ENOENT)?;
                for name in &entry.names {
                    let Some((child, child_inode)) = self.meta_child(path, name) else {
                        continue;
                    };
                    let kind = match child_inode {
                        Inode::Link(_) => FileType::Symlink,
                        _ => FileType::Directory,
                    };
                    out.push((child, kind, name.as_bytes().to_vec()));
                }
            }
            other => {
                let tree = Self::subtree(other).ok_or(Errno::ENOTDIR)?;
                let listing = self.listing(&tree)?;
                let mut inodes = lock(&self.inodes);
                for (name, node) in &listing.entries {
                    let child = inodes.node(ino, node);
                    out.push((child, kind_of(&node.node_type), name.clone()));
                }
            }
        }
        Ok(out)
    }

    fn node_of(&self, ino: INodeNo) -> Result<Arc<Node>, Errno> {
        match self.inode(ino) {
            Some(Inode::Node { node, .. }) => Ok(node),
            Some(_) => Err(Errno::NO_XATTR),
            None => Err(Errno::ENOENT),
        }
    }
}

fn reply_xattr(reply: ReplyXattr, size: u32, data: &[u8]) {
    if size == 0 {
        reply.size(data.len() as u32);
    } else if (size as usize) < data.len() {
        reply.error(Errno::ERANGE);
    } else {
        reply.data(data);
    }
}

impl Filesystem for CairnFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.lookup_inner(parent, name) {
            Ok((attr, ttl)) => reply.entry(&ttl, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.inode(ino).and_then(|i| self.attr(ino.0, &i)) {
            Some((attr, ttl)) => reply.attr(&ttl, &attr),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.inode(ino) {
            Some(Inode::Link(path)) => {
                let tree = self.meta_tree();
                match tree.get(&path).and_then(|e| e.link_target.clone()) {
                    Some(target) => reply.data(target.as_bytes()),
                    None => reply.error(Errno::ENOENT),
                }
            }
            Some(Inode::Node { node, .. }) => reply.data(&node.link_target),
            Some(_) => reply.error(Errno::EINVAL),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        let node = match self.inode(ino) {
            Some(Inode::Node { node, .. }) if node.node_type == NodeType::File => node,
            Some(Inode::Node { .. }) | Some(Inode::Link(_)) => return reply.error(Errno::EINVAL),
            Some(_) => return reply.error(Errno::EISDIR),
            None => return reply.error(Errno::ENOENT),
        };
        match FileReader::new(self.repo(), &node, self.blobs.clone()) {
            Ok(reader) => {
                let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
                lock(&self.handles).insert(fh, Arc::new(reader));
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE);
            }
            Err(e) => {
                log_error(
                    &format!("opening {}", String::from_utf8_lossy(&node.name)),
                    &e,
                );
                reply.error(Errno::EIO);
            }
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(reader) = lock(&self.handles).get(&fh.0).cloned() else {
            return reply.error(Errno::EBADF);
        };
        let mut buf = vec![0; size as usize];
        match reader.read_at(offset, &mut buf) {
            Ok(n) => reply.data(&buf[..n]),
            Err(e) => {
                log_error("read", &e);
                reply.error(Errno::EIO);
            }
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.handles).remove(&fh.0);
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.entries(ino.0) {
            Ok(e) => e,
            Err(e) => return reply.error(e),
        };
        for (i, (child, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(
                INodeNo(*child),
                i as u64 + 1,
                *kind,
                OsStr::from_bytes(name),
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(0, 0, 0, 0, 0, BLOCK_SIZE, 255, 0);
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let node = match self.node_of(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let found = node
            .extended_attributes
            .iter()
            .find(|a| a.name.as_bytes() == name.as_bytes());
        match found {
            Some(attr) => reply_xattr(reply, size, &attr.value),
            None => reply.error(Errno::NO_XATTR),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let mut list = Vec::new();
        if let Ok(node) = self.node_of(ino) {
            for attr in &node.extended_attributes {
                list.extend_from_slice(attr.name.as_bytes());
                list.push(0);
            }
        }
        reply_xattr(reply, size, &list);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<fuser::TimeOrNow>,
        _mtime: Option<fuser::TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: fuser::ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }
}
