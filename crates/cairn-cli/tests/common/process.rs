//! Helpers for tests that start processes of their own beside the
//! fixture's commands: a free port on 127.0.0.1, `cairn serve` started
//! and waited for, and incompressible test data.

use super::Tool;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
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
    let mut cmd = Command::new(Tool::Cairn.program());
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
