//! `-o nfs.*` options.

use crate::{BackendError, BackendOptions, Result, DEFAULT_CONNECTIONS};
use std::time::Duration;

/// How to reach an NFS server, from `-o nfs.KEY=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NfsOptions {
    /// `nfs.connections`: most TCP connections to the NFS service at once
    /// (default 5).
    pub connections: usize,
    /// `nfs.uid`: the user id sent with every call (`AUTH_UNIX`); default
    /// this process's effective uid.
    pub uid: u32,
    /// `nfs.gid`: the group id sent with every call; default this
    /// process's effective gid.
    pub gid: u32,
    /// `nfs.mountport`: where the MOUNT service listens when the URL names
    /// a port. Default: the URL's port too, as user-space servers serve
    /// MOUNT and NFS on one port. Without a port in the URL both are
    /// asked from the portmapper (port 111).
    pub mount_port: Option<u16>,
    /// `nfs.privport`: connect from a port below 1024, which Linux's
    /// `secure` exports (the default) demand. Default: true when running
    /// as root (as the kernel's client does), else false.
    pub privileged_port: bool,
    /// `nfs.timeout`: seconds to wait for one answer before the connection
    /// is given up and the call fails as transient (default 60).
    pub timeout: Duration,
}

impl NfsOptions {
    /// Reads the `nfs.` options, refusing unknown keys and bad values.
    pub fn from_backend_options(opts: &BackendOptions) -> Result<Self> {
        let (euid, egid) = (effective_uid(), effective_gid());
        let mut o = NfsOptions {
            connections: DEFAULT_CONNECTIONS,
            uid: euid,
            gid: egid,
            mount_port: None,
            privileged_port: euid == 0,
            timeout: Duration::from_secs(60),
        };
        for (key, value) in &opts.extended {
            let Some(key) = key.strip_prefix("nfs.") else {
                continue;
            };
            let bad = || {
                BackendError::InvalidOption(format!("invalid value {value:?} for option nfs.{key}"))
            };
            match key {
                "connections" => {
                    o.connections = value.parse().map_err(|_| bad())?;
                    if o.connections == 0 {
                        return Err(BackendError::InvalidOption(
                            "nfs.connections must be at least 1".into(),
                        ));
                    }
                }
                "uid" => o.uid = value.parse().map_err(|_| bad())?,
                "gid" => o.gid = value.parse().map_err(|_| bad())?,
                "mountport" => o.mount_port = Some(value.parse().map_err(|_| bad())?),
                "privport" => {
                    o.privileged_port = match value.as_str() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(bad()),
                    }
                }
                "timeout" => {
                    let secs: u64 = value.parse().map_err(|_| bad())?;
                    if secs == 0 {
                        return Err(bad());
                    }
                    o.timeout = Duration::from_secs(secs);
                }
                _ => {
                    return Err(BackendError::InvalidOption(format!(
                        "option nfs.{key} is not known"
                    )))
                }
            }
        }
        Ok(o)
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions, cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

fn effective_gid() -> u32 {
    // SAFETY: getegid has no preconditions, cannot fail and touches no memory.
    unsafe { libc::getegid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(items: &[&str]) -> Result<NfsOptions> {
        let mut o = BackendOptions::default();
        o.set_extended(items)?;
        NfsOptions::from_backend_options(&o)
    }

    #[test]
    fn options_are_read_and_checked() {
        let o = parse(&[
            "nfs.uid=1000",
            "nfs.gid=100",
            "nfs.connections=2",
            "nfs.mountport=20048",
            "nfs.privport=false",
            "nfs.timeout=5",
            "rest.connections=9",
        ])
        .unwrap();
        assert_eq!(
            (o.uid, o.gid, o.connections, o.mount_port, o.privileged_port),
            (1000, 100, 2, Some(20048), false)
        );
        assert_eq!(o.timeout, Duration::from_secs(5));
        let d = parse(&[]).unwrap();
        assert_eq!(d.connections, DEFAULT_CONNECTIONS);
        assert_eq!(d.uid, effective_uid());
        assert_eq!(d.privileged_port, effective_uid() == 0);
        for bad in [
            "nfs.uid=-1",
            "nfs.connections=0",
            "nfs.privport=maybe",
            "nfs.timeout=0",
            "nfs.mountport=70000",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
        assert_eq!(
            parse(&["nfs.bogus=1"]).unwrap_err().to_string(),
            "option nfs.bogus is not known"
        );
    }
}
