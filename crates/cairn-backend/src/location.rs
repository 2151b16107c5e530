//! Repository strings, parsed as restic parses them.
//!
//! restic takes the text before the first `:` as the scheme. A known scheme
//! is parsed by that backend's rules; anything else must be a path (a plain
//! path may contain `:` only if it starts with `/`, `../` or a drive
//! letter), or it is refused as ambiguous. Cairn adds `nfs://`.
//!
//! [`Location`]'s `Display` never shows a password, and
//! [`strip_password`] masks one in a raw repository string the way restic
//! does, for messages that echo what the user typed.

use crate::{BackendError, Result};
use percent_encoding::percent_decode_str;
use std::fmt;

/// Where a repository lives, with what is needed to reach it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A local folder (also an NFS mount): a plain path or `local:PATH`.
    Local {
        /// The folder, as given.
        path: String,
    },
    /// A rest-server: `rest:http[s]://[user[:pass]@]host[:port]/path/`.
    Rest(RestLocation),
    /// Amazon S3 or compatible: `s3:host[:port]/bucket/prefix`,
    /// `s3://host/bucket/prefix`, `s3:http[s]://host[:port]/bucket/prefix`.
    S3 {
        /// Host (and port) or region.
        endpoint: String,
        /// The bucket.
        bucket: String,
        /// Folder in the bucket, cleaned, no trailing slash.
        prefix: String,
        /// `s3:http://...`: plain HTTP.
        use_http: bool,
    },
    /// SFTP over ssh: `sftp:[user@]host:path`, `sftp://[user@]host[:port]/path`.
    Sftp {
        /// User name (may itself contain `@`).
        user: Option<String>,
        /// Host name or address.
        host: String,
        /// Port, when given in the URL form.
        port: Option<String>,
        /// Path on the server, cleaned; relative to the login folder
        /// unless it starts with `/`.
        path: String,
    },
    /// `rclone:remote:path`: run `rclone serve restic` over stdio.
    Rclone {
        /// The rclone remote and path.
        remote: String,
    },
    /// Backblaze B2: `b2:bucket[:path]`.
    B2 {
        /// The bucket.
        bucket: String,
        /// Folder in the bucket.
        prefix: String,
    },
    /// Azure Blob Storage: `azure:container:/path`.
    Azure {
        /// The container.
        container: String,
        /// Folder in the container.
        prefix: String,
    },
    /// Google Cloud Storage: `gs:bucket:/path`.
    Gs {
        /// The bucket.
        bucket: String,
        /// Folder in the bucket.
        prefix: String,
    },
    /// OpenStack Swift: `swift:container:/path`.
    Swift {
        /// The container.
        container: String,
        /// Folder in the container.
        prefix: String,
    },
    /// Cairn's own: an NFS export reached without mounting it,
    /// `nfs://server[:port]/export/path` (see [`crate::nfs`]; options
    /// such as the user come as `-o nfs.uid=N`).
    Nfs {
        /// The server: a name or an address (IPv6 without brackets).
        server: String,
        /// The port of its MOUNT and NFS services; without it they are
        /// asked from the portmapper.
        port: Option<u16>,
        /// Absolute path, cleaned: the export and the repository's folder
        /// inside it (the longest leading part the server exports is
        /// mounted).
        path: String,
    },
}

/// A rest-server location. The password is kept out of `Debug` and
/// `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct RestLocation {
    /// The server URL without credentials, always ending in `/`.
    pub url: String,
    /// User name for HTTP basic authentication.
    pub username: Option<String>,
    /// Password for HTTP basic authentication.
    pub password: Option<String>,
}

impl RestLocation {
    /// The URL as restic shows it: with the user name, password as `***`.
    pub fn display_url(&self) -> String {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return self.url.clone();
        };
        let user = match (&self.username, &self.password) {
            (None, None) => return self.url.clone(),
            (Some(u), None) => format!("{}@", encode_userinfo(u)),
            (u, Some(_)) => format!("{}:***@", encode_userinfo(u.as_deref().unwrap_or(""))),
        };
        format!("{scheme}://{user}{rest}")
    }
}

impl fmt::Debug for RestLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_url())
    }
}

fn encode_userinfo(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

const AMBIGUOUS: &str =
    "invalid backend\nIf the repository is in a local directory, you need to add a `local:` prefix";

fn invalid(msg: impl Into<String>) -> BackendError {
    BackendError::InvalidLocation(msg.into())
}

impl Location {
    /// Parses a repository string; REST credentials missing from the URL
    /// are taken from `RESTIC_REST_USERNAME` and `RESTIC_REST_PASSWORD`.
    pub fn parse(s: &str) -> Result<Location> {
        Self::parse_with_env(s, |k| std::env::var(k).ok())
    }

    /// [`Location::parse`] with the environment given as a function.
    pub fn parse_with_env(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Location> {
        let (scheme, rest) = s.split_once(':').unwrap_or((s, ""));
        match scheme {
            "local" => Ok(Location::Local {
                path: rest.to_string(),
            }),
            "rest" => parse_rest(s, env).map(Location::Rest),
            "s3" => parse_s3(s),
            "sftp" => parse_sftp(s),
            "rclone" => Ok(Location::Rclone {
                remote: rest.to_string(),
            }),
            "b2" => parse_b2(rest),
            "azure" => {
                let (container, prefix) = rest.split_once(':').ok_or_else(|| {
                    invalid("azure: invalid format: bucket name or path not found")
                })?;
                Ok(Location::Azure {
                    container: container.to_string(),
                    prefix: trim_root(&clean(prefix)),
                })
            }
            "gs" => {
                let (bucket, prefix) = rest
                    .split_once(':')
                    .ok_or_else(|| invalid("gs: invalid format: bucket name or path not found"))?;
                Ok(Location::Gs {
                    bucket: bucket.to_string(),
                    prefix: trim_root(&clean(prefix)),
                })
            }
            "swift" => {
                let (container, prefix) = rest.split_once(':').unwrap_or((rest, ""));
                if prefix.is_empty() {
                    return Err(invalid("prefix is empty"));
                }
                let Some(prefix) = prefix.strip_prefix('/') else {
                    return Err(invalid("prefix does not start with slash (/)"));
                };
                Ok(Location::Swift {
                    container: container.to_string(),
                    prefix: prefix.to_string(),
                })
            }
            "nfs" => parse_nfs(s),
            _ if !is_path(s) && s.contains(':') => Err(invalid(AMBIGUOUS)),
            _ => Ok(Location::Local {
                path: s.to_string(),
            }),
        }
    }

    /// The scheme: `local`, `rest`, `s3`, `sftp`, `rclone`, `b2`, `azure`,
    /// `gs`, `swift` or `nfs`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Location::Local { .. } => "local",
            Location::Rest(_) => "rest",
            Location::S3 { .. } => "s3",
            Location::Sftp { .. } => "sftp",
            Location::Rclone { .. } => "rclone",
            Location::B2 { .. } => "b2",
            Location::Azure { .. } => "azure",
            Location::Gs { .. } => "gs",
            Location::Swift { .. } => "swift",
            Location::Nfs { .. } => "nfs",
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local { path } => write!(f, "local:{path}"),
            Location::Rest(r) => write!(f, "rest:{}", r.display_url()),
            Location::S3 {
                endpoint,
                bucket,
                prefix,
                use_http,
            } => {
                let scheme = if *use_http { "http" } else { "https" };
                write!(f, "s3:{scheme}://{endpoint}/{bucket}")?;
                if !prefix.is_empty() {
                    write!(f, "/{prefix}")?;
                }
                Ok(())
            }
            Location::Sftp {
                user,
                host,
                port,
                path,
            } => {
                f.write_str("sftp://")?;
                if let Some(u) = user {
                    write!(f, "{u}@")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]")?;
                } else {
                    f.write_str(host)?;
                }
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                write!(f, "/{path}")
            }
            Location::Rclone { remote } => write!(f, "rclone:{remote}"),
            Location::B2 { bucket, prefix } => write!(f, "b2:{bucket}:{prefix}"),
            Location::Azure { container, prefix } => write!(f, "azure:{container}:/{prefix}"),
            Location::Gs { bucket, prefix } => write!(f, "gs:{bucket}:/{prefix}"),
            Location::Swift { container, prefix } => write!(f, "swift:{container}:/{prefix}"),
            Location::Nfs { server, port, path } => {
                write!(f, "nfs://{server}")?;
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                f.write_str(path)
            }
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

/// A raw repository string as restic displays it: for `rest:` URLs with a
/// password, the password is replaced by `***` (and a `/` is appended);
/// every other string is returned unchanged.
pub fn strip_password(s: &str) -> String {
    let Some(rest) = s.strip_prefix("rest:") else {
        return s.to_string();
    };
    let mut url = rest.to_string();
    if !url.ends_with('/') {
        url.push('/');
    }
    let Some((scheme, after)) = url.split_once("://") else {
        return format!("rest:{url}");
    };
    let auth_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(auth_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("rest:{scheme}://{user}:***@{host}{tail}"),
            None => format!("rest:{url}"),
        },
        None => format!("rest:{url}"),
    }
}

/// restic's test for strings that are paths even though they contain `:`.
fn is_path(s: &str) -> bool {
    if s.starts_with("../") || s.starts_with("..\\") || s.starts_with('/') || s.starts_with('\\') {
        return true;
    }
    let b = s.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
}

fn parse_rest(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<RestLocation> {
    let mut text = s["rest:".len()..].to_string();
    if !text.ends_with('/') {
        text.push('/');
    }
    let mut url = url::Url::parse(&text).map_err(|e| {
        invalid(format!(
            "invalid REST URL {}: {e}",
            strip_password(&format!("rest:{text}"))
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "invalid REST URL {}: only http and https are supported",
            strip_password(s)
        )));
    }
    let decode = |x: &str| percent_decode_str(x).decode_utf8_lossy().into_owned();
    // The user info as written: `user`, `user:`, `user:pass` (Go keeps an
    // empty password, and restic masks it too).
    let after_scheme = text.split_once("://").map_or("", |x| x.1);
    let authority = &after_scheme[..after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len())];
    let (mut username, mut password) = match authority.rsplit_once('@') {
        Some((info, _)) => match info.split_once(':') {
            Some((u, p)) => ((!u.is_empty()).then(|| decode(u)), Some(decode(p))),
            None => ((!info.is_empty()).then(|| decode(info)), None),
        },
        None => (None, None),
    };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if username.is_none() && password.is_none() {
        let u = env("RESTIC_REST_USERNAME").unwrap_or_default();
        let p = env("RESTIC_REST_PASSWORD").unwrap_or_default();
        if !u.is_empty() || !p.is_empty() {
            username = Some(u);
            password = Some(p);
        }
    }
    Ok(RestLocation {
        url: url.to_string(),
        username,
        password,
    })
}

fn parse_s3(s: &str) -> Result<Location> {
    let (endpoint, bucket, prefix, use_http) = if let Some(u) = s
        .strip_prefix("s3:http://")
        .map(|r| (r, true))
        .or_else(|| s.strip_prefix("s3:https://").map(|r| (r, false)))
    {
        let (rest, use_http) = u;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let host = authority.rsplit_once('@').map_or(authority, |x| x.1);
        if path.is_empty() {
            return Err(invalid("s3: bucket name not found"));
        }
        let (bucket, prefix) = path[1..].split_once('/').unwrap_or((&path[1..], ""));
        (host, bucket, prefix, use_http)
    } else {
        let rest = s
            .strip_prefix("s3://")
            .or_else(|| s.strip_prefix("s3:"))
            .unwrap_or("");
        let (endpoint, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (endpoint, bucket, prefix, false)
    };
    if endpoint.is_empty() {
        return Err(invalid(
            "s3: invalid format, host/region or bucket name not found",
        ));
    }
    Ok(Location::S3 {
        endpoint: endpoint.to_string(),
        bucket: bucket.to_string(),
        prefix: if prefix.is_empty() {
            String::new()
        } else {
            clean(prefix)
        },
        use_http,
    })
}

fn parse_sftp(s: &str) -> Result<Location> {
    let (user, host, port, dir) = if let Some(rest) = s.strip_prefix("sftp://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hp)) => {
                let name = userinfo.split_once(':').map_or(userinfo, |x| x.0);
                (
                    Some(percent_decode_str(name).decode_utf8_lossy().into_owned()),
                    hp,
                )
            }
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| invalid(format!("invalid backend {s:?}: bad host or port")))?;
        if path.is_empty() {
            return Err(invalid(format!(
                "invalid backend {s:?}, no directory specified"
            )));
        }
        (user, host, port, path[1..].to_string())
    } else {
        let rest = &s["sftp:".len()..];
        let (host, dir) = rest
            .split_once(':')
            .ok_or_else(|| invalid("sftp: invalid format, hostname or path not found"))?;
        let parts: Vec<&str> = host.splitn(3, '@').collect();
        let (user, host) = match parts.as_slice() {
            [a, b, h] => (Some(format!("{a}@{b}")), h.to_string()),
            [u, h] => (Some(u.to_string()), h.to_string()),
            _ => (None, host.to_string()),
        };
        (user, host, None, dir.to_string())
    };
    let path = clean(&dir);
    if path.starts_with('~') {
        return Err(invalid("sftp path starts with the tilde (~) character, that fails for most sftp servers.\nUse a relative directory, most servers interpret this as relative to the user's home directory"));
    }
    Ok(Location::Sftp {
        user,
        host,
        port,
        path,
    })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, as Go's URL parser splits
/// them; the port must be decimal digits.
fn split_host_port(hp: &str) -> Option<(String, Option<String>)> {
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':')?)),
        }
    } else {
        match hp.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        }
    };
    if let Some(p) = port {
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    Some((
        host.to_string(),
        port.filter(|p| !p.is_empty()).map(str::to_string),
    ))
}

fn parse_b2(rest: &str) -> Result<Location> {
    let (bucket, prefix) = rest.split_once(':').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid("bucket name not found"));
    }
    if bucket.len() < 6 {
        return Err(invalid("bucket name is too short"));
    }
    if bucket.len() > 50 {
        return Err(invalid("bucket name is too long"));
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(invalid(
            "bucket name contains invalid characters, allowed are: a-z, 0-9, dash (-)",
        ));
    }
    Ok(Location::B2 {
        bucket: bucket.to_string(),
        prefix: if prefix.is_empty() {
            String::new()
        } else {
            trim_root(&clean(prefix))
        },
    })
}

fn parse_nfs(s: &str) -> Result<Location> {
    let usage = || {
        invalid(format!(
            "invalid NFS location {s:?}, want nfs://server[:port]/export/path"
        ))
    };
    let rest = s.strip_prefix("nfs://").ok_or_else(usage)?;
    let slash = rest.find('/').ok_or_else(usage)?;
    let (hostport, path) = rest.split_at(slash);
    let (server, port) = split_host_port(hostport).ok_or_else(usage)?;
    if server.is_empty() {
        return Err(usage());
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| usage())?),
        None => None,
    };
    Ok(Location::Nfs {
        server,
        port,
        path: clean(path),
    })
}

fn trim_root(p: &str) -> String {
    p.strip_prefix('/').unwrap_or(p).to_string()
}

/// Go's `path.Clean`: the shortest equivalent slash path.
pub(crate) fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
#[path = "location_tests.rs"]
mod tests;
