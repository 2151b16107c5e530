//! Request handling: authentication, routing and the REST operations.
//!
//! Status codes follow rest-server: 401 for missing or wrong credentials
//! and for other users' repositories with `--private-repos`; 404 for
//! invalid paths and missing files; 403 for overwrites and, in append-only
//! mode, for deletes other than locks; 400 for a body that does not match
//! its name or ends early; 507 when the quota or the disk is full; 405 with
//! an `Allow` header for unsupported methods.

use crate::access_log::{AccessLog, Record};
use crate::auth::{basic_credentials, Htpasswd};
use crate::config::ServerConfig;
use crate::metrics::{Metrics, Operation};
use crate::range::{self, Selection};
use crate::route::{self, ObjectType, Target};
use crate::space::Space;
use crate::storage::{self, is_missing, Repo};
use crate::upload::{self, SaveError, Upload};
use bytes::Bytes;
use futures_util::TryStreamExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::io::{self, SeekFrom};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

/// Response body: small buffers or a streamed file.
pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

const V1: &str = "application/vnd.x.restic.rest.v1";
const V2: &str = "application/vnd.x.restic.rest.v2";
/// Read size when streaming files out.
const READ_CHUNK: usize = 64 * 1024;

/// Everything requests share.
pub(crate) struct State {
    pub config: ServerConfig,
    pub htpasswd: Option<Htpasswd>,
    pub space: Space,
    pub metrics: Option<Metrics>,
    pub access_log: Option<AccessLog>,
}

/// The service function: handles one request and logs it if asked to.
pub(crate) async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let time = std::time::SystemTime::now();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if state.config.debug {
        eprintln!("{} {}", req.method(), target);
    }
    let log_info = state.access_log.as_ref().map(|_| {
        let h = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        (
            format!("{} {} {:?}", req.method(), target, req.version()),
            h(header::REFERER),
            h(header::USER_AGENT),
        )
    });
    let is_head = req.method() == Method::HEAD;
    let method = req.method().clone();
    let (user, resp) = dispatch(&state, req).await;
    if let Some(m) = &state.metrics {
        m.record_request(method.as_str(), resp.status().as_u16());
    }
    if let (Some(log), Some((request_line, referer, user_agent))) = (&state.access_log, log_info) {
        let size = if is_head {
            0
        } else {
            resp.headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0)
        };
        log.write(&Record {
            peer: peer.ip(),
            user: user.as_deref(),
            time,
            request_line: &request_line,
            status: resp.status().as_u16(),
            size,
            referer: &referer,
            user_agent: &user_agent,
        });
    }
    Ok(resp)
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let body: Bytes = body.into();
    let mut resp = Response::new(
        Full::new(body.clone())
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    resp
}

/// A status with its reason as plain text, like Go's `http.Error`.
fn status(code: StatusCode) -> Response<Body> {
    let text = format!("{}\n", code.canonical_reason().unwrap_or(""));
    let mut resp = full(code, "text/plain; charset=utf-8", text);
    resp.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn unauthorized() -> Response<Body> {
    let mut resp = status(StatusCode::UNAUTHORIZED);
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"restic\""),
    );
    resp
}

fn method_not_allowed(allowed: &'static str) -> Response<Body> {
    let mut resp = status(StatusCode::METHOD_NOT_ALLOWED);
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    resp
}

fn empty_ok() -> Response<Body> {
    full(StatusCode::OK, "text/plain; charset=utf-8", Bytes::new())
}

/// 404 for missing files, 500 (logged) for everything else.
fn file_error(e: &io::Error) -> Response<Body> {
    if is_missing(e) {
        status(StatusCode::NOT_FOUND)
    } else {
        internal_error(e)
    }
}

fn internal_error(e: &dyn std::fmt::Display) -> Response<Body> {
    eprintln!("ERROR: {e}");
    status(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The user name, `""` without authentication, or `None` if refused.
async fn authenticate(state: &Arc<State>, headers: &hyper::HeaderMap) -> Option<String> {
    if state.config.no_auth {
        return Some(String::new());
    }
    if let Some(name) = &state.config.proxy_auth_username {
        let user = headers.get(name.as_str())?.to_str().ok()?;
        return (!user.is_empty()).then(|| user.to_string());
    }
    let (user, password) = basic_credentials(headers.get(header::AUTHORIZATION)?.as_bytes())?;
    let st = state.clone();
    let name = user.clone();
    let ok = tokio::task::spawn_blocking(move || {
        st.htpasswd
            .as_ref()
            .is_some_and(|h| h.validate(&name, &password))
    })
    .await
    .unwrap_or(false);
    ok.then_some(user)
}

/// Authenticates, routes and runs the request; returns the user for logs.
async fn dispatch(state: &Arc<State>, req: Request<Incoming>) -> (Option<String>, Response<Body>) {
    let path = req.uri().path().to_string();
    if path == "/metrics" {
        if let Some(metrics) = &state.metrics {
            return metrics_endpoint(state, metrics, req.headers()).await;
        }
    }
    let Some(user) = authenticate(state, req.headers()).await else {
        return (None, unauthorized());
    };
    let Ok(route) = route::parse(&path) else {
        if state.config.debug {
            eprintln!("Invalid request path: {path}");
        }
        return (Some(user), status(StatusCode::NOT_FOUND));
    };
    if state.config.private_repos && !state.config.no_auth && route.folder.first() != Some(&user) {
        return (Some(user), unauthorized());
    }
    let dir = route
        .folder
        .iter()
        .fold(state.config.path.clone(), |p, s| p.join(s));
    let ctx = Ctx {
        state,
        repo: Repo::new(dir, state.config.modes()),
        user: &user,
        folder: route.folder.join("/"),
    };
    let resp = ctx.run(route.target, req).await;
    (Some(user), resp)
}

async fn metrics_endpoint(
    state: &Arc<State>,
    metrics: &Metrics,
    headers: &hyper::HeaderMap,
) -> (Option<String>, Response<Body>) {
    let mut user = None;
    if !state.config.prometheus_no_auth {
        let Some(u) = authenticate(state, headers).await else {
            return (None, unauthorized());
        };
        if state.config.private_repos && !state.config.no_auth && u != "metrics" {
            return (Some(u), unauthorized());
        }
        user = Some(u);
    }
    let text = metrics.render(&state.space);
    let resp = full(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        text,
    );
    (user, resp)
}

/// One request against one repository.
struct Ctx<'a> {
    state: &'a State,
    repo: Repo,
    user: &'a str,
    folder: String,
}

impl Ctx<'_> {
    async fn run(&self, target: Target, req: Request<Incoming>) -> Response<Body> {
        let method = req.method().clone();
        match target {
            Target::Root => match method {
                Method::POST => self.create(req.uri().query()).await,
                _ => method_not_allowed("POST"),
            },
            Target::Config => match method {
                Method::HEAD => self.head(self.repo.config_path()).await,
                Method::GET => self.get(self.repo.config_path(), &req, None).await,
                Method::POST => self.save(self.repo.config_path(), None, req).await,
                Method::DELETE => {
                    if self.state.config.append_only {
                        return status(StatusCode::FORBIDDEN);
                    }
                    self.delete(self.repo.config_path(), None).await
                }
                _ => method_not_allowed("HEAD, GET, POST, DELETE"),
            },
            Target::List(tpe) => match method {
                Method::GET => self.list(tpe, &req).await,
                _ => method_not_allowed("GET"),
            },
            Target::Object(tpe, name) => {
                let path = self.repo.object_path(tpe, &name);
                match method {
                    Method::HEAD => self.head(path).await,
                    Method::GET => self.get(path, &req, Some(tpe)).await,
                    Method::POST => self.save(path, Some((tpe, &name)), req).await,
                    Method::DELETE => {
                        if self.state.config.append_only && tpe != ObjectType::Locks {
                            return status(StatusCode::FORBIDDEN);
                        }
                        self.delete(path, Some(tpe)).await
                    }
                    _ => method_not_allowed("HEAD, GET, POST, DELETE"),
                }
            }
            Target::Unknown => status(StatusCode::NOT_FOUND),
        }
    }

    fn record(&self, tpe: Option<ObjectType>, op: Operation, bytes: u64) {
        if let (Some(m), Some(t)) = (&self.state.metrics, tpe) {
            m.record(self.user, &self.folder, t, op, bytes);
        }
    }

    /// `POST /?create=true`.
    async fn create(&self, query: Option<&str>) -> Response<Body> {
        let create = query
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == "create")
            .map(|(_, v)| v);
        if create != Some("true") {
            return status(StatusCode::BAD_REQUEST);
        }
        match self.repo.create().await {
            Ok(()) => empty_ok(),
            Err(e) => internal_error(&e),
        }
    }

    /// `HEAD`: the size as `Content-Length`, no body.
    async fn head(&self, path: std::path::PathBuf) -> Response<Body> {
        match storage::file_size(path).await {
            Ok(size) => {
                let mut resp = Response::new(
                    Full::new(Bytes::new())
                        .map_err(|e| match e {})
                        .boxed_unsync(),
                );
                resp.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
                resp
            }
            Err(e) => file_error(&e),
        }
    }

    /// `GET`: the file or the requested range, streamed.
    async fn get(
        &self,
        path: std::path::PathBuf,
        req: &Request<Incoming>,
        tpe: Option<ObjectType>,
    ) -> Response<Body> {
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) => return file_error(&e),
        };
        let size = match file.metadata().await {
            Ok(md) if md.is_file() => md.len(),
            Ok(_) => return status(StatusCode::NOT_FOUND),
            Err(e) => return file_error(&e),
        };
        let range_header = req
            .headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok());
        let (code, start, len) = match range::select(range_header, size) {
            Selection::Full => (StatusCode::OK, 0, size),
            Selection::Partial { start, len } => (StatusCode::PARTIAL_CONTENT, start, len),
            Selection::Unsatisfiable => {
                let mut resp = status(StatusCode::RANGE_NOT_SATISFIABLE);
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return resp;
            }
        };
        if start > 0 {
            if let Err(e) = file.seek(SeekFrom::Start(start)).await {
                return internal_error(&e);
            }
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_CHUNK);
        let body = StreamBody::new(stream.map_ok(Frame::data)).boxed_unsync();
        let mut resp = Response::new(body);
        *resp.status_mut() = code;
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if code == StatusCode::PARTIAL_CONTENT {
            let range = format!("bytes {start}-{}/{size}", start + len - 1);
            if let Ok(v) = HeaderValue::from_str(&range) {
                headers.insert(header::CONTENT_RANGE, v);
            }
        }
        self.record(tpe, Operation::Read, len);
        resp
    }

    /// `POST`: a streamed, verified, create-only upload.
    async fn save(
        &self,
        path: std::path::PathBuf,
        object: Option<(ObjectType, &str)>,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let content_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let verify = !self.state.config.no_verify_upload;
        let up = Upload {
            target: path,
            expected_sha256: object.map(|(_, name)| name).filter(|_| verify),
            content_length,
            space: &self.state.space,
            modes: (self.repo.dir_mode(), self.repo.file_mode()),
        };
        match upload::save(up, req.into_body()).await {
            Ok(n) => {
                self.record(object.map(|(t, _)| t), Operation::Write, n);
                empty_ok()
            }
            Err(e) => {
                if self.state.config.debug {
                    eprintln!("upload refused: {e}");
                }
                match e {
                    SaveError::Exists => status(StatusCode::FORBIDDEN),
                    SaveError::Quota => status(StatusCode::INSUFFICIENT_STORAGE),
                    SaveError::HashMismatch | SaveError::Body(_) => status(StatusCode::BAD_REQUEST),
                    SaveError::Io(e)
                        if matches!(e.raw_os_error(), Some(28 /* ENOSPC */ | 122 /* EDQUOT */)) =>
                    {
                        status(StatusCode::INSUFFICIENT_STORAGE)
                    }
                    SaveError::Io(e) => internal_error(&e),
                }
            }
        }
    }

    /// `DELETE`: idempotent removal.
    async fn delete(&self, path: std::path::PathBuf, tpe: Option<ObjectType>) -> Response<Body> {
        match storage::remove(path).await {
            Ok(Some(size)) => {
                self.state.space.release(size);
                self.record(tpe, Operation::Delete, size);
                empty_ok()
            }
            Ok(None) => empty_ok(),
            Err(e) => file_error(&e),
        }
    }

    /// `GET /{type}/`: v2 (names and sizes) if asked for, else v1 (names).
    async fn list(&self, tpe: ObjectType, req: &Request<Incoming>) -> Response<Body> {
        let v2 = req
            .headers()
            .get(header::ACCEPT)
            .is_some_and(|v| v.as_bytes() == V2.as_bytes());
        let entries = match self.repo.list(tpe).await {
            Ok(e) => e,
            Err(e) => return file_error(&e),
        };
        let json = if v2 {
            serde_json::Value::Array(
                entries
                    .into_iter()
                    .map(|e| serde_json::json!({"name": e.name, "size": e.size}))
                    .collect(),
            )
        } else {
            serde_json::Value::Array(entries.into_iter().map(|e| e.name.into()).collect())
        };
        match serde_json::to_vec(&json) {
            Ok(body) => full(StatusCode::OK, if v2 { V2 } else { V1 }, body),
            Err(e) => internal_error(&e),
        }
    }
}
