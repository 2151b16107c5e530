//! The REST client against a server that only speaks protocol v1 (old
//! rest-server releases): a listing is a JSON array of names, and the
//! client asks for each size with `HEAD`.
//!
//! The server here is a few lines of HTTP/1.1 over a socket, answering
//! exactly what a v1 rest-server answers for these requests whatever the
//! `Accept` header says.

use cairn_backend::{Backend, BackendOptions, FileInfo, FileType, Location, RestBackend};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Serves `GET /data/` as a v1 listing and `HEAD /data/NAME` with the
/// sizes in `files`; records every request line and `Accept` header.
fn serve_v1(files: &'static [(&'static str, u64)]) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let request = request.trim_end().to_string();
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if header.to_ascii_lowercase().starts_with("accept:") {
                            log.lock().unwrap().push(header.to_string());
                        }
                    }
                    log.lock().unwrap().push(request.clone());
                    let path = request.split(' ').nth(1).unwrap_or("");
                    let response = if request.starts_with("GET ") && path == "/data/" {
                        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
                        let body = serde_json::to_string(&names).unwrap();
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.x.restic.rest.v1\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    } else if let Some((_, size)) = request
                        .starts_with("HEAD ")
                        .then(|| files.iter().find(|(n, _)| path == format!("/data/{n}")))
                        .flatten()
                    {
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n")
                    } else {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
                    };
                    out.write_all(response.as_bytes()).unwrap();
                }
            });
        }
    });
    (format!("rest:http://{addr}/"), seen)
}

#[test]
fn a_v1_listing_is_completed_with_head_requests() {
    static FILES: &[(&str, u64)] = &[
        (
            "0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526272829",
            1234,
        ),
        (
            "ff0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526272829",
            99,
        ),
    ];
    let (url, seen) = serve_v1(FILES);
    let Location::Rest(loc) = Location::parse(&url).unwrap() else {
        panic!("not a REST location")
    };
    let be = RestBackend::new(&loc, &BackendOptions::default(), 2).unwrap();
    let mut listed = be.list(FileType::Pack).unwrap();
    listed.sort();
    let want: Vec<FileInfo> = FILES
        .iter()
        .map(|(n, s)| FileInfo {
            name: n.to_string(),
            size: *s,
        })
        .collect();
    assert_eq!(listed, want);
    let seen = seen.lock().unwrap();
    // The client asked for v2 first, then fell back to one HEAD per name.
    assert!(
        seen.iter()
            .any(|l| l.contains("application/vnd.x.restic.rest.v2")),
        "{seen:?}"
    );
    assert_eq!(seen.iter().filter(|l| l.starts_with("HEAD ")).count(), 2);
}
