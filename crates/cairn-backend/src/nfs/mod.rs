//! A repository on an NFS server, reached without mounting it:
//! `nfs://server[:port]/export/path`.
//!
//! # Two ways to keep repositories on NFS
//!
//! **(a) Mount the export** on each application host and use the mount as
//! a local path (`-r /mnt/backup/repo`). The local backend is safe on NFS:
//! it writes a temporary file, fsyncs it (which on NFS commits it to the
//! server), renames it over the final name and fsyncs the folder, and
//! retries `EINTR` and `ESTALE`. This needs root (or an fstab entry) on
//! every host.
//!
//! **(b) `nfs://` without a mount**, for hosts and containers where
//! mounting is not possible: Cairn speaks NFSv3 itself over TCP, with a
//! pure-Rust client (`nfs3_client`), as the user given by `-o nfs.uid=N`
//! and `-o nfs.gid=N` (`AUTH_UNIX`; default the current user). Writes go
//! the same way as the local backend's: CREATE a hidden temporary file,
//! WRITE it (unstable), COMMIT it and check the write verifier (a server
//! that restarted in between lost the data, so the write is retried),
//! make it read-only, then RENAME it over the final name, which the
//! server does atomically and durably. A writer killed at any point
//! leaves at most a hidden `.NAME.tmp-*` file that no listing shows.
//!
//! # Finding the server
//!
//! Without a port in the URL, the portmapper (port 111) is asked where the
//! MOUNT and NFS services listen (NFS defaults to 2049 if not
//! registered), as for a kernel mount. With a port, both MOUNT and NFS are
//! expected there, as user-space servers (nfs3_server, nfsserve) serve
//! them; `-o nfs.mountport=N` names a separate MOUNT port (Linux's
//! `rpc.mountd` is often fixed at 20048). The URL's path holds the export
//! and the repository's folder inside it: Cairn mounts the longest leading
//! part the server exports (`/srv/nfs/repo`, else `/srv/nfs`, ...).
//!
//! As root, Cairn connects from a port below 1024, which Linux exports
//! require unless marked `insecure`; `-o nfs.privport=false|true`
//! overrides. At most `-o nfs.connections=N` (default 5) connections are
//! open; every answer must come within `-o nfs.timeout=SECONDS` (default
//! 60; the portmapper's and MOUNT's within the connect timeout too) or
//! the call fails as transient and is retried by
//! [`RetryBackend`](crate::RetryBackend), which gives up after a few
//! seconds while no call has ever succeeded. An unreachable or silent
//! server, a refused export or a missing one is reported in one line
//! naming the location. NFS's `ESTALE` (a restarted server) drops every
//! cached handle and the retry mounts afresh.
//!
//! ```
//! use cairn_backend::{open, Backend, BackendOptions, FileType, Location};
//! // Nothing is contacted until the first operation.
//! let loc = Location::parse("nfs://127.0.0.1:9/export/repo").unwrap();
//! let be = open(&loc, &BackendOptions::default()).unwrap();
//! assert_eq!(be.location(), "nfs://127.0.0.1:9/export/repo");
//! // Nothing listens on the discard port: a clear error, at once.
//! let err = be.list(FileType::Snapshot).unwrap_err();
//! assert!(err.to_string().starts_with("nfs://127.0.0.1:9/export/repo: "), "{err}");
//! assert!(err.is_transient());
//! ```

mod options;
mod session;
mod transport;

pub use options::NfsOptions;

use crate::local::check_name;
use crate::{Backend, BackendError, BackendOptions, FileInfo, FileType, Result};
use nfs3_client::nfs3_types::nfs3::{fattr3, ftype3, nfs_fh3, nfsstat3, stable_how};
use session::{status_error, CallResult, DirEntry, Fail, Session};
use std::collections::HashMap;
use std::sync::Mutex;

/// A repository on an NFS export, spoken to directly over NFSv3.
pub struct NfsBackend {
    session: Session,
    /// Handles of the repository's folders, by path inside it (`""`,
    /// `keys`, `data/ab`).
    dirs: Mutex<HashMap<String, nfs_fh3>>,
}

impl std::fmt::Debug for NfsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NfsBackend({})", self.session.location)
    }
}

impl NfsBackend {
    /// A backend for `path` (export and folder) on `server`. Nothing is
    /// contacted until the first operation.
    pub fn new(server: &str, port: Option<u16>, path: &str, opts: &BackendOptions) -> Result<Self> {
        let nfs = NfsOptions::from_backend_options(opts)?;
        let host = if server.contains(':') {
            format!("[{server}]")
        } else {
            server.to_string()
        };
        let location = match port {
            Some(p) => format!("nfs://{host}:{p}{path}"),
            None => format!("nfs://{host}{path}"),
        };
        Ok(NfsBackend {
            session: Session::new(location, server, port, path, nfs, opts.connect_timeout),
            dirs: Mutex::new(HashMap::new()),
        })
    }

    /// Forgets every handle, after the server called one stale.
    fn forget(&self) {
        self.dirs.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.session.reset();
    }

    /// The handle of a folder of the repository (`""` is its root),
    /// making it and its parents first if `create`.
    fn dir(&self, rel: &str, create: bool) -> CallResult<nfs_fh3> {
        if let Some(fh) = self.dirs.lock().unwrap_or_else(|e| e.into_inner()).get(rel) {
            return Ok(fh.clone());
        }
        let step = |parent: &nfs_fh3, name: &str| -> CallResult<nfs_fh3> {
            if create {
                self.session.mkdir(parent, name)
            } else {
                Ok(self.session.lookup(parent, name)?.0)
            }
        };
        let fh = if rel.is_empty() {
            let m = self.session.mounted()?;
            let mut fh = m.export_fh.clone();
            for part in &m.below {
                fh = step(&fh, part)?;
            }
            fh
        } else {
            let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
            step(&self.dir(parent, create)?, name)?
        };
        self.dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(rel.to_string(), fh.clone());
        Ok(fh)
    }

    /// The handle of a folder of the repository, `None` if it is missing.
    fn existing_dir(&self, rel: &str) -> CallResult<Option<nfs_fh3>> {
        match self.dir(rel, false) {
            Err(Fail::Status(nfsstat3::NFS3ERR_NOENT)) => Ok(None),
            other => other.map(Some),
        }
    }

    /// The folder of a file and its name there.
    fn place(file_type: FileType, name: &str) -> Result<(String, &str)> {
        match file_type {
            FileType::Config => Ok((String::new(), "config")),
            FileType::Pack => {
                check_name(name)?;
                Ok((format!("data/{}", name.get(..2).unwrap_or(name)), name))
            }
            other => {
                check_name(name)?;
                Ok((other.dir_name().to_string(), name))
            }
        }
    }

    /// A failed call as the error the trait promises.
    fn error(&self, f: Fail, file_type: FileType, name: &str, what: &str) -> BackendError {
        match f {
            Fail::Status(nfsstat3::NFS3ERR_NOENT) => BackendError::NotFound {
                file_type,
                name: name.to_string(),
            },
            Fail::Status(s) => {
                if matches!(s, nfsstat3::NFS3ERR_STALE | nfsstat3::NFS3ERR_BADHANDLE) {
                    self.forget();
                }
                status_error(
                    &self.session.location,
                    &format!("{what} {file_type}/{name}"),
                    s,
                )
            }
            Fail::Other(e) => e,
        }
    }

    fn lookup_file(&self, file_type: FileType, name: &str) -> CallResult<(nfs_fh3, u64)> {
        let (dir, file) = Self::place(file_type, name)?;
        let (fh, attrs) = self.session.lookup(&self.dir(&dir, false)?, file)?;
        let attrs = match attrs {
            Some(a) => a,
            None => self.session.getattr(&fh)?,
        };
        Ok((fh, attrs.size))
    }

    /// Reads from `offset` until `length` bytes or the end of the file;
    /// `expected` is how many bytes there probably are.
    fn read_from(
        &self,
        fh: &nfs_fh3,
        offset: u64,
        length: u64,
        expected: u64,
    ) -> CallResult<Vec<u8>> {
        let chunk = self.session.mounted()?.rtmax;
        let mut buf = Vec::with_capacity(expected.min(length).min(1 << 30) as usize);
        while (buf.len() as u64) < length {
            let want = (length - buf.len() as u64).min(u64::from(chunk)) as u32;
            let (data, eof) = self.session.read(fh, offset + buf.len() as u64, want)?;
            let got = data.len();
            buf.extend_from_slice(&data);
            if eof || got == 0 {
                break;
            }
        }
        Ok(buf)
    }

    /// The files of one folder (hidden and temporary ones left out).
    fn files_in(&self, rel: &str) -> CallResult<Vec<FileInfo>> {
        let Some(dir) = self.existing_dir(rel)? else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for entry in self.session.read_dir(&dir)? {
            if entry.name.starts_with('.') {
                continue;
            }
            let Some(attrs) = self.entry_attrs(&dir, &entry)? else {
                continue;
            };
            if attrs.type_ == ftype3::NF3REG {
                out.push(FileInfo {
                    name: entry.name,
                    size: attrs.size,
                });
            }
        }
        Ok(out)
    }

    /// An entry's attributes: from the listing, else looked up; `None`
    /// if it went away in between.
    fn entry_attrs(&self, dir: &nfs_fh3, entry: &DirEntry) -> CallResult<Option<fattr3>> {
        if let Some(a) = &entry.attrs {
            return Ok(Some(a.clone()));
        }
        match self.session.lookup(dir, &entry.name) {
            Ok((_, Some(a))) => Ok(Some(a)),
            Ok((fh, None)) => Ok(Some(self.session.getattr(&fh)?)),
            Err(Fail::Status(nfsstat3::NFS3ERR_NOENT)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list_packs(&self) -> CallResult<Vec<FileInfo>> {
        let Some(data) = self.existing_dir("data")? else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for entry in self.session.read_dir(&data)? {
            if entry.name.starts_with('.') {
                continue;
            }
            let is_dir = self
                .entry_attrs(&data, &entry)?
                .is_some_and(|a| a.type_ == ftype3::NF3DIR);
            if is_dir {
                let rel = format!("data/{}", entry.name);
                if let Some(fh) = entry.handle {
                    self.dirs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(rel.clone())
                        .or_insert(fh);
                }
                out.extend(self.files_in(&rel)?);
            }
        }
        Ok(out)
    }

    /// Writes `data` to a new hidden file in `dir`, durably and
    /// read-only, and returns its name.
    fn write_temp(&self, dir: &nfs_fh3, name: &str, data: &[u8]) -> CallResult<String> {
        let tmp = format!(".{name}.tmp-{:016x}", rand::random::<u64>());
        let fh = self.session.create(dir, &tmp, 0o600)?;
        let written = self.write_all(&fh, data);
        let done = written.and_then(|()| self.session.set_mode(&fh, 0o400));
        match done {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = self.session.remove(dir, &tmp);
                Err(e)
            }
        }
    }

    /// WRITEs unstable, then COMMITs, checking that the server kept one
    /// write verifier throughout (else it restarted and may have lost
    /// data: a transient failure, the write is done again).
    fn write_all(&self, fh: &nfs_fh3, data: &[u8]) -> CallResult<()> {
        let chunk = self.session.mounted()?.wtmax as usize;
        let mut offset = 0usize;
        let mut unstable_verf = None;
        while offset < data.len() {
            let end = (offset + chunk).min(data.len());
            let (count, how, verf) = self.session.write(fh, offset as u64, &data[offset..end])?;
            if count == 0 {
                return Err(Fail::Status(nfsstat3::NFS3ERR_IO));
            }
            if how != stable_how::FILE_SYNC {
                if unstable_verf.is_some_and(|v| v != verf) {
                    return Err(self.restarted().into());
                }
                unstable_verf = Some(verf);
            }
            offset += count as usize;
        }
        if let Some(verf) = unstable_verf {
            if self.session.commit(fh)? != verf {
                return Err(self.restarted().into());
            }
        }
        Ok(())
    }

    fn restarted(&self) -> BackendError {
        BackendError::transient(
            self.session.location.clone(),
            "the NFS server restarted during a write (write verifier changed)",
        )
    }
}

impl Backend for NfsBackend {
    fn location(&self) -> String {
        self.session.location.clone()
    }

    fn create(&self) -> Result<()> {
        let root = self.dir("", true).map_err(|f| {
            self.session
                .fail_to_error(f, "creating the repository folder")
        })?;
        match self.session.lookup(&root, "config") {
            Ok(_) => return Err(BackendError::repository_exists(&self.session.location)),
            Err(Fail::Status(nfsstat3::NFS3ERR_NOENT)) => {}
            Err(f) => return Err(self.error(f, FileType::Config, "config", "LOOKUP")),
        }
        let mut dirs: Vec<String> = [
            FileType::Key,
            FileType::Lock,
            FileType::Snapshot,
            FileType::Index,
            FileType::Pack,
        ]
        .iter()
        .map(|t| t.dir_name().to_string())
        .collect();
        dirs.extend((0..=255u8).map(|i| format!("data/{i:02x}")));
        for d in &dirs {
            self.dir(d, true)
                .map_err(|f| self.session.fail_to_error(f, &format!("MKDIR {d}")))?;
        }
        Ok(())
    }

    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>> {
        let listed = match file_type {
            FileType::Config => {
                return match self.stat(FileType::Config, "config") {
                    Ok(info) => Ok(vec![info]),
                    Err(e) if e.is_not_found() => Ok(vec![]),
                    Err(e) => Err(e),
                }
            }
            FileType::Pack => self.list_packs(),
            other => self.files_in(other.dir_name()),
        };
        listed.map_err(|f| self.error(f, file_type, "", "READDIRPLUS"))
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        let (fh, size) = self
            .lookup_file(file_type, name)
            .map_err(|f| self.error(f, file_type, name, "LOOKUP"))?;
        // To the end, even if the size changed since LOOKUP.
        self.read_from(&fh, 0, u64::MAX, size)
            .map_err(|f| self.error(f, file_type, name, "READ"))
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        let (fh, _) = self
            .lookup_file(file_type, name)
            .map_err(|f| self.error(f, file_type, name, "LOOKUP"))?;
        let buf = self
            .read_from(&fh, offset, length, length)
            .map_err(|f| self.error(f, file_type, name, "READ"))?;
        BackendError::check_range(buf, file_type, name, offset, length)
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        let (dir_rel, file) = Self::place(file_type, name)?;
        let write = || -> CallResult<()> {
            let dir = self.dir(&dir_rel, file_type == FileType::Pack)?;
            let tmp = self.write_temp(&dir, file, data)?;
            if let Err(e) = self.session.rename(&dir, &tmp, file) {
                let _ = self.session.remove(&dir, &tmp);
                return Err(e);
            }
            Ok(())
        };
        write().map_err(|f| self.error(f, file_type, name, "WRITE"))
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        let (dir, file) = Self::place(file_type, name)?;
        self.dir(&dir, false)
            .and_then(|d| self.session.remove(&d, file))
            .map_err(|f| self.error(f, file_type, name, "REMOVE"))
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        let (_, size) = self
            .lookup_file(file_type, name)
            .map_err(|f| self.error(f, file_type, name, "LOOKUP"))?;
        Ok(FileInfo {
            name: name.to_string(),
            size,
        })
    }
}
