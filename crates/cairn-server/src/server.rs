//! Listening, connections and shutdown.

use crate::access_log::AccessLog;
use crate::auth::Htpasswd;
use crate::config::ServerConfig;
use crate::handler::{handle, State};
use crate::metrics::Metrics;
use crate::space::{tally, Space};
use crate::{tls, Error};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long in-flight requests may run after a shutdown request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A bound, ready server. Create it with [`Server::bind`], then
/// [`Server::run`] or [`Server::run_until`].
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Binds `listen`: `:PORT` means every interface (IPv6 and IPv4 if
/// possible, else IPv4), anything else is resolved as `host:port`.
pub(crate) async fn bind_listener(listen: &str) -> Result<TcpListener, Error> {
    let err = |source| Error::Listen {
        addr: listen.to_string(),
        source,
    };
    let candidates: Vec<SocketAddr> = if let Some(port) = listen.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| err(std::io::Error::other("invalid port")))?;
        vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0u8; 4], port)),
        ]
    } else {
        tokio::net::lookup_host(listen)
            .await
            .map_err(err)?
            .collect()
    };
    let mut last = std::io::Error::other("address resolved to nothing");
    for addr in candidates {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(err(last))
}

impl Server {
    /// Checks the settings, loads htpasswd, TLS material and the current
    /// disk usage (with `--max-size` or `--prometheus`), and binds the
    /// listen address (port 0 picks a free port; see [`Server::local_addr`]).
    pub async fn bind(config: ServerConfig) -> Result<Server, Error> {
        if !config.tls && (config.tls_cert.is_some() || config.tls_key.is_some()) {
            return Err(Error::Config(
                "--tls-cert and --tls-key require --tls".into(),
            ));
        }
        let htpasswd = if config.no_auth || config.proxy_auth_username.is_some() {
            None
        } else {
            let path = config.htpasswd_path();
            let h = Htpasswd::load(&path).map_err(|source| Error::Htpasswd { path, source })?;
            Some(h)
        };
        let used = if config.quota().is_some() || config.prometheus {
            let path = config.path.clone();
            tokio::task::spawn_blocking(move || tally(&path))
                .await
                .map_err(|e| Error::io("tallying repository size", std::io::Error::other(e)))?
                .map_err(|e| Error::io(format!("tallying {}", config.path.display()), e))?
        } else {
            0
        };
        let access_log = match &config.log {
            Some(spec) => Some(
                AccessLog::open(spec)
                    .map_err(|e| Error::io(format!("opening log file {spec}"), e))?,
            ),
            None => None,
        };
        let tls = if config.tls {
            let cert = config
                .tls_cert
                .clone()
                .unwrap_or_else(|| config.path.join("public_key"));
            let key = config
                .tls_key
                .clone()
                .unwrap_or_else(|| config.path.join("private_key"));
            Some(tls::acceptor(&cert, &key, config.tls_min_version)?)
        } else {
            None
        };
        let listener = bind_listener(&config.listen).await?;
        let state = State {
            space: Space::new(used, config.quota()),
            metrics: config.prometheus.then(Metrics::default),
            htpasswd,
            access_log,
            config,
        };
        Ok(Server {
            listener,
            state: Arc::new(state),
            tls,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Serves until the process is stopped.
    pub async fn run(self) -> Result<(), Error> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then stops accepting and lets
    /// in-flight requests finish (for at most 10 seconds).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new());
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        tokio::pin!(shutdown);
        #[cfg(unix)]
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| Error::io("installing SIGHUP handler", e))?;
        loop {
            #[cfg(unix)]
            let hup = hangup.recv();
            #[cfg(not(unix))]
            let hup = std::future::pending::<Option<()>>();
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                _ = hup => {
                    if let Some(h) = &self.state.htpasswd {
                        match h.reload() {
                            Ok(()) => eprintln!("Reloaded htpasswd file"),
                            Err(e) => eprintln!("Could not reload htpasswd file: {e}"),
                        }
                    }
                    continue;
                }
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off.
                        eprintln!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            self.spawn_connection(stream, peer, &builder, &graceful);
        }
        drop(self.listener);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            eprintln!("shutdown: in-flight requests did not finish in time");
        }
        Ok(())
    }

    fn spawn_connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        builder: &Arc<auto::Builder<TokioExecutor>>,
        graceful: &GracefulShutdown,
    ) {
        let _ = stream.set_nodelay(true);
        let state = self.state.clone();
        let service = hyper::service::service_fn(move |req| handle(state.clone(), peer, req));
        let builder = builder.clone();
        let debug = self.state.config.debug;
        match self.tls.clone() {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        if debug {
                            eprintln!("connection from {peer}: {e}");
                        }
                    }
                });
            }
            Some(acceptor) => {
                // The TLS handshake happens in the task; graceful shutdown
                // covers connections once their handshake is done.
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let tls = match acceptor.accept(stream).await {
                        Ok(s) => s,
                        Err(e) => {
                            if debug {
                                eprintln!("TLS handshake with {peer}: {e}");
                            }
                            return;
                        }
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(tls), service)
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        if debug {
                            eprintln!("connection from {peer}: {e}");
                        }
                    }
                });
            }
        }
    }
}
