//! Authentication: htpasswd users checked against HTTP Basic credentials.
//!
//! Like rest-server, entries hashed with bcrypt (`$2a$`, `$2b$`, `$2y$`) and
//! with `{SHA}` (base64 of SHA-1) are accepted; other hash formats (such as
//! Apache's `$apr1$` MD5) never match. The file is re-read when it changed
//! (checked at most every 30 seconds) and on SIGHUP. Successful checks are
//! cached for a minute as a SHA-256 of `user:password`, so bcrypt's cost is
//! paid once per minute per user rather than per request.

use base64::Engine as _;
use sha2::Digest as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};
use subtle::ConstantTimeEq as _;

/// How often the file's modification time and size are compared.
const CHECK_INTERVAL: Duration = Duration::from_secs(30);
/// How long a verified password stays cached.
const CACHE_DURATION: Duration = Duration::from_secs(60);

/// Users and password hashes from an htpasswd file.
pub(crate) struct Htpasswd {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    users: HashMap<String, String>,
    stamp: (Option<SystemTime>, u64),
    last_check: Instant,
    cache: HashMap<String, ([u8; 32], Instant)>,
}

/// rest-server's user name rule: letters, digits, `@`, `.`, `_` and `-`.
fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphabetic() || c.is_ascii_digit() || "@._-".contains(c))
}

fn stamp(path: &Path) -> std::io::Result<(Option<SystemTime>, u64)> {
    let md = std::fs::metadata(path)?;
    Ok((md.modified().ok(), md.len()))
}

/// Parses htpasswd text: `user:hash` lines, `#` comments, blank lines.
fn parse(text: &str) -> HashMap<String, String> {
    let mut users = HashMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(user), Some(hash)) = (fields.next(), fields.next()) else {
            continue;
        };
        let hash = hash.trim_start().trim_end_matches('\r');
        if !valid_username(user) {
            eprintln!("Ignoring invalid username {user:?} in htpasswd");
            continue;
        }
        users.insert(user.to_string(), hash.to_string());
    }
    users
}

/// Whether `password` matches a stored `hash` (bcrypt or `{SHA}`).
fn hash_matches(hash: &str, password: &str) -> bool {
    if let Some(b64) = hash.strip_prefix("{SHA}") {
        use sha1::Digest as _;
        let digest = sha1::Sha1::digest(password.as_bytes());
        let expected = base64::engine::general_purpose::STANDARD.encode(digest);
        return bool::from(b64.as_bytes().ct_eq(expected.as_bytes()));
    }
    if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    false
}

fn verifier(user: &str, password: &str) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(user.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize());
    out
}

impl Htpasswd {
    /// Loads the file; an unreadable file is an error, as in rest-server.
    pub(crate) fn load(path: &Path) -> std::io::Result<Self> {
        let st = stamp(path)?;
        let users = parse(&std::fs::read_to_string(path)?);
        Ok(Htpasswd {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                users,
                stamp: st,
                last_check: Instant::now(),
                cache: HashMap::new(),
            }),
        })
    }

    /// Re-reads the file now; on failure the old users stay.
    pub(crate) fn reload(&self) -> std::io::Result<()> {
        let st = stamp(&self.path)?;
        let users = parse(&std::fs::read_to_string(&self.path)?);
        let mut inner = self.lock();
        inner.users = users;
        inner.stamp = st;
        inner.cache.clear();
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reloads if the file changed and the last check is old enough.
    fn reload_if_changed(&self) {
        let due = {
            let mut inner = self.lock();
            if inner.last_check.elapsed() < CHECK_INTERVAL {
                return;
            }
            inner.last_check = Instant::now();
            matches!(stamp(&self.path), Ok(st) if st != inner.stamp)
        };
        if due {
            match self.reload() {
                Ok(()) => eprintln!("Reloaded htpasswd file"),
                Err(e) => eprintln!("Could not reload htpasswd file: {e}"),
            }
        }
    }

    /// Whether `user` exists and `password` is theirs. May run bcrypt, so
    /// call it off the async executor.
    pub(crate) fn validate(&self, user: &str, password: &str) -> bool {
        self.reload_if_changed();
        let check = verifier(user, password);
        let hash = {
            let mut inner = self.lock();
            let now = Instant::now();
            inner.cache.retain(|_, (_, expiry)| *expiry > now);
            let Some(hash) = inner.users.get(user).cloned() else {
                return false;
            };
            if let Some((cached, expiry)) = inner.cache.get_mut(user) {
                if bool::from(cached.ct_eq(&check)) {
                    *expiry = now + CACHE_DURATION;
                    return true;
                }
            }
            hash
        };
        if !hash_matches(&hash, password) {
            return false;
        }
        self.lock()
            .cache
            .insert(user.to_string(), (check, Instant::now() + CACHE_DURATION));
        true
    }
}

/// Decodes an `Authorization: Basic …` header into user and password.
pub(crate) fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_and_bcrypt_entries() {
        // `{SHA}` of "secret".
        let sha = "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";
        assert!(hash_matches(sha, "secret"));
        assert!(!hash_matches(sha, "Secret"));
        let b = bcrypt::hash("pw", 4).unwrap();
        assert!(hash_matches(&b, "pw"));
        assert!(!hash_matches(&b, "px"));
        let y = b.replacen("$2b$", "$2y$", 1);
        assert!(hash_matches(&y, "pw"));
        assert!(!hash_matches("$apr1$abc$def", "pw"));
        assert!(!hash_matches("plain", "plain"));
    }

    #[test]
    fn parse_file() {
        let users = parse("# comment\nalice:{SHA}x\n\nbad user:{SHA}y\nbob:$2y$05$z\r\nnocolon\n");
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "{SHA}x");
        assert_eq!(users["bob"], "$2y$05$z");
    }

    #[test]
    fn basic_header() {
        let h = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("al:ice:pw")
        );
        assert_eq!(
            basic_credentials(h.as_bytes()),
            Some(("al".into(), "ice:pw".into()))
        );
        assert_eq!(basic_credentials(b"Bearer x"), None);
    }
}
