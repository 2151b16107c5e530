//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, for tests of transfer
//! faults between a client and a REST server (`cairn serve`).
//!
//! Each request is forwarded on a fresh connection with `Connection:
//! close`, and the whole answer read before the client sees any of it.
//! Answers are counted; at every `every`-th one the next fault of a cycle
//! of three is due: the connection is dropped without an answer; the body
//! of a file read is cut to half (with a matching, lying
//! `Content-Length`); one byte of the body of a file read is flipped. A
//! fault that needs a file read waits for the next one. Listings, `HEAD`
//! and uploads are only ever dropped, never altered. Deterministic: the
//! same run of requests sees the same faults.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How many of each fault the proxy has injected.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub answers: AtomicU64,
    pub drops: AtomicU64,
    pub truncations: AtomicU64,
    pub corruptions: AtomicU64,
    /// The fault due: 0 none, 1 drop, 2 cut, 3 flip.
    due: AtomicU64,
}

/// A running proxy, stopped on drop.
pub struct FaultProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    counts: Arc<FaultCounts>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Forwards to 127.0.0.1:`upstream`, damaging every `every`-th answer.
    pub fn start(upstream: u16, every: u64) -> FaultProxy {
        assert!(every > 0);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(FaultCounts::default());
        let (stop2, counts2) = (stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let counts = counts2.clone();
                std::thread::spawn(move || {
                    let _ = relay(conn, upstream, every, &counts);
                });
            }
        });
        FaultProxy {
            port,
            stop,
            counts,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn counts(&self) -> &FaultCounts {
        &self.counts
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads a head (up to the blank line) and then `Content-Length` bytes of
/// body, or everything up to EOF when `to_eof`.
fn read_message(s: &mut TcpStream, to_eof: bool) -> io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut body = buf.split_off(head_end);
    if to_eof {
        s.read_to_end(&mut body)?;
    } else {
        let want = content_length(&head).unwrap_or(0);
        while body.len() < want {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Ok((head, body))
}

fn content_length(head: &str) -> Option<usize> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// `head` without its connection and length headers, with `extra` added.
fn rewrite_head(head: &str, extra: &[String]) -> String {
    let mut lines: Vec<String> = head
        .trim_end()
        .lines()
        .filter(|l| {
            let name = l
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            name != "connection"
                && name != "keep-alive"
                && !extra.iter().any(|e| {
                    e.split(':')
                        .next()
                        .unwrap_or("")
                        .eq_ignore_ascii_case(&name)
                })
        })
        .map(str::to_string)
        .collect();
    lines.extend(extra.iter().cloned());
    lines.push("Connection: close".into());
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

fn relay(mut client: TcpStream, upstream: u16, every: u64, counts: &FaultCounts) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (head, body) = read_message(&mut client, false)?;
    let mut request_line = head.lines().next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_string();
    let path = request_line.next().unwrap_or("").to_string();
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.set_read_timeout(Some(Duration::from_secs(30)))?;
    up.write_all(rewrite_head(&head, &[]).as_bytes())?;
    up.write_all(&body)?;
    let (rhead, mut rbody) = read_message(&mut up, true)?;
    let k = counts.answers.fetch_add(1, Ordering::Relaxed) + 1;
    let status_ok = rhead
        .split(' ')
        .nth(1)
        .is_some_and(|s| s == "200" || s == "206");
    // A file's contents: a GET of a path not ending in '/', with a length.
    let file_read = method == "GET"
        && status_ok
        && !path.split('?').next().unwrap_or("").ends_with('/')
        && content_length(&rhead) == Some(rbody.len())
        && rbody.len() > 1;
    let mut extra = Vec::new();
    if k.is_multiple_of(every) {
        counts.due.store((k / every) % 3 + 1, Ordering::Relaxed);
    }
    let due = counts.due.load(Ordering::Relaxed);
    let applies = due == 1 || (due > 1 && file_read);
    if applies
        && counts
            .due
            .compare_exchange(due, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        match due {
            1 => {
                counts.drops.fetch_add(1, Ordering::Relaxed);
                let _ = client.shutdown(Shutdown::Both);
                return Ok(());
            }
            2 => {
                counts.truncations.fetch_add(1, Ordering::Relaxed);
                rbody.truncate(rbody.len() / 2);
                extra.push(format!("Content-Length: {}", rbody.len()));
            }
            _ => {
                counts.corruptions.fetch_add(1, Ordering::Relaxed);
                let mid = rbody.len() / 2;
                rbody[mid] ^= 0x55;
            }
        }
    }
    client.write_all(rewrite_head(&rhead, &extra).as_bytes())?;
    client.write_all(&rbody)?;
    client.flush()?;
    let _ = client.shutdown(Shutdown::Write);
    Ok(())
}
