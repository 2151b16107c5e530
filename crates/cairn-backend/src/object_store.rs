//! Object stores (S3, Azure Blob Storage, Backblaze B2, OpenStack Swift)
//! through `opendal`, behind the synchronous [`Backend`] trait.
//!
//! Every store keeps restic's "default" layout under the repository's
//! prefix: `config`, `keys/ID`, `locks/ID`, `snapshots/ID`, `index/ID` and
//! `data/XX/ID`, where `XX` is the first two characters of the pack's ID.
//! Object stores have no folders, so creating a repository writes nothing
//! but what the store needs first (an S3 bucket, see `s3`).
//!
//! opendal is asynchronous. All object-store backends share one small
//! tokio runtime; each call blocks the calling thread until its request is
//! done, so the rest of Cairn sees the same blocking calls as for local
//! folders. opendal's own retry layer is not used: [`crate::RetryBackend`]
//! wraps every backend and is the only place that retries.

use crate::runtime::ClientRuntime;
use crate::{Backend, BackendError, BackendOptions, FileInfo, FileType, Location, Result};
use opendal::{ErrorKind, Operator};
use std::future::IntoFuture;
use std::sync::OnceLock;

/// Part size for multipart uploads: files up to this size are stored with
/// one request, larger ones in parts of this size (minio-go, which restic
/// uses, also starts at 16 MiB).
pub const DEFAULT_PART_SIZE: usize = 16 << 20;

/// Creates what a store needs before the first file can be written (an S3
/// bucket). Called by [`Backend::create`] when the store says it is missing.
pub(crate) type CreateContainer = Box<dyn Fn() -> Result<()> + Send + Sync>;

/// A repository in an object store reached through opendal.
pub struct ObjectStoreBackend {
    op: Operator,
    display: String,
    part_size: usize,
    create_container: Option<CreateContainer>,
}

impl std::fmt::Debug for ObjectStoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreBackend")
            .field("location", &self.display)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

/// The runtime every object-store backend shares: two worker threads
/// drive the connections; callers block in [`block_on`].
fn runtime() -> &'static ClientRuntime {
    static RT: OnceLock<ClientRuntime> = OnceLock::new();
    RT.get_or_init(|| {
        ClientRuntime::with_workers("cairn-object-store", 2)
            .expect("cannot start the tokio runtime for object stores")
    })
}

/// Runs `fut` to completion on the shared runtime, from any thread (see
/// [`crate::runtime`]).
pub(crate) fn block_on<F>(fut: F) -> F::Output
where
    F: IntoFuture,
    F::IntoFuture: Send,
    F::Output: Send,
{
    runtime().block_on(fut.into_future())
}

/// `op` sending its requests with `client`.
pub(crate) fn with_client(op: Operator, client: reqwest::Client) -> Operator {
    op.layer(opendal::layers::HttpClientLayer::new(
        opendal::raw::HttpClient::with(client),
    ))
}

/// An async HTTP client with the timeouts, pool size, `--cacert` roots
/// and `--insecure-tls` the options ask for.
pub(crate) fn http_client(opts: &BackendOptions, connections: usize) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(opts.user_agent())
        .connect_timeout(opts.connect_timeout)
        .timeout(
            opts.request_timeout
                .unwrap_or(crate::DEFAULT_REQUEST_TIMEOUT),
        )
        .pool_max_idle_per_host(connections.max(1))
        .tcp_keepalive(std::time::Duration::from_secs(30));
    if let Some(stuck) = opts.stuck_request_timeout {
        builder = builder.read_timeout(stuck);
    }
    if !opts.cacerts.is_empty() {
        builder = builder.tls_built_in_root_certs(false);
        for c in crate::http_util::cacert_roots(opts)? {
            builder = builder.add_root_certificate(c);
        }
    }
    if opts.insecure_tls {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| {
        BackendError::InvalidOption(format!(
            "cannot set up the HTTP client: {}",
            crate::http_util::chain(&e)
        ))
    })
}

/// Opens the object store a location names (S3, Azure, B2, GCS or Swift),
/// reading credentials from `env`; `None` for other schemes.
fn open_location(
    location: &Location,
    opts: &BackendOptions,
    connections: usize,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Result<ObjectStoreBackend>> {
    let display = location.to_string();
    #[cfg(feature = "cloud")]
    let client = || http_client(opts, connections);
    Some(match location {
        #[cfg(feature = "s3")]
        Location::S3 {
            endpoint,
            bucket,
            prefix,
            use_http,
        } => crate::s3::settings(endpoint, bucket, prefix, *use_http, opts, env)
            .and_then(|s| crate::s3::open(s, display, opts, connections, env)),
        #[cfg(feature = "cloud")]
        Location::Azure { container, prefix } => {
            client().and_then(|c| crate::cloud::open_azure(container, prefix, display, c, env))
        }
        #[cfg(feature = "cloud")]
        Location::B2 { bucket, prefix } => {
            client().and_then(|c| crate::cloud::open_b2(bucket, prefix, display, c, env))
        }
        #[cfg(feature = "cloud")]
        Location::Swift { container, prefix } => {
            client().and_then(|c| crate::cloud::open_swift(container, prefix, display, c, env))
        }
        #[cfg(feature = "cloud")]
        Location::Gs { bucket, prefix } => {
            client().and_then(|c| crate::cloud::open_gcs(bucket, prefix, display, c, env))
        }
        _ => return None,
    })
}

impl ObjectStoreBackend {
    /// Opens the object store a location names (`s3:`, `azure:`, `b2:`,
    /// `gs:`, `swift:`), with credentials from the environment; nothing is sent
    /// yet except what finding the store needs (an S3 bucket's region on
    /// Amazon, a B2 bucket's ID). Other schemes fail with
    /// [`BackendError::Unsupported`].
    ///
    /// ```
    /// use cairn_backend::{Backend, BackendOptions, Location, ObjectStoreBackend};
    /// let loc = Location::parse("s3:http://127.0.0.1:9000/bucket/repo").unwrap();
    /// let mut be = ObjectStoreBackend::open(&loc, &BackendOptions::default()).unwrap();
    /// be.set_part_size(8 << 20);
    /// assert_eq!(be.location(), "s3:http://127.0.0.1:9000/bucket/repo");
    /// let rest = Location::parse("rest:http://127.0.0.1:8000/").unwrap();
    /// assert!(ObjectStoreBackend::open(&rest, &BackendOptions::default()).is_err());
    /// ```
    pub fn open(location: &Location, opts: &BackendOptions) -> Result<Self> {
        let n = opts
            .connections(location.scheme())?
            .unwrap_or(crate::DEFAULT_CONNECTIONS);
        let env = |k: &str| std::env::var(k).ok();
        open_location(location, opts, n, &env).unwrap_or_else(|| {
            Err(BackendError::Unsupported {
                scheme: location.scheme().to_string(),
            })
        })
    }

    /// Wraps an opendal operator whose root is the repository's prefix.
    /// `display` is the location shown in messages (no secrets).
    pub(crate) fn new(op: Operator, display: String) -> Self {
        ObjectStoreBackend {
            op,
            display,
            part_size: DEFAULT_PART_SIZE,
            create_container: None,
        }
    }

    /// Sets what [`Backend::create`] calls when the container is missing.
    #[cfg(feature = "s3")]
    pub(crate) fn with_create_container(mut self, f: CreateContainer) -> Self {
        self.create_container = Some(f);
        self
    }

    /// Sets the size of the parts of multipart uploads (S3 wants at least
    /// 5 MiB for all but the last part). Files up to this size are sent in
    /// one request.
    pub fn set_part_size(&mut self, bytes: usize) {
        self.part_size = bytes.max(1);
    }

    /// The object's path below the repository's prefix.
    fn path(&self, file_type: FileType, name: &str) -> Result<String> {
        match file_type {
            FileType::Config => Ok("config".to_string()),
            FileType::Pack => {
                crate::http_util::check_name(name)?;
                let sub = name
                    .get(..2)
                    .filter(|_| name.len() >= 2)
                    .ok_or_else(|| BackendError::InvalidName(name.to_string()))?;
                Ok(format!("data/{sub}/{name}"))
            }
            t => {
                crate::http_util::check_name(name)?;
                Ok(format!("{}/{name}", t.dir_name()))
            }
        }
    }

    /// Maps an opendal error of a request on one file.
    fn error(
        &self,
        e: opendal::Error,
        what: &str,
        file_type: FileType,
        name: &str,
    ) -> BackendError {
        let missing_container = is_missing_container(&e);
        if e.kind() == ErrorKind::NotFound && !missing_container {
            return BackendError::NotFound {
                file_type,
                name: name.to_string(),
            };
        }
        // With no bucket there is no config: "repository does not exist".
        if missing_container && file_type == FileType::Config {
            return BackendError::NotFound {
                file_type,
                name: "config".to_string(),
            };
        }
        self.other_error(e, what)
    }

    /// Maps an opendal error that is not about one file's absence.
    fn other_error(&self, e: opendal::Error, what: &str) -> BackendError {
        let context = format!("{} {what}", self.display);
        let detail = summary(&e);
        if is_missing_container(&e) {
            return BackendError::Store {
                context: self.display.clone(),
                message: format!("the bucket or container does not exist ({detail})"),
            };
        }
        match e.kind() {
            ErrorKind::PermissionDenied => BackendError::Store {
                context,
                message: format!("access denied, check the credentials ({detail})"),
            },
            _ if e.is_temporary() || e.kind() == ErrorKind::RateLimited => {
                BackendError::transient(context, detail)
            }
            _ => BackendError::Store {
                context,
                message: detail,
            },
        }
    }

    fn stat_path(&self, file_type: FileType, name: &str) -> Result<u64> {
        let path = self.path(file_type, name)?;
        let meta = block_on(self.op.stat(&path)).map_err(|e| {
            self.error(
                e,
                &crate::http_util::what("HEAD", file_type, name),
                file_type,
                name,
            )
        })?;
        Ok(meta.content_length())
    }
}

/// True for "the bucket (container) does not exist": S3's `NoSuchBucket`,
/// Azure's `ContainerNotFound`, Swift's 404 on the container.
fn is_missing_container(e: &opendal::Error) -> bool {
    let text = e.to_string();
    text.contains("NoSuchBucket") || text.contains("ContainerNotFound")
}

/// One line saying what the store answered: the service's error code and
/// message when it sent them (never the request, which may carry a
/// signature), else the transport error and its causes.
fn summary(e: &opendal::Error) -> String {
    let text = e.to_string();
    let field = |key: &str| {
        let start = text.find(&format!("{key}: \""))? + key.len() + 3;
        let len = text[start..].find('"')?;
        Some(text[start..start + len].to_string())
    };
    let status = text
        .find("status: ")
        .map(|i| &text[i + 8..])
        .and_then(|s| s.split([',', ' ']).next())
        .filter(|s| s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty());
    let mut out = match (field("code"), field("message")) {
        (Some(code), Some(msg)) if !msg.is_empty() => format!("{code}: {msg}"),
        (Some(code), _) if !code.is_empty() => code,
        _ => match std::error::Error::source(e) {
            Some(src) => crate::http_util::chain(src),
            None => format!("{}", e.kind()),
        },
    };
    if let Some(status) = status {
        out = format!("HTTP {status}: {out}");
    }
    let mut out = out.replace(['\n', '\r'], " ");
    if out.len() > 300 {
        let mut cut = 300;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

impl Backend for ObjectStoreBackend {
    fn location(&self) -> String {
        self.display.clone()
    }

    fn create(&self) -> Result<()> {
        BackendError::refuse_existing_config(
            self.stat_path(FileType::Config, "config"),
            &self.display,
        )?;
        // A missing bucket also answers "no config": ask again for
        // something that tells the two apart.
        match block_on(self.op.list_with("keys/").limit(1)) {
            Ok(_) => Ok(()),
            Err(e) if is_missing_container(&e) => match &self.create_container {
                Some(create) => create(),
                None => Err(self.other_error(e, "LIST keys/")),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.other_error(e, "LIST keys/")),
        }
    }

    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>> {
        if file_type == FileType::Config {
            return match self.stat_path(FileType::Config, "config") {
                Ok(size) => Ok(vec![FileInfo {
                    name: "config".into(),
                    size,
                }]),
                Err(e) if e.is_not_found() => Ok(vec![]),
                Err(e) => Err(e),
            };
        }
        let dir = format!("{}/", file_type.dir_name());
        let what = format!("LIST {dir}");
        let entries = match block_on(
            self.op
                .list_with(&dir)
                .recursive(file_type == FileType::Pack),
        ) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound && !is_missing_container(&e) => {
                return Ok(vec![])
            }
            Err(e) => return Err(self.other_error(e, &what)),
        };
        Ok(entries
            .into_iter()
            .filter(|e| e.metadata().is_file())
            .filter_map(|e| {
                let name = e.path().rsplit('/').next()?.to_string();
                (!name.is_empty()).then(|| FileInfo {
                    name,
                    size: e.metadata().content_length(),
                })
            })
            .collect())
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        let path = self.path(file_type, name)?;
        let what = crate::http_util::what("GET", file_type, name);
        block_on(self.op.read(&path))
            .map(|b| b.to_vec())
            .map_err(|e| self.error(e, &what, file_type, name))
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        if length == 0 {
            self.stat_path(file_type, name)?;
            return Ok(Vec::new());
        }
        let path = self.path(file_type, name)?;
        let what = crate::http_util::what("GET", file_type, name);
        let short = |got: u64| BackendError::ShortRead {
            file_type,
            name: name.to_string(),
            offset,
            wanted: length,
            got,
        };
        let end = offset.saturating_add(length);
        let data = match block_on(self.op.read_with(&path).range(offset..end)) {
            Ok(b) => b.to_vec(),
            Err(e) if e.kind() == ErrorKind::RangeNotSatisfied => return Err(short(0)),
            Err(e) => {
                let err = self.error(e, &what, file_type, name);
                if err.is_not_found() {
                    return Err(err);
                }
                // Some stores fail a range that runs past the end instead
                // of returning what there is: say how much there is.
                return match self.stat_path(file_type, name) {
                    Ok(size) if size < end => Err(short(size.saturating_sub(offset))),
                    _ => Err(err),
                };
            }
        };
        if (data.len() as u64) < length {
            return Err(short(data.len() as u64));
        }
        Ok(data)
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        let path = self.path(file_type, name)?;
        let what = crate::http_util::what("PUT", file_type, name);
        let buf = opendal::Buffer::from(data.to_vec());
        block_on(
            self.op
                .write_with(&path, buf)
                .chunk(self.part_size)
                .concurrent(1),
        )
        .map(|_| ())
        .map_err(|e| self.error(e, &what, file_type, name))
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        // Object stores delete missing objects without complaint; the
        // trait promises NotFound.
        self.stat_path(file_type, name)?;
        let path = self.path(file_type, name)?;
        let what = crate::http_util::what("DELETE", file_type, name);
        block_on(self.op.delete(&path)).map_err(|e| self.error(e, &what, file_type, name))
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        let size = self.stat_path(file_type, name)?;
        Ok(FileInfo {
            name: if file_type == FileType::Config {
                "config".into()
            } else {
                name.to_string()
            },
            size,
        })
    }
}

#[cfg(all(test, feature = "s3"))]
mod tests {
    use super::*;

    fn backend() -> ObjectStoreBackend {
        let op = Operator::new(opendal::services::S3::default().bucket("b").region("r"))
            .unwrap()
            .finish();
        ObjectStoreBackend::new(op, "s3:http://127.0.0.1:1/b/p".into())
    }

    #[test]
    fn paths_follow_restics_default_layout() {
        let be = backend();
        assert_eq!(be.path(FileType::Config, "").unwrap(), "config");
        assert_eq!(be.path(FileType::Pack, "abcd").unwrap(), "data/ab/abcd");
        assert_eq!(be.path(FileType::Key, "abcd").unwrap(), "keys/abcd");
        assert_eq!(be.path(FileType::Index, "ef").unwrap(), "index/ef");
        assert!(be.path(FileType::Pack, "a").is_err());
        assert!(be.path(FileType::Snapshot, "../x").is_err());
        assert!(be.path(FileType::Lock, "").is_err());
    }

    #[test]
    fn summaries_keep_the_service_code_and_drop_the_rest() {
        let e = opendal::Error::new(
            ErrorKind::PermissionDenied,
            "S3Error { code: \"InvalidAccessKeyId\", message: \"The key does not exist.\", resource: \"\", request_id: \"\" }",
        )
        .with_context("response", "Parts { status: 403, version: HTTP/1.1, headers: {} }");
        assert_eq!(
            summary(&e),
            "HTTP 403: InvalidAccessKeyId: The key does not exist."
        );
        let be = backend();
        let err = be.other_error(e, "GET config").to_string();
        assert!(err.starts_with("s3:http://127.0.0.1:1/b/p GET config: access denied"));
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_missing_bucket_reads_as_a_missing_config() {
        let be = backend();
        let e = || {
            opendal::Error::new(ErrorKind::ConfigInvalid, "S3Error { code: \"NoSuchBucket\", message: \"The specified bucket does not exist\" }")
        };
        assert!(be
            .error(e(), "GET config", FileType::Config, "config")
            .is_not_found());
        let other = be.error(e(), "GET keys/x", FileType::Key, "x");
        assert!(!other.is_not_found() && !other.is_transient());
        assert!(other.to_string().contains("does not exist"), "{other}");
    }
}
