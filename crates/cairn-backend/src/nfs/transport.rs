//! Blocking sockets under `nfs3_client`, and a bounded pool of them.
//!
//! `nfs3_client` is written against its own small async I/O traits and
//! needs no runtime. Cairn's backends are synchronous, so [`Stream`]
//! implements those traits with blocking reads and writes on a
//! `TcpStream` that has read and write timeouts: every future the client
//! builds is ready the first time it is polled, and [`block_on`] just
//! polls it (parking the thread in the impossible case that it is not).

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use nfs3_client::io::{AsyncRead, AsyncWrite};

/// Runs a future to completion on this thread.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// A TCP connection with timeouts, seen as `nfs3_client`'s async I/O.
#[derive(Debug)]
pub(crate) struct Stream(TcpStream);

/// A socket timeout shows as `WouldBlock` on Unix: call it what it is, so
/// that it counts as transient and reads as a timeout.
fn plain(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "the NFS server did not answer in time",
        )
    } else {
        e
    }
}

impl AsyncRead for Stream {
    fn async_read(&mut self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send {
        let r = match self.0.read(buf) {
            // The default `async_read_exact` would spin on a closed socket.
            Ok(0) if !buf.is_empty() => Err(plain(io::ErrorKind::UnexpectedEof.into())),
            other => other.map_err(plain),
        };
        std::future::ready(r)
    }

    fn async_read_exact(&mut self, buf: &mut [u8]) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(self.0.read_exact(buf).map_err(plain))
    }
}

impl AsyncWrite for Stream {
    fn async_write(&mut self, buf: &[u8]) -> impl Future<Output = io::Result<usize>> + Send {
        std::future::ready(self.0.write(buf).map_err(plain))
    }

    fn async_write_all(&mut self, buf: &[u8]) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(self.0.write_all(buf).map_err(plain))
    }
}

/// How to open connections to the server.
#[derive(Clone, Debug)]
pub(crate) struct Dialer {
    /// Longest wait for the TCP handshake.
    pub connect_timeout: Duration,
    /// Longest wait for one read or write on the socket.
    pub io_timeout: Duration,
    /// Connect from a port below 1024, as servers that export with the
    /// (Linux default) `secure` option demand. Needs root.
    pub privileged_port: bool,
}

impl Dialer {
    /// A connection to `addr`.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<Stream> {
        let tcp = if self.privileged_port {
            self.connect_from_privileged_port(addr)?
        } else {
            TcpStream::connect_timeout(&addr, self.connect_timeout)?
        };
        tcp.set_read_timeout(Some(self.io_timeout))?;
        tcp.set_write_timeout(Some(self.io_timeout))?;
        tcp.set_nodelay(true)?;
        Ok(Stream(tcp))
    }

    /// Binds a free local port in 600..1024 (below are well-known
    /// services), then connects.
    fn connect_from_privileged_port(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        use socket2::{Domain, Protocol, Socket, Type};
        let start = rand::random::<u16>() % 424;
        for i in 0..424u16 {
            let port = 600 + (start + i) % 424;
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            let local: SocketAddr = match addr {
                SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, port).into(),
                SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, port).into(),
            };
            match socket.bind(&local.into()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
            match socket.connect_timeout(&addr.into(), self.connect_timeout) {
                Ok(()) => return Ok(socket.into()),
                // The same local port may still be in TIME_WAIT to `addr`.
                Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free local port below 1024 (set -o nfs.privport=false if the export is `insecure`)",
        ))
    }
}

/// A bounded set of connections to the NFS service: at most `max` exist
/// at once; a caller waits for a free one.
pub(crate) struct Pool<C> {
    state: Mutex<PoolState<C>>,
    freed: Condvar,
    max: usize,
}

struct PoolState<C> {
    idle: Vec<C>,
    open: usize,
}

/// What [`Pool::take`] hands out: an idle connection, or the right to
/// open a new one.
pub(crate) enum Slot<C> {
    Idle(C),
    New,
}

impl<C> Pool<C> {
    pub fn new(max: usize) -> Self {
        Pool {
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            max: max.max(1),
        }
    }

    /// Waits until a connection is idle or another may be opened. After
    /// `New`, the caller must [`Pool::put`] or [`Pool::discard`] once.
    pub fn take(&self) -> Slot<C> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(c) = s.idle.pop() {
                return Slot::Idle(c);
            }
            if s.open < self.max {
                s.open += 1;
                return Slot::New;
            }
            s = self.freed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Gives back a connection that is fit for the next call.
    pub fn put(&self, c: C) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.idle.push(c);
        self.freed.notify_one();
    }

    /// Forgets a connection that broke (or was never opened).
    pub fn discard(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.open -= 1;
        self.freed.notify_one();
    }

    /// Drops every idle connection (after the server restarted).
    pub fn clear_idle(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let n = s.idle.len();
        s.idle.clear();
        s.open -= n;
        self.freed.notify_all();
    }

    /// Connections open now (idle or in use).
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.state.lock().unwrap().open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_never_opens_more_than_its_bound() {
        let pool = Arc::new(Pool::<u32>::new(2));
        assert!(matches!(pool.take(), Slot::New));
        assert!(matches!(pool.take(), Slot::New));
        assert_eq!(pool.open(), 2);
        let p = pool.clone();
        let waiter = std::thread::spawn(move || match p.take() {
            Slot::Idle(c) => c,
            Slot::New => panic!("a third connection was opened"),
        });
        std::thread::sleep(Duration::from_millis(50));
        pool.put(7);
        assert_eq!(waiter.join().unwrap(), 7);
        pool.discard();
        assert_eq!(pool.open(), 1);
        pool.put(8);
        pool.clear_idle();
        assert_eq!(pool.open(), 0);
    }

    #[test]
    fn block_on_runs_ready_futures() {
        assert_eq!(block_on(async { 40 + 2 }), 42);
    }
}
