//! One server, one export: finding the ports, mounting, and the NFSv3
//! calls the backend makes, over a bounded pool of connections.

use super::options::NfsOptions;
use super::transport::{block_on, Dialer, Pool, Slot, Stream};
use crate::{BackendError, Result};
use nfs3_client::nfs3_types::mount::{self, dirpath, mountstat3};
use nfs3_client::nfs3_types::nfs3::{
    self, createhow3, diropargs3, fattr3, filename3, nfs_fh3, nfsstat3, post_op_fh3, sattr3,
    set_mode3, stable_how, writeverf3, COMMIT3args, CREATE3args, FSINFO3args, GETATTR3args,
    LOOKUP3args, MKDIR3args, Nfs3Option, Nfs3Result, READ3args, READDIRPLUS3args, REMOVE3args,
    RENAME3args, SETATTR3args, WRITE3args,
};
use nfs3_client::nfs3_types::portmap;
use nfs3_client::nfs3_types::rpc::{auth_unix, opaque_auth};
use nfs3_client::nfs3_types::xdr_codec::{Opaque, Pack, Unpack};
use nfs3_client::{MountClient, MountError, Nfs3Client, PortmapperClient, RpcError};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most bytes asked for or sent in one READ or WRITE.
const MAX_TRANSFER: u32 = 1 << 20;

/// Why a call failed: the server's NFS status, or anything else (already
/// a backend error naming the location).
#[derive(Debug)]
pub(crate) enum Fail {
    Status(nfsstat3),
    Other(BackendError),
}

impl From<BackendError> for Fail {
    fn from(e: BackendError) -> Self {
        Fail::Other(e)
    }
}

pub(crate) type CallResult<T> = std::result::Result<T, Fail>;

/// What mounting the export gave.
#[derive(Debug)]
pub(crate) struct Mounted {
    /// Where the NFS service listens.
    nfs_addr: SocketAddr,
    /// The handle of the folder the server agreed to mount.
    pub export_fh: nfs_fh3,
    /// The repository's folders below it.
    pub below: Vec<String>,
    /// Largest READ and WRITE, from FSINFO, at most 1 MiB.
    pub rtmax: u32,
    pub wtmax: u32,
}

/// A connection to one server's export.
pub(crate) struct Session {
    /// `nfs://server[:port]/path`, for messages.
    pub location: String,
    server: String,
    port: Option<u16>,
    path: String,
    opts: NfsOptions,
    dialer: Dialer,
    auth: opaque_auth<'static>,
    mounted: Mutex<Option<Arc<Mounted>>>,
    pool: Pool<Nfs3Client<Stream>>,
}

impl Session {
    pub fn new(
        location: String,
        server: &str,
        port: Option<u16>,
        path: &str,
        opts: NfsOptions,
        connect_timeout: Duration,
    ) -> Self {
        let dialer = Dialer {
            connect_timeout,
            io_timeout: opts.timeout,
            privileged_port: opts.privileged_port,
        };
        let auth = opaque_auth::auth_unix(&auth_unix {
            stamp: rand::random(),
            machinename: Opaque::owned(b"cairn".to_vec()),
            uid: opts.uid,
            gid: opts.gid,
            gids: vec![opts.gid],
        });
        Session {
            location,
            server: server.to_string(),
            port,
            path: path.to_string(),
            pool: Pool::new(opts.connections),
            opts,
            dialer,
            auth,
            mounted: Mutex::new(None),
        }
    }

    /// An error about reaching the server, naming the location.
    fn io_err(&self, what: &str, e: io::Error) -> BackendError {
        BackendError::io(format!("{}: {what}", self.location), e)
    }

    fn rpc_err(&self, what: &str, e: RpcError) -> BackendError {
        match e {
            RpcError::Io(e) => self.io_err(what, e),
            other => BackendError::io(
                format!("{}: {what}", self.location),
                io::Error::other(other.to_string()),
            ),
        }
    }

    /// The mounted export, mounting it on first use.
    pub fn mounted(&self) -> Result<Arc<Mounted>> {
        let mut m = self.mounted.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = &*m {
            return Ok(m.clone());
        }
        let fresh = Arc::new(self.mount()?);
        *m = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets the mount and idle connections: after a stale handle the
    /// server may have restarted, so everything is looked up again.
    pub fn reset(&self) {
        *self.mounted.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.pool.clear_idle();
    }

    /// The server's addresses (a name may have several, IPv6 and IPv4).
    fn server_ips(&self) -> Result<Vec<IpAddr>> {
        let what = format!("cannot resolve {}", self.server);
        let ips: Vec<IpAddr> = (self.server.as_str(), 0)
            .to_socket_addrs()
            .map_err(|e| self.io_err(&what, e))?
            .map(|a| a.ip())
            .collect();
        if ips.is_empty() {
            return Err(self.io_err(&what, io::ErrorKind::NotFound.into()));
        }
        Ok(ips)
    }

    /// For the portmapper and MOUNT, whose answers are small: waits no
    /// longer for an answer than for a connection, so that a server that
    /// accepts but never answers fails as fast as one that is not there.
    fn first_contact_dialer(&self) -> Dialer {
        Dialer {
            io_timeout: self.dialer.io_timeout.min(self.dialer.connect_timeout),
            ..self.dialer.clone()
        }
    }

    /// The MOUNT and NFS ports: the URL's port for both (or
    /// `nfs.mountport` for MOUNT), else the portmapper's answers.
    fn ports(&self, ip: IpAddr) -> Result<(u16, u16)> {
        if let Some(p) = self.port {
            return Ok((self.opts.mount_port.unwrap_or(p), p));
        }
        let pm_addr = SocketAddr::new(ip, portmap::PMAP_PORT);
        let plain = Dialer {
            privileged_port: false,
            ..self.first_contact_dialer()
        };
        let what = format!("portmapper at {pm_addr}");
        let io = plain
            .connect(pm_addr)
            .map_err(|e| self.io_err(&format!("connecting to the {what}"), e))?;
        let mut pm = PortmapperClient::new(io);
        let mut get = |prog, vers| {
            block_on(pm.getport(prog, vers, portmap::IPPROTO_TCP)).map_err(|e| match e {
                nfs3_client::PortmapError::Rpc(e) => self.rpc_err(&what, e),
                other => BackendError::io(
                    format!("{}: {what}: program {prog} v{vers}", self.location),
                    io::Error::other(other.to_string()),
                ),
            })
        };
        let mount_port = match self.opts.mount_port {
            Some(p) => p,
            None => get(mount::PROGRAM, mount::VERSION)?,
        };
        let nfs_port = get(nfs3::PROGRAM, nfs3::VERSION).unwrap_or(2049);
        Ok((mount_port, nfs_port))
    }

    /// Mounts the longest leading part of the path that the server
    /// exports (`/srv/nfs/repo`, then `/srv/nfs`, ...): the rest are the
    /// repository's folders inside the export, which may not exist yet.
    fn mount(&self) -> Result<Mounted> {
        let mut unreachable = None;
        for ip in self.server_ips()? {
            match self.mount_at(ip) {
                Err(e) if e.is_transient() => unreachable = Some(e),
                other => return other,
            }
        }
        Err(unreachable.expect("at least one address was tried"))
    }

    fn mount_at(&self, ip: IpAddr) -> Result<Mounted> {
        let (mount_port, nfs_port) = self.ports(ip)?;
        let mount_addr = SocketAddr::new(ip, mount_port);
        let what = format!("MOUNT service at {mount_addr}");
        let io = self
            .first_contact_dialer()
            .connect(mount_addr)
            .map_err(|e| self.io_err(&format!("connecting to the {what}"), e))?;
        let mut mc = MountClient::new_with_auth(io, self.auth.clone(), opaque_auth::default());
        let parts: Vec<&str> = self.path.split('/').filter(|p| !p.is_empty()).collect();
        let mut found = None;
        for keep in (0..=parts.len()).rev() {
            let export = format!("/{}", parts[..keep].join("/"));
            match block_on(mc.mnt(dirpath(Opaque::borrowed(export.as_bytes())))) {
                Ok(ok) => {
                    found = Some((ok, keep));
                    break;
                }
                Err(MountError::Denied(mountstat3::MNT3ERR_NOENT | mountstat3::MNT3ERR_NOTDIR)) => {
                }
                Err(MountError::Denied(stat)) => {
                    return Err(BackendError::io(
                        format!("{}: the server refused to mount {export}", self.location),
                        io::Error::new(io::ErrorKind::PermissionDenied, stat.to_string()),
                    ))
                }
                Err(MountError::Rpc(e)) => return Err(self.rpc_err(&what, e)),
            }
        }
        let Some((ok, keep)) = found else {
            return Err(BackendError::io(
                format!(
                    "{}: the server exports no folder of {}",
                    self.location, self.path
                ),
                io::Error::new(io::ErrorKind::NotFound, "MNT3ERR_NOENT"),
            ));
        };
        let export_fh = nfs_fh3 { data: ok.fhandle.0 };
        let mut m = Mounted {
            nfs_addr: SocketAddr::new(ip, nfs_port),
            export_fh,
            below: parts[keep..].iter().map(|s| s.to_string()).collect(),
            rtmax: 64 << 10,
            wtmax: 64 << 10,
        };
        let info = self
            .call_with(&m, "FSINFO", |c| {
                block_on(c.fsinfo(&FSINFO3args {
                    fsroot: m.export_fh.clone(),
                }))
            })
            .map_err(|f| self.fail_to_error(f, "FSINFO"))?;
        if let Nfs3Result::Ok(info) = info {
            let pick = |max: u32| {
                if max >= 4096 {
                    max.min(MAX_TRANSFER)
                } else {
                    64 << 10
                }
            };
            m.rtmax = pick(info.rtmax);
            m.wtmax = pick(info.wtmax);
        }
        Ok(m)
    }

    /// A status or failure as a backend error, when no file is concerned.
    pub fn fail_to_error(&self, f: Fail, what: &str) -> BackendError {
        match f {
            Fail::Other(e) => e,
            Fail::Status(s) => status_error(&self.location, what, s),
        }
    }

    /// Runs one call on a pooled connection; a connection that failed
    /// below the NFS level is closed rather than reused.
    fn call_with<R>(
        &self,
        m: &Mounted,
        what: &str,
        f: impl FnOnce(&mut Nfs3Client<Stream>) -> std::result::Result<R, RpcError>,
    ) -> CallResult<R> {
        let mut client = match self.pool.take() {
            Slot::Idle(c) => c,
            Slot::New => match self.dialer.connect(m.nfs_addr) {
                Ok(io) => Nfs3Client::new_with_auth(io, self.auth.clone(), opaque_auth::default()),
                Err(e) => {
                    self.pool.discard();
                    let what = format!("connecting to the NFS service at {}", m.nfs_addr);
                    return Err(self.io_err(&what, e).into());
                }
            },
        };
        match f(&mut client) {
            Ok(r) => {
                self.pool.put(client);
                Ok(r)
            }
            Err(e) => {
                if e.is_connection_reusable() {
                    self.pool.put(client);
                } else {
                    self.pool.discard();
                }
                Err(self.rpc_err(what, e).into())
            }
        }
    }

    fn call<R>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Nfs3Client<Stream>) -> std::result::Result<R, RpcError>,
    ) -> CallResult<R> {
        let m = self.mounted()?;
        self.call_with(&m, what, f)
    }

    pub fn lookup(&self, dir: &nfs_fh3, name: &str) -> CallResult<(nfs_fh3, Option<fattr3>)> {
        let args = LOOKUP3args {
            what: dirop(dir, name),
        };
        ok(self.call("LOOKUP", |c| block_on(c.lookup(&args)))?)
            .map(|ok| (ok.object, some(ok.obj_attributes)))
    }

    pub fn getattr(&self, fh: &nfs_fh3) -> CallResult<fattr3> {
        let args = GETATTR3args { object: fh.clone() };
        ok(self.call("GETATTR", |c| block_on(c.getattr(&args)))?).map(|ok| ok.obj_attributes)
    }

    /// Up to `count` bytes at `offset`, and whether the file ends there.
    pub fn read(&self, fh: &nfs_fh3, offset: u64, count: u32) -> CallResult<(Vec<u8>, bool)> {
        let args = READ3args {
            file: fh.clone(),
            offset,
            count,
        };
        ok(self.call("READ", |c| block_on(c.read(&args)))?).map(|ok| (ok.data.into_owned(), ok.eof))
    }

    /// Creates a file that must not exist yet, with `mode`.
    pub fn create(&self, dir: &nfs_fh3, name: &str, mode: u32) -> CallResult<nfs_fh3> {
        let args = CREATE3args {
            where_: dirop(dir, name),
            how: createhow3::GUARDED(sattr3 {
                mode: set_mode3::Some(mode),
                ..sattr3::default()
            }),
        };
        match self.call("CREATE", |c| block_on(c.create(&args)))? {
            Nfs3Result::Ok(ok) => self.made(ok.obj, dir, name),
            Nfs3Result::Err((s, _)) => Err(Fail::Status(s)),
        }
    }

    /// Writes `data` at `offset`: bytes taken, how stable, the verifier.
    pub fn write(
        &self,
        fh: &nfs_fh3,
        offset: u64,
        data: &[u8],
    ) -> CallResult<(u32, stable_how, writeverf3)> {
        let args = WRITE3args {
            file: fh.clone(),
            offset,
            count: data.len() as u32,
            stable: stable_how::UNSTABLE,
            data: Opaque::borrowed(data),
        };
        ok(self.call("WRITE", |c| block_on(c.write(&args)))?)
            .map(|ok| (ok.count, ok.committed, ok.verf))
    }

    /// Asks the server to put the whole file on stable storage.
    pub fn commit(&self, fh: &nfs_fh3) -> CallResult<writeverf3> {
        let args = COMMIT3args {
            file: fh.clone(),
            offset: 0,
            count: 0,
        };
        ok(self.call("COMMIT", |c| block_on(c.commit(&args)))?).map(|ok| ok.verf)
    }

    pub fn set_mode(&self, fh: &nfs_fh3, mode: u32) -> CallResult<()> {
        let args = SETATTR3args {
            object: fh.clone(),
            new_attributes: sattr3 {
                mode: set_mode3::Some(mode),
                ..sattr3::default()
            },
            guard: Nfs3Option::None,
        };
        ok(self.call("SETATTR", |c| block_on(c.setattr(&args)))?).map(drop)
    }

    /// Renames `from` to `to` in one folder, replacing `to`.
    pub fn rename(&self, dir: &nfs_fh3, from: &str, to: &str) -> CallResult<()> {
        let args = RENAME3args {
            from: dirop(dir, from),
            to: dirop(dir, to),
        };
        ok(self.call("RENAME", |c| block_on(c.rename(&args)))?).map(drop)
    }

    pub fn remove(&self, dir: &nfs_fh3, name: &str) -> CallResult<()> {
        let args = REMOVE3args {
            object: dirop(dir, name),
        };
        ok(self.call("REMOVE", |c| block_on(c.remove(&args)))?).map(drop)
    }

    /// The handle of what CREATE or MKDIR made: from the answer, else
    /// looked up.
    fn made(&self, fh: post_op_fh3, dir: &nfs_fh3, name: &str) -> CallResult<nfs_fh3> {
        match some(fh) {
            Some(fh) => Ok(fh),
            None => Ok(self.lookup(dir, name)?.0),
        }
    }

    /// Makes a folder (mode 0700), or finds the one that is there.
    pub fn mkdir(&self, dir: &nfs_fh3, name: &str) -> CallResult<nfs_fh3> {
        let args = MKDIR3args {
            where_: dirop(dir, name),
            attributes: sattr3 {
                mode: set_mode3::Some(0o700),
                ..sattr3::default()
            },
        };
        match self.call("MKDIR", |c| block_on(c.mkdir(&args)))? {
            Nfs3Result::Ok(ok) => self.made(ok.obj, dir, name),
            Nfs3Result::Err((nfsstat3::NFS3ERR_EXIST, _)) => Ok(self.lookup(dir, name)?.0),
            Nfs3Result::Err((s, _)) => Err(Fail::Status(s)),
        }
    }

    /// Every entry of a folder but `.` and `..`, with attributes and
    /// handle when the server sends them.
    pub fn read_dir(&self, dir: &nfs_fh3) -> CallResult<Vec<DirEntry>> {
        let mut out = Vec::new();
        let mut args = READDIRPLUS3args {
            dir: dir.clone(),
            cookie: 0,
            cookieverf: nfs3::cookieverf3::default(),
            dircount: 64 << 10,
            maxcount: 256 << 10,
        };
        loop {
            let ok = ok(self.call("READDIRPLUS", |c| block_on(c.readdirplus(&args)))?)?;
            let mut last = None;
            for e in ok.reply.entries.into_inner() {
                last = Some(e.cookie);
                let name = String::from_utf8_lossy(e.name.as_ref()).into_owned();
                if name != "." && name != ".." {
                    out.push(DirEntry {
                        name,
                        attrs: some(e.name_attributes),
                        handle: some(e.name_handle),
                    });
                }
            }
            match last {
                Some(cookie) if !ok.reply.eof => {
                    args.cookie = cookie;
                    args.cookieverf = ok.cookieverf;
                }
                _ => return Ok(out),
            }
        }
    }
}

/// One entry of a folder.
pub(crate) struct DirEntry {
    pub name: String,
    pub attrs: Option<fattr3>,
    pub handle: Option<nfs_fh3>,
}

fn filename(name: &str) -> filename3<'static> {
    filename3(Opaque::owned(name.as_bytes().to_vec()))
}

fn dirop(dir: &nfs_fh3, name: &str) -> diropargs3<'static> {
    diropargs3 {
        dir: dir.clone(),
        name: filename(name),
    }
}

/// An XDR optional as a Rust one.
fn some<T: Pack + Unpack>(o: Nfs3Option<T>) -> Option<T> {
    match o {
        Nfs3Option::Some(v) => Some(v),
        Nfs3Option::None => None,
    }
}

/// A result's value, or the server's status as the failure.
fn ok<T, E>(r: Nfs3Result<T, E>) -> CallResult<T> {
    match r {
        Nfs3Result::Ok(v) => Ok(v),
        Nfs3Result::Err((s, _)) => Err(Fail::Status(s)),
    }
}

/// An NFS status as a backend error. Stale handles and "try later" are
/// transient; the rest are not.
pub(crate) fn status_error(location: &str, what: &str, s: nfsstat3) -> BackendError {
    let context = format!("{location}: {what}");
    let kind = match s {
        nfsstat3::NFS3ERR_STALE | nfsstat3::NFS3ERR_BADHANDLE | nfsstat3::NFS3ERR_JUKEBOX => {
            return BackendError::transient(context, s.to_string())
        }
        nfsstat3::NFS3ERR_NOENT => io::ErrorKind::NotFound,
        nfsstat3::NFS3ERR_EXIST => io::ErrorKind::AlreadyExists,
        nfsstat3::NFS3ERR_ACCES | nfsstat3::NFS3ERR_PERM | nfsstat3::NFS3ERR_ROFS => {
            io::ErrorKind::PermissionDenied
        }
        _ => io::ErrorKind::Other,
    };
    BackendError::io(context, io::Error::new(kind, s.to_string()))
}
