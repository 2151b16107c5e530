//! A `moto_server` (an S3 emulator from PyPI, installed by
//! `scripts/install-deps.sh`) on a free port of 127.0.0.1, killed on drop.
//! Shared by the backend's S3 tests and the CLI's S3 interop tests.
//!
//! A missing `moto_server` fails the test loudly, unless `CAIRN_SKIP_S3=1`
//! is set: then [`Moto::start`] prints why and returns `None`.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The fake credentials every test uses; moto accepts anything unless
/// started with authentication.
pub const ACCESS_KEY: &str = "AKIACAIRNTESTKEY0001";
/// Must never appear in any message.
pub const SECRET_KEY: &str = "cairn-test-secret-do-not-print";

/// A running moto server.
pub struct Moto {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// A port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    /// Starts moto. With `require_auth`, it refuses every access key (it
    /// knows none), which is how the tests get refused credentials.
    pub fn start(require_auth: bool) -> Option<Moto> {
        if std::env::var("CAIRN_SKIP_S3").is_ok_and(|v| v == "1") {
            eprintln!("skipping: CAIRN_SKIP_S3=1 is set");
            return None;
        }
        let program = std::env::var("CAIRN_TEST_MOTO").unwrap_or_else(|_| "moto_server".into());
        let port = free_port();
        let mut cmd = Command::new(&program);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if require_auth {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run {program}: {e}. The S3 tests need moto \
                 (`pip install 'moto[server]'`, see scripts/install-deps.sh); \
                 set CAIRN_SKIP_S3=1 to skip them"
            )
        });
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("{program} exited early ({status})");
            }
            assert!(Instant::now() < deadline, "{program} did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(moto)
    }

    /// `s3:http://127.0.0.1:PORT/BUCKET/PREFIX`.
    pub fn repo(&self, bucket: &str, prefix: &str) -> String {
        format!("s3:http://127.0.0.1:{}/{bucket}/{prefix}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
