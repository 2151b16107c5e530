//! A client for rest-server's HTTP protocol (also spoken by
//! `rclone serve restic`).
//!
//! The protocol, in short: the repository is a URL ending in `/`; files
//! are `config`, `keys/<name>`, `locks/<name>`, `snapshots/<name>`,
//! `index/<name>` and `data/<name>` (no prefix folders) under it.
//! `POST ?create=true` creates the repository, `GET type/` lists a folder
//! (protocol v2, asked for with an `Accept` header, returns names with
//! sizes; v1 returns names only and every file is then asked for its size
//! with `HEAD`), `HEAD` gives the size, `GET` with an optional `Range`
//! reads, `POST` with the body stores, `DELETE` removes. Servers refuse
//! to overwrite a file (HTTP 403) and store a file only once it has
//! arrived whole; the client reports success only on HTTP 200.

use crate::http_util::{check_name, what};
use crate::{Backend, BackendError, FileInfo, FileType, Result};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RANGE, SERVER};
use http::{request, Method, StatusCode};
#[cfg(feature = "rest")]
use {
    crate::http_util::{cacert_roots, chain},
    crate::location::RestLocation,
    crate::runtime::{outside_runtime, ClientRuntime},
    crate::{BackendOptions, DEFAULT_REQUEST_TIMEOUT},
    reqwest::Client,
    std::time::Duration,
};

/// An HTTP answer with its whole body.
pub(crate) type Response = http::Response<Vec<u8>>;

/// How requests reach the server: reqwest over TCP (and TLS) for
/// rest-servers, HTTP/2 over a child's pipes for rclone.
pub(crate) trait Transport: Send + Sync {
    /// Sends one request and reads the whole answer. Failures to get an
    /// answer are errors (`context` names the request), HTTP statuses not.
    fn send(&self, request: http::Request<Vec<u8>>, context: &str) -> Result<Response>;
}

/// reqwest's async client, driven by a runtime of its own (so that its
/// timers, the stuck-request watchdog's included, run); callers block on
/// each request (see [`ClientRuntime`]).
#[cfg(feature = "rest")]
struct ReqwestTransport {
    client: Client,
    runtime: ClientRuntime,
}

#[cfg(feature = "rest")]
impl Transport for ReqwestTransport {
    fn send(&self, request: http::Request<Vec<u8>>, context: &str) -> Result<Response> {
        self.runtime.block_on(self.send_async(request, context))
    }
}

#[cfg(feature = "rest")]
impl ReqwestTransport {
    async fn send_async(&self, request: http::Request<Vec<u8>>, context: &str) -> Result<Response> {
        let head = request.method() == Method::HEAD;
        let request = reqwest::Request::try_from(request)
            .map_err(|e| BackendError::transient(context, chain(&e.without_url())))?;
        // The URL is in the context already (and never has credentials).
        let resp = self
            .client
            .execute(request)
            .await
            .map_err(|e| BackendError::transient(context, chain(&e.without_url())))?;
        let mut answer = http::Response::builder().status(resp.status());
        for (name, value) in resp.headers() {
            answer = answer.header(name, value);
        }
        // A HEAD answer has no body, whatever its Content-Length says
        // (over HTTP/2, reading one is an error).
        let body = if head {
            Vec::new()
        } else {
            resp.bytes()
                .await
                .map_err(|e| BackendError::transient(context, chain(&e.without_url())))?
                .to_vec()
        };
        answer
            .body(body)
            .map_err(|e| BackendError::transient(context, e.to_string()))
    }
}

/// Content type of protocol v1 listings (names only).
pub const CONTENT_TYPE_V1: &str = "application/vnd.x.restic.rest.v1";
/// Content type of protocol v2 listings (names and sizes).
pub const CONTENT_TYPE_V2: &str = "application/vnd.x.restic.rest.v2";

/// A repository on a rest-server.
pub struct RestBackend {
    base: url::Url,
    display: String,
    /// `Authorization` header value, when the location has credentials.
    auth: Option<String>,
    transport: Box<dyn Transport>,
}

impl std::fmt::Debug for RestBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestBackend")
            .field("location", &self.display)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct ListEntry {
    name: String,
    size: u64,
}

impl RestBackend {
    /// A client for the server at `location`, keeping at most
    /// `connections` idle connections. Fails on unreadable `--cacert` or
    /// `--tls-client-cert` files; nothing is sent yet.
    #[cfg(feature = "rest")]
    pub fn new(location: &RestLocation, opts: &BackendOptions, connections: usize) -> Result<Self> {
        let base = url::Url::parse(&location.url)
            .map_err(|e| BackendError::InvalidLocation(format!("invalid REST URL: {e}")))?;
        let mut builder = Client::builder()
            .use_rustls_tls()
            .user_agent(opts.user_agent())
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT))
            .pool_max_idle_per_host(connections.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(30));
        // A request that receives nothing for `stuck_request_timeout`
        // fails (as a transient error, so it is retried), as restic's
        // watchdog does.
        if let Some(stuck) = opts.stuck_request_timeout {
            builder = builder.read_timeout(stuck);
        }
        if !opts.cacerts.is_empty() {
            // As restic: the given roots replace the system's.
            builder = builder.tls_built_in_root_certs(false);
            for c in cacert_roots(opts)? {
                builder = builder.add_root_certificate(c);
            }
        }
        if opts.insecure_tls {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(path) = &opts.tls_client_cert {
            let pem = std::fs::read(path).map_err(|e| {
                BackendError::io(format!("--tls-client-cert {}", path.display()), e)
            })?;
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                BackendError::InvalidOption(format!(
                    "--tls-client-cert {}: need a PEM certificate and private key: {e}",
                    path.display()
                ))
            })?;
            builder = builder.identity(id);
        }
        let client = outside_runtime(move || builder.build()).map_err(|e| {
            BackendError::InvalidOption(format!("cannot set up the HTTP client: {}", chain(&e)))
        })?;
        let auth = match (&location.username, &location.password) {
            (None, None) => None,
            (u, p) => {
                use base64::Engine;
                let pair = format!(
                    "{}:{}",
                    u.as_deref().unwrap_or(""),
                    p.as_deref().unwrap_or("")
                );
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
        };
        Ok(RestBackend {
            base,
            display: format!("rest:{}", location.display_url()),
            auth,
            transport: Box::new(ReqwestTransport {
                client,
                runtime: ClientRuntime::with_workers("cairn-rest", 2)?,
            }),
        })
    }

    /// A client for the server at `base` reached through `transport`,
    /// named `display` in messages.
    #[cfg(feature = "rclone")]
    pub(crate) fn with_transport(
        base: url::Url,
        display: String,
        transport: Box<dyn Transport>,
    ) -> Self {
        RestBackend {
            base,
            display,
            auth: None,
            transport,
        }
    }

    fn url(&self, file_type: FileType, name: &str) -> Result<url::Url> {
        let rel = match file_type {
            FileType::Config => "config".to_string(),
            t => {
                check_name(name)?;
                format!("{}/{name}", t.dir_name())
            }
        };
        self.base
            .join(&rel)
            .map_err(|_| BackendError::InvalidName(name.to_string()))
    }

    fn request(&self, method: Method, url: url::Url) -> request::Builder {
        let req = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header(ACCEPT, CONTENT_TYPE_V2);
        match &self.auth {
            None => req,
            Some(auth) => req.header(AUTHORIZATION, auth),
        }
    }

    /// Sends a request with `body`; transport failures are transient.
    fn send(&self, req: request::Builder, body: Vec<u8>, what: &str) -> Result<Response> {
        let context = format!("{} {what}", self.display);
        let req = req
            .body(body)
            .map_err(|e| BackendError::transient(context.clone(), e.to_string()))?;
        self.transport.send(req, &context)
    }

    /// Maps a non-success status to an error.
    fn status_error(
        &self,
        status: StatusCode,
        file_type: FileType,
        name: &str,
        what: &str,
    ) -> BackendError {
        match status.as_u16() {
            404 => BackendError::NotFound {
                file_type,
                name: name.to_string(),
            },
            code @ 401 => BackendError::Auth {
                location: self.display.clone(),
                status: code,
            },
            code => BackendError::Http {
                status: code,
                context: format!("{} {what}", self.display),
            },
        }
    }

    fn list_names_v1(&self, file_type: FileType, body: &[u8], what: &str) -> Result<Vec<FileInfo>> {
        let names: Vec<String> = serde_json::from_slice(body).map_err(|e| BackendError::Http {
            status: 200,
            context: format!("{} {what}: bad listing: {e}", self.display),
        })?;
        names
            .into_iter()
            .map(|name| self.stat(file_type, &name))
            .collect()
    }
}

impl Backend for RestBackend {
    fn location(&self) -> String {
        self.display.clone()
    }

    fn create(&self) -> Result<()> {
        BackendError::refuse_existing_config(self.stat(FileType::Config, "config"), &self.display)?;
        let mut url = self.base.clone();
        url.query_pairs_mut().append_pair("create", "true");
        let req = self
            .request(Method::POST, url)
            .header(CONTENT_TYPE, "application/octet-stream");
        let resp = self.send(req, Vec::new(), "POST ?create=true")?;
        let status = resp.status();
        if status != StatusCode::OK {
            return Err(self.status_error(status, FileType::Config, "config", "POST ?create=true"));
        }
        Ok(())
    }

    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>> {
        if file_type == FileType::Config {
            return match self.stat(FileType::Config, "config") {
                Ok(fi) => Ok(vec![fi]),
                Err(e) if e.is_not_found() => Ok(vec![]),
                Err(e) => Err(e),
            };
        }
        let what = format!("GET {}/", file_type.dir_name());
        let url = self
            .base
            .join(&format!("{}/", file_type.dir_name()))
            .expect("folder names are valid URL paths");
        let resp = self.send(self.request(Method::GET, url), Vec::new(), &what)?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            // A missing folder is empty, except that rclone also answers
            // 404 for some internal errors (it has no missing folders).
            let rclone = resp
                .headers()
                .get(SERVER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|s| s.starts_with("rclone/"));
            if !rclone {
                return Ok(vec![]);
            }
        }
        match status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => return Err(self.status_error(status, file_type, "", &what)),
            other => {
                return Err(BackendError::Http {
                    status: other.as_u16(),
                    context: format!("{} {what}", self.display),
                })
            }
        }
        let v2 = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with(CONTENT_TYPE_V2));
        let body = resp.into_body();
        if !v2 {
            return self.list_names_v1(file_type, &body, &what);
        }
        let entries: Vec<ListEntry> =
            serde_json::from_slice(&body).map_err(|e| BackendError::Http {
                status: 200,
                context: format!("{} {what}: bad listing: {e}", self.display),
            })?;
        Ok(entries
            .into_iter()
            .map(|e| FileInfo {
                name: e.name,
                size: e.size,
            })
            .collect())
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        let what = what("GET", file_type, name);
        let req = self.request(Method::GET, self.url(file_type, name)?);
        let resp = self.send(req, Vec::new(), &what)?;
        let status = resp.status();
        if status != StatusCode::OK {
            return Err(self.status_error(status, file_type, name, &what));
        }
        Ok(resp.into_body())
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        if length == 0 {
            self.stat(file_type, name)?;
            return Ok(Vec::new());
        }
        let what = what("GET", file_type, name);
        let end = offset.saturating_add(length - 1);
        let req = self
            .request(Method::GET, self.url(file_type, name)?)
            .header(RANGE, format!("bytes={offset}-{end}"));
        let resp = self.send(req, Vec::new(), &what)?;
        let status = resp.status();
        let short = |got: u64| BackendError::ShortRead {
            file_type,
            name: name.to_string(),
            offset,
            wanted: length,
            got,
        };
        let mut data = match status {
            StatusCode::PARTIAL_CONTENT => resp.into_body(),
            // The server ignored the range: cut it out of the whole file.
            StatusCode::OK => {
                let all = resp.into_body();
                let start = (offset.min(all.len() as u64)) as usize;
                all[start..].to_vec()
            }
            StatusCode::RANGE_NOT_SATISFIABLE => return Err(short(0)),
            other => return Err(self.status_error(other, file_type, name, &what)),
        };
        if (data.len() as u64) < length {
            return Err(short(data.len() as u64));
        }
        data.truncate(length as usize);
        Ok(data)
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        let what = what("POST", file_type, name);
        let req = self
            .request(Method::POST, self.url(file_type, name)?)
            .header(CONTENT_TYPE, "application/octet-stream");
        let resp = self.send(req, data.to_vec(), &what)?;
        let status = resp.status();
        match status {
            StatusCode::OK => Ok(()),
            StatusCode::FORBIDDEN => Err(BackendError::AlreadyExists {
                what: format!(
                    "{} {what} refused (HTTP 403: the file exists or the server is append-only)",
                    self.display
                ),
            }),
            other => Err(self.status_error(other, file_type, name, &what)),
        }
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        let what = what("DELETE", file_type, name);
        let req = self.request(Method::DELETE, self.url(file_type, name)?);
        let resp = self.send(req, Vec::new(), &what)?;
        let status = resp.status();
        if status != StatusCode::OK {
            return Err(self.status_error(status, file_type, name, &what));
        }
        Ok(())
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        let what = what("HEAD", file_type, name);
        let req = self.request(Method::HEAD, self.url(file_type, name)?);
        let resp = self.send(req, Vec::new(), &what)?;
        let status = resp.status();
        if status != StatusCode::OK {
            return Err(self.status_error(status, file_type, name, &what));
        }
        let size = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| BackendError::Http {
                status: 200,
                context: format!("{} {what}: no Content-Length", self.display),
            })?;
        Ok(FileInfo {
            name: if file_type == FileType::Config {
                "config".into()
            } else {
                name.to_string()
            },
            size,
        })
    }

    fn has_atomic_replace(&self) -> bool {
        // rest-server refuses to overwrite: a retried upload must remove
        // what an earlier attempt may have stored.
        false
    }
}

#[cfg(all(test, feature = "rest"))]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_rest_layout() {
        let loc = RestLocation {
            url: "http://127.0.0.1:1/base/".into(),
            username: Some("u".into()),
            password: Some("secret".into()),
        };
        let be = RestBackend::new(&loc, &BackendOptions::default(), 2).unwrap();
        assert_eq!(be.location(), "rest:http://u:***@127.0.0.1:1/base/");
        assert!(!format!("{be:?}").contains("secret"));
        assert_eq!(
            be.url(FileType::Pack, "abcd").unwrap().as_str(),
            "http://127.0.0.1:1/base/data/abcd"
        );
        assert_eq!(
            be.url(FileType::Config, "").unwrap().as_str(),
            "http://127.0.0.1:1/base/config"
        );
        assert!(be.url(FileType::Key, "../x").is_err());
        assert!(be.url(FileType::Key, "a?b").is_err());
    }

    #[test]
    fn a_refused_connection_is_transient_and_names_no_password() {
        // Port 1 on loopback: nothing listens there.
        let loc = RestLocation {
            url: "http://127.0.0.1:1/".into(),
            username: Some("u".into()),
            password: Some("secret".into()),
        };
        let be = RestBackend::new(&loc, &BackendOptions::default(), 2).unwrap();
        let e = be.read(FileType::Config, "config").unwrap_err();
        assert!(e.is_transient(), "{e}");
        let text = e.to_string();
        assert!(!text.contains("secret") && !text.contains('\n'), "{text}");
    }

    #[test]
    fn bad_certificate_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let loc = RestLocation {
            url: "https://localhost/".into(),
            username: None,
            password: None,
        };
        let opts = BackendOptions {
            cacerts: vec![bad.clone()],
            ..BackendOptions::default()
        };
        assert!(RestBackend::new(&loc, &opts, 1).is_err());
        let opts = BackendOptions {
            tls_client_cert: Some(bad),
            ..BackendOptions::default()
        };
        assert!(RestBackend::new(&loc, &opts, 1).is_err());
        let opts = BackendOptions {
            cacerts: vec![dir.path().join("missing.pem")],
            ..BackendOptions::default()
        };
        assert!(RestBackend::new(&loc, &opts, 1).is_err());
    }
}
