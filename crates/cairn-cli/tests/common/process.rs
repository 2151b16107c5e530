//! Helpers for tests that start processes of their own beside the
//! fixture's commands: a free port on 127.0.0.1, `cairn serve` started
//! and waited for ([`CairnServer`]), incompressible test data, and the lines of a listing
//! too large to hold.
//!
//! Self-contained, so that `remote_support` (the remote-backend tests'
//! helpers, which do not load `common`) shares it:
//! `#[path = "../common/process.rs"] mod process;` there.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `cairn serve --path DIR --listen 127.0.0.1:PORT`, not yet started: the
/// caller adds its flags and standard streams, spawns it, then calls
/// [`wait_for_port`].
pub fn serve_command(dir: &Path, port: u16) -> Command {
    let mut cmd = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_cairn")));
    cmd.arg("serve")
        .arg("--path")
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    cmd
}

/// Waits (at most 20 s) until something accepts connections on
/// 127.0.0.1:`port`; `what` names it in the panic.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `cairn serve` on 127.0.0.1 (no authentication), killed on
/// drop. Its repositories live under [`CairnServer::dir`].
pub struct CairnServer {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl CairnServer {
    pub fn start() -> CairnServer {
        CairnServer::start_with(&[])
    }

    /// With `extra` flags after `--no-auth` (e.g. `--max-size N`).
    pub fn start_with(extra: &[&str]) -> CairnServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = serve_command(dir.path(), port)
            .arg("--no-auth")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, "cairn serve");
        CairnServer { child, port, dir }
    }

    /// The folder served.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for CairnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `len` bytes that do not compress: xorshift64 from `seed` (not 0), one
/// byte (the low one) of each step.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Reads a started child's piped stdout line by line without holding it
/// (a listing of a deep tree can be about 100 MB), then waits for the
/// child: the number of lines, the last one (with its newline) and the
/// child's output (its stderr, if piped; stdout already read).
pub fn count_stdout_lines(mut child: Child) -> (usize, Vec<u8>, Output) {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let (mut lines, mut line, mut last) = (0, Vec::new(), Vec::new());
    while reader.read_until(b'\n', &mut line).unwrap() > 0 {
        lines += 1;
        std::mem::swap(&mut last, &mut line);
        line.clear();
    }
    let out = child.wait_with_output().unwrap();
    (lines, last, out)
}
