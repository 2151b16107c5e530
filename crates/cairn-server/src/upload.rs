//! Streaming uploads: body → temporary file → fsync → create-only link.
//!
//! The body is hashed and written as it arrives, never held whole in
//! memory. The temporary file sits next to the target (same filesystem)
//! under a dot-name that listings skip, and is removed whenever the upload
//! does not complete — including when the client disconnects and the
//! request future is dropped. The finished file is hard-linked to its name,
//! which fails if the name exists, so a file is never overwritten, not even
//! by two racing uploads.

use crate::space::Space;
use crate::storage::{blocking, sync_dir};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use sha2::Digest as _;
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt as _;

/// Write buffer size between the network and the file.
const BUFFER: usize = 256 * 1024;
/// An upload that sends nothing for this long is abandoned (and its
/// temporary file removed), so stalled clients cannot pile up files.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SaveError {
    /// The name is taken (403, as rest-server).
    #[error("file already exists")]
    Exists,
    /// The quota would be exceeded (507, as rest-server).
    #[error("repository has reached its maximum size")]
    Quota,
    /// The content's SHA-256 is not its name (400).
    #[error("file content does not match hash")]
    HashMismatch,
    /// The body ended early or could not be read (400).
    #[error("reading request body: {0}")]
    Body(String),
    /// The filesystem failed (500, or 507 when full).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// How to store one upload.
pub(crate) struct Upload<'a> {
    /// Final file name.
    pub target: PathBuf,
    /// Required SHA-256 (hex) of the content, if verified.
    pub expected_sha256: Option<&'a str>,
    /// The request's `Content-Length`, if given.
    pub content_length: Option<u64>,
    /// Quota accounting.
    pub space: &'a Space,
    /// Permission bits of created folders and of the file.
    pub modes: (u32, u32),
}

/// Removes the temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Gives back reserved quota unless the upload completed.
struct Reservation<'a> {
    space: &'a Space,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.space.release(self.bytes);
    }
}

fn temp_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp-{:016x}", rand::random::<u64>()))
}

async fn create_temp(
    target: &Path,
    (dir_mode, file_mode): (u32, u32),
) -> io::Result<(PathBuf, tokio::fs::File)> {
    let dir = target.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut created_dir = false;
    loop {
        let tmp = temp_name(target);
        let res = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(file_mode)
            .open(&tmp)
            .await;
        match res {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !created_dir => {
                created_dir = true;
                let dir = dir.clone();
                blocking(move || {
                    use std::os::unix::fs::DirBuilderExt as _;
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(dir_mode)
                        .create(dir)
                })
                .await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Moves the finished temporary file to its name, refusing to replace an
/// existing file, and makes the new name durable.
async fn publish(tmp: PathBuf, target: PathBuf) -> Result<(), SaveError> {
    blocking(move || {
        let linked = match std::fs::hard_link(&tmp, &target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            // Filesystems without hard links: check, then rename.
            Err(_) if target.exists() => Err(io::ErrorKind::AlreadyExists.into()),
            Err(_) => std::fs::rename(&tmp, &target),
        };
        let _ = std::fs::remove_file(&tmp);
        linked?;
        sync_dir(target.parent().unwrap_or(Path::new(".")))
    })
    .await
    .map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => SaveError::Exists,
        _ => SaveError::Io(e),
    })
}

/// Stores `body` as `upload.target`; returns the number of bytes written.
pub(crate) async fn save<B>(upload: Upload<'_>, mut body: B) -> Result<u64, SaveError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    if tokio::fs::symlink_metadata(&upload.target).await.is_ok() {
        return Err(SaveError::Exists);
    }
    if let Some(len) = upload.content_length {
        if !upload.space.fits(len) {
            return Err(SaveError::Quota);
        }
    }
    let (tmp, file) = create_temp(&upload.target, upload.modes).await?;
    let mut guard = TempGuard(Some(tmp.clone()));
    let mut reservation = Reservation {
        space: upload.space,
        bytes: 0,
    };
    let mut out = tokio::io::BufWriter::with_capacity(BUFFER, file);
    let mut hasher = upload.expected_sha256.map(|_| sha2::Sha256::new());

    loop {
        let next = tokio::time::timeout(IDLE_TIMEOUT, body.frame())
            .await
            .map_err(|_| SaveError::Body("no data received for 5 minutes".into()))?;
        let Some(frame) = next else { break };
        let frame = frame.map_err(|e| SaveError::Body(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let n = data.len() as u64;
        if !upload.space.reserve(n) {
            return Err(SaveError::Quota);
        }
        reservation.bytes += n;
        if let Some(h) = hasher.as_mut() {
            h.update(&data);
        }
        out.write_all(&data).await?;
    }
    if let (Some(h), Some(expected)) = (hasher, upload.expected_sha256) {
        if hex::encode(h.finalize()) != expected {
            return Err(SaveError::HashMismatch);
        }
    }
    out.flush().await?;
    let file = out.into_inner();
    file.sync_all().await?;
    drop(file);

    publish(tmp, upload.target).await?;
    guard.0 = None;
    let written = reservation.bytes;
    reservation.bytes = 0;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    fn sha(data: &[u8]) -> String {
        hex::encode(sha2::Sha256::digest(data))
    }

    fn upload<'a>(target: PathBuf, hash: Option<&'a str>, space: &'a Space) -> Upload<'a> {
        Upload {
            target,
            expected_sha256: hash,
            content_length: None,
            space,
            modes: (0o700, 0o600),
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn stores_verifies_and_refuses_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let space = Space::new(0, None);
        let data = b"hello world".to_vec();
        let id = sha(&data);
        let target = tmp.path().join("sub").join(&id);
        let n = save(
            upload(target.clone(), Some(&id), &space),
            Full::new(Bytes::from(data.clone())),
        )
        .await
        .unwrap();
        assert_eq!(n, 11);
        assert_eq!(std::fs::read(&target).unwrap(), data);
        assert_eq!(space.used(), 11);
        let again = save(
            upload(target.clone(), Some(&id), &space),
            Full::new(Bytes::from(data)),
        );
        assert!(matches!(again.await, Err(SaveError::Exists)));

        let other = sha(b"other");
        let wrong = tmp.path().join("sub").join(&other);
        let r = save(
            upload(wrong, Some(&other), &space),
            Full::new(Bytes::from_static(b"x")),
        );
        assert!(matches!(r.await, Err(SaveError::HashMismatch)));
        assert_eq!(files(&tmp.path().join("sub")), vec![id]);
        assert_eq!(space.used(), 11);
    }

    #[tokio::test]
    async fn broken_body_and_quota_leave_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let space = Space::new(0, Some(10));
        let frames: Vec<Result<hyper::body::Frame<Bytes>, io::Error>> = vec![
            Ok(hyper::body::Frame::data(Bytes::from_static(b"abc"))),
            Err(io::Error::other("connection reset")),
        ];
        let body = StreamBody::new(futures_util::stream::iter(frames));
        let r = save(upload(tmp.path().join("a"), None, &space), body).await;
        assert!(matches!(r, Err(SaveError::Body(_))));
        let big = Full::new(Bytes::from(vec![0u8; 11]));
        let r = save(upload(tmp.path().join("b"), None, &space), big).await;
        assert!(matches!(r, Err(SaveError::Quota)));
        assert!(files(tmp.path()).is_empty());
        assert_eq!(space.used(), 0);
    }
}
