//! Shared test helpers: an in-process server, the restic client, a minimal
//! raw HTTP/1.1 client and test data.
#![allow(dead_code)]

use base64::Engine as _;
use sha2::Digest as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "correct horse battery staple";

/// A server running on its own runtime in a background thread.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on a free loopback port.
    pub fn start(mut config: cairn_server::ServerConfig) -> TestServer {
        config.listen = "127.0.0.1:0".into();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = match cairn_server::Server::bind(config).await {
                    Ok(s) => s,
                    Err(e) => {
                        addr_tx.send(Err(e.to_string())).unwrap();
                        return;
                    }
                };
                addr_tx.send(Ok(server.local_addr())).unwrap();
                server
                    .run_until(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap().expect("server failed to start");
        TestServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `rest:http://[user:pass@]addr/path`.
    pub fn url(&self, creds: Option<(&str, &str)>, path: &str) -> String {
        let creds = creds.map(|(u, p)| format!("{u}:{p}@")).unwrap_or_default();
        format!("rest:http://{creds}{}/{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The restic 0.14 binary; tests fail clearly without it.
pub fn restic_bin() -> PathBuf {
    let p = std::env::var_os("RESTIC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/restic"));
    assert!(
        p.exists(),
        "restic client not found at {} (install Debian's restic or set RESTIC_BIN)",
        p.display()
    );
    p
}

/// Runs restic against `repo` with a deadline; returns its output.
pub fn restic(repo: &str, args: &[&str], extra: &[&str]) -> Output {
    let mut cmd = Command::new(restic_bin());
    cmd.arg("-r")
        .arg(repo)
        .arg("--no-cache")
        .args(extra)
        .args(args)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_PASSWORD_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawning restic");
    wait_with_deadline(child, Duration::from_secs(180))
}

fn wait_with_deadline(mut child: std::process::Child, limit: Duration) -> Output {
    let start = Instant::now();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("restic did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// Runs restic and panics with its output unless it succeeds.
pub fn restic_ok(repo: &str, args: &[&str], extra: &[&str]) -> String {
    let out = restic(repo, args, extra);
    assert!(
        out.status.success(),
        "restic {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deterministic pseudo-random bytes.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// A source tree of a few MiB with multi-chunk files and duplicates.
pub fn make_source(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    let big = random_bytes(1, 3 * 1024 * 1024 + 12345);
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    std::fs::write(dir.join("sub/mid.bin"), random_bytes(2, 1536 * 1024)).unwrap();
    std::fs::write(dir.join("sub/deeper/dup.bin"), &big[..2 * 1024 * 1024]).unwrap();
    for i in 0..20 {
        std::fs::write(
            dir.join(format!("sub/small{i}.txt")),
            format!("file {i}\n").repeat(i * 10),
        )
        .unwrap();
    }
    std::fs::write(dir.join("empty"), b"").unwrap();
}

/// Every regular file below `dir` (relative path → content).
pub fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Relative paths of every file and folder below `dir`.
pub fn paths(dir: &Path) -> std::collections::BTreeSet<PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(dir).unwrap().to_path_buf());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// An htpasswd file with a bcrypt and a `{SHA}` entry per user given.
pub fn write_htpasswd(path: &Path, bcrypt_users: &[(&str, &str)], sha_users: &[(&str, &str)]) {
    let mut text = String::from("# test users\n");
    for (u, p) in bcrypt_users {
        text += &format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap());
    }
    for (u, p) in sha_users {
        use sha1::Digest as _;
        let d = sha1::Sha1::digest(p.as_bytes());
        text += &format!(
            "{u}:{{SHA}}{}\n",
            base64::engine::general_purpose::STANDARD.encode(d)
        );
    }
    std::fs::write(path, text).unwrap();
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `Authorization` header value for Basic credentials.
pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Sends one HTTP/1.1 request verbatim (the path is not normalised or
/// escaped) and reads the response until the server closes.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    if let Some(b) = body {
        head += &format!("Content-Length: {}\r\n", b.len());
    }
    head += "\r\n";
    let _ = s.write_all(head.as_bytes());
    if let Some(b) = body {
        let _ = s.write_all(b);
    }
    read_response(&mut s, method == "HEAD")
}

/// Reads a response (Connection: close) from `s`.
pub fn read_response(s: &mut TcpStream, head: bool) -> Resp {
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if raw.is_empty() => panic!("reading response: {e}"),
            Err(_) => break,
        }
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if head {
        body.clear();
    } else if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..nl]).unwrap().trim();
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}
