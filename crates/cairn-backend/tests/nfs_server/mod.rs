//! A loopback NFSv3 server for tests, serving a real folder.
//!
//! Debian's nfs-ganesha cannot run here: it must register with rpcbind on
//! port 111 (so root and a system-wide daemon) and its VFS layer needs
//! `open_by_handle_at`. So the tests use `nfs3_server` (the server half of
//! the `nfs3` project whose client Cairn uses), with [`MirrorFs`] mapping
//! its calls onto a temporary folder. It serves MOUNT and NFS on one port
//! of 127.0.0.1, in a thread of the test process, and lives as long as
//! the [`NfsServer`].
//!
//! Shared by `cairn-backend`'s and `cairn-cli`'s tests (`#[path]`).
#![allow(dead_code)]

use nfs3_server::fs_util::{file_setattr, metadata_to_fattr3, path_setattr};
use nfs3_server::nfs3_types::nfs3::{
    createverf3, fattr3, filename3, nfspath3, nfsstat3, sattr3, stable_how,
};
use nfs3_server::nfs3_types::rpc::auth_unix;
use nfs3_server::tcp::{NFSTcp, NFSTcpListener};
use nfs3_server::vfs::{
    DirEntryPlus, FileHandleU64, NextResult, NfsFileSystem, NfsReadFileSystem, ReadDirPlusIterator,
};
use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The export name the server answers MOUNT for.
pub const EXPORT: &str = "/export";

/// A port of 127.0.0.1 where nothing listens (a moment ago).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server; stops when dropped.
pub struct NfsServer {
    pub port: u16,
    /// The folder served as [`EXPORT`].
    pub root: PathBuf,
    /// The last `AUTH_UNIX` (uid, gid) a call carried.
    pub last_auth: Arc<Mutex<Option<(u32, u32)>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NfsServer {
    /// Serves `root` on a free port of 127.0.0.1.
    pub fn start(root: &Path) -> NfsServer {
        NfsServer::start_on(root, 0)
    }

    /// Serves `root` on 127.0.0.1:`port` (0: any free port).
    pub fn start_on(root: &Path, port: u16) -> NfsServer {
        let fs = MirrorFs::new(root);
        let last_auth = fs.last_auth.clone();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut listener = NFSTcpListener::bind(&format!("127.0.0.1:{port}"), fs)
                    .await
                    .unwrap();
                listener.with_export_name(EXPORT);
                port_tx.send(listener.get_listen_port()).unwrap();
                tokio::select! {
                    r = listener.handle_forever() => r.unwrap(),
                    _ = stopped => {}
                }
            });
        });
        let port = port_rx.recv().expect("the NFS test server did not start");
        NfsServer {
            port,
            root: root.to_path_buf(),
            last_auth,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `nfs://127.0.0.1:PORT/export/SUB`.
    pub fn url(&self, sub: &str) -> String {
        format!("nfs://127.0.0.1:{}{EXPORT}/{sub}", self.port)
    }
}

impl Drop for NfsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A real folder as an NFS file system. File ids are inode numbers; the
/// path of each id seen is remembered (and moved along on rename).
pub struct MirrorFs {
    root: PathBuf,
    root_id: u64,
    paths: Mutex<HashMap<u64, PathBuf>>,
    last_auth: Arc<Mutex<Option<(u32, u32)>>>,
}

fn nfs_err(e: io::Error) -> nfsstat3 {
    match e.kind() {
        io::ErrorKind::NotFound => nfsstat3::NFS3ERR_NOENT,
        io::ErrorKind::AlreadyExists => nfsstat3::NFS3ERR_EXIST,
        io::ErrorKind::PermissionDenied => nfsstat3::NFS3ERR_ACCES,
        _ => match e.raw_os_error() {
            Some(libc::ENOTEMPTY) => nfsstat3::NFS3ERR_NOTEMPTY,
            Some(libc::ENOTDIR) => nfsstat3::NFS3ERR_NOTDIR,
            Some(libc::EISDIR) => nfsstat3::NFS3ERR_ISDIR,
            _ => nfsstat3::NFS3ERR_IO,
        },
    }
}

fn name_of<'a>(f: &'a filename3<'_>) -> Result<&'a Path, nfsstat3> {
    let b = f.as_ref();
    if b.is_empty() || b.contains(&b'/') || b == b"." || b == b".." {
        return Err(nfsstat3::NFS3ERR_INVAL);
    }
    Ok(Path::new(std::ffi::OsStr::from_bytes(b)))
}

impl MirrorFs {
    pub fn new(root: &Path) -> MirrorFs {
        let root_id = fs::metadata(root).unwrap().ino();
        MirrorFs {
            root: root.to_path_buf(),
            root_id,
            paths: Mutex::new(HashMap::from([(root_id, root.to_path_buf())])),
            last_auth: Arc::default(),
        }
    }

    fn path(&self, id: &FileHandleU64) -> Result<PathBuf, nfsstat3> {
        let p = self.paths.lock().unwrap().get(&id.as_u64()).cloned();
        p.ok_or(nfsstat3::NFS3ERR_STALE)
    }

    /// Remembers `path` and returns its handle and attributes.
    fn known(&self, path: PathBuf) -> Result<(FileHandleU64, fattr3), nfsstat3> {
        let meta = fs::symlink_metadata(&path).map_err(nfs_err)?;
        let id = meta.ino();
        self.paths.lock().unwrap().insert(id, path);
        Ok((FileHandleU64::new(id), metadata_to_fattr3(id, &meta)))
    }

    fn child(&self, dir: &FileHandleU64, name: &filename3<'_>) -> Result<PathBuf, nfsstat3> {
        Ok(self.path(dir)?.join(name_of(name)?))
    }
}

/// A folder's entries, sorted by name; cookie `n` resumes after the
/// `n`-th entry.
pub struct Listing(VecDeque<DirEntryPlus<FileHandleU64>>);

impl ReadDirPlusIterator<FileHandleU64> for Listing {
    async fn next(&mut self) -> NextResult<DirEntryPlus<FileHandleU64>> {
        match self.0.pop_front() {
            Some(e) => NextResult::Ok(e),
            None => NextResult::Eof,
        }
    }
}

impl NfsReadFileSystem for MirrorFs {
    type Handle = FileHandleU64;

    fn root_dir(&self) -> FileHandleU64 {
        FileHandleU64::new(self.root_id)
    }

    fn authorize(&self, auth: Option<&auth_unix>) -> bool {
        if let Some(a) = auth {
            *self.last_auth.lock().unwrap() = Some((a.uid, a.gid));
        }
        true
    }

    async fn lookup(
        &self,
        dir: &FileHandleU64,
        name: &filename3<'_>,
    ) -> Result<FileHandleU64, nfsstat3> {
        let dir_path = self.path(dir)?;
        let path = match name.as_ref() {
            b"." => dir_path,
            b".." if dir.as_u64() == self.root_id => dir_path,
            b".." => dir_path.parent().unwrap_or(&self.root).to_path_buf(),
            _ => self.child(dir, name)?,
        };
        Ok(self.known(path)?.0)
    }

    async fn getattr(&self, id: &FileHandleU64) -> Result<fattr3, nfsstat3> {
        let meta = fs::symlink_metadata(self.path(id)?).map_err(|_| nfsstat3::NFS3ERR_STALE)?;
        if meta.ino() != id.as_u64() {
            return Err(nfsstat3::NFS3ERR_STALE);
        }
        Ok(metadata_to_fattr3(id.as_u64(), &meta))
    }

    async fn read(
        &self,
        id: &FileHandleU64,
        offset: u64,
        count: u32,
    ) -> Result<(Vec<u8>, bool), nfsstat3> {
        let mut f = File::open(self.path(id)?).map_err(nfs_err)?;
        let len = f.metadata().map_err(nfs_err)?.len();
        f.seek(SeekFrom::Start(offset)).map_err(nfs_err)?;
        let mut buf = Vec::with_capacity(count as usize);
        f.take(u64::from(count))
            .read_to_end(&mut buf)
            .map_err(nfs_err)?;
        Ok((buf.clone(), offset + buf.len() as u64 >= len))
    }

    #[allow(refining_impl_trait)]
    async fn readdirplus(&self, dir: &FileHandleU64, cookie: u64) -> Result<Listing, nfsstat3> {
        let dir_path = self.path(dir)?;
        let mut names: Vec<_> = fs::read_dir(&dir_path)
            .map_err(nfs_err)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        let mut out = VecDeque::new();
        for (i, name) in names.into_iter().enumerate().skip(cookie as usize) {
            let Ok((handle, attrs)) = self.known(dir_path.join(&name)) else {
                continue; // removed meanwhile
            };
            out.push_back(DirEntryPlus {
                fileid: handle.as_u64(),
                name: filename3::from(name.as_bytes().to_vec()),
                cookie: i as u64 + 1,
                name_attributes: Some(attrs),
                name_handle: Some(handle),
            });
        }
        Ok(Listing(out))
    }

    async fn readlink(&self, _id: &FileHandleU64) -> Result<nfspath3<'_>, nfsstat3> {
        Err(nfsstat3::NFS3ERR_NOTSUPP)
    }
}

impl NfsFileSystem for MirrorFs {
    async fn setattr(&self, id: &FileHandleU64, attr: sattr3) -> Result<fattr3, nfsstat3> {
        path_setattr(&self.path(id)?, &attr).await?;
        self.getattr(id).await
    }

    async fn write(
        &self,
        id: &FileHandleU64,
        offset: u64,
        data: &[u8],
        stable: stable_how,
    ) -> Result<(fattr3, stable_how), nfsstat3> {
        let mut f = OpenOptions::new()
            .write(true)
            .open(self.path(id)?)
            .map_err(nfs_err)?;
        f.seek(SeekFrom::Start(offset)).map_err(nfs_err)?;
        f.write_all(data).map_err(nfs_err)?;
        if stable != stable_how::UNSTABLE {
            f.sync_all().map_err(nfs_err)?;
        }
        let attrs = metadata_to_fattr3(id.as_u64(), &f.metadata().map_err(nfs_err)?);
        Ok((attrs, stable))
    }

    async fn create(
        &self,
        dir: &FileHandleU64,
        name: &filename3<'_>,
        attr: sattr3,
    ) -> Result<(FileHandleU64, fattr3), nfsstat3> {
        let path = self.child(dir, name)?;
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(nfs_err)?;
        file_setattr(&f, &attr).await?;
        self.known(path)
    }

    async fn create_exclusive(
        &self,
        dir: &FileHandleU64,
        name: &filename3<'_>,
        _verf: createverf3,
    ) -> Result<FileHandleU64, nfsstat3> {
        let path = self.child(dir, name)?;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(nfs_err)?;
        Ok(self.known(path)?.0)
    }

    async fn mkdir(
        &self,
        dir: &FileHandleU64,
        name: &filename3<'_>,
    ) -> Result<(FileHandleU64, fattr3), nfsstat3> {
        let path = self.child(dir, name)?;
        fs::create_dir(&path).map_err(nfs_err)?;
        self.known(path)
    }

    async fn remove(&self, dir: &FileHandleU64, name: &filename3<'_>) -> Result<(), nfsstat3> {
        let path = self.child(dir, name)?;
        let meta = fs::symlink_metadata(&path).map_err(nfs_err)?;
        if meta.is_dir() {
            fs::remove_dir(&path).map_err(nfs_err)?;
        } else {
            fs::remove_file(&path).map_err(nfs_err)?;
        }
        self.paths.lock().unwrap().remove(&meta.ino());
        Ok(())
    }

    async fn rename<'a>(
        &self,
        from_dir: &FileHandleU64,
        from_name: &filename3<'a>,
        to_dir: &FileHandleU64,
        to_name: &filename3<'a>,
    ) -> Result<(), nfsstat3> {
        let from = self.child(from_dir, from_name)?;
        let to = self.child(to_dir, to_name)?;
        let replaced = fs::symlink_metadata(&to).ok().map(|m| m.ino());
        fs::rename(&from, &to).map_err(nfs_err)?;
        let mut paths = self.paths.lock().unwrap();
        if let Some(ino) = replaced {
            paths.remove(&ino);
        }
        let moved = fs::symlink_metadata(&to).map_err(nfs_err)?.ino();
        paths.insert(moved, to);
        Ok(())
    }

    async fn symlink<'a>(
        &self,
        _dir: &FileHandleU64,
        _name: &filename3<'a>,
        _target: &nfspath3<'a>,
        _attr: &sattr3,
    ) -> Result<(FileHandleU64, fattr3), nfsstat3> {
        Err(nfsstat3::NFS3ERR_NOTSUPP)
    }

    async fn commit(&self, id: &FileHandleU64, _offset: u64, _count: u32) -> Result<(), nfsstat3> {
        File::open(self.path(id)?)
            .and_then(|f| f.sync_all())
            .map_err(nfs_err)
    }
}
