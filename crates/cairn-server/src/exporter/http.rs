//! The HTTP side: `/metrics` and a small index page.

use super::state::ExporterState;
use super::{ExporterOptions, Target};
use crate::Error;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The text format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A bound exporter; [`Exporter::run_until`] serves it.
pub struct Exporter {
    listener: TcpListener,
    state: Arc<ExporterState>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("local_addr", &self.listener.local_addr().ok())
            .finish()
    }
}

impl Exporter {
    /// Binds the listen address (port 0 picks a free port). Repositories
    /// are first read on the first scrape.
    pub async fn bind(options: ExporterOptions, targets: Vec<Target>) -> Result<Exporter, Error> {
        let listener = crate::server::bind_listener(&options.listen).await?;
        Ok(Exporter {
            listener,
            state: Arc::new(ExporterState::new(targets, options.interval)),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Serves until `shutdown` completes, then lets in-flight scrapes
    /// finish (for at most 10 seconds).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        tokio::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        eprintln!("cairn exporter: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let state = self.state.clone();
            let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
        drop(self.listener);
        let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
        Ok(())
    }
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

async fn handle(
    state: Arc<ExporterState>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n".into(),
        ));
    }
    Ok(match req.uri().path() {
        "/metrics" => {
            let body = tokio::task::spawn_blocking(move || state.scrape()).await;
            match body {
                Ok(body) => text(StatusCode::OK, CONTENT_TYPE, body),
                Err(_) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "refresh failed\n".into(),
                ),
            }
        }
        "/" => text(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<html><head><title>cairn exporter</title></head><body>\
             <h1>cairn exporter</h1><p><a href=\"/metrics\">Metrics</a></p>\
             </body></html>\n"
                .into(),
        ),
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    })
}
