//! The REST client against a server that only speaks protocol v1: a
//! listing of bare names (`application/vnd.x.restic.rest.v1`) makes the
//! client ask each file's size with `HEAD`, as restic does. The server is
//! a few lines of HTTP/1.1 on 127.0.0.1 that record what they were asked.

use cairn_backend::{Backend, BackendOptions, FileType, Location, RestBackend, CONTENT_TYPE_V2};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Serves one request per connection; returns the address and the log of
/// request lines with their `Accept` header.
fn v1_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut accept = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_lowercase().strip_prefix("accept:") {
                    accept = v.trim().to_string();
                }
            }
            let request = request.trim().to_string();
            seen.lock().unwrap().push(format!("{request} [{accept}]"));
            let (status, ctype, body, length): (&str, &str, &str, usize) =
                match request.split(' ').take(2).collect::<Vec<_>>()[..] {
                    ["GET", "/keys/"] => (
                        "200 OK",
                        "application/vnd.x.restic.rest.v1",
                        r#"["aaa","bbb"]"#,
                        13,
                    ),
                    ["HEAD", "/keys/aaa"] => ("200 OK", "application/octet-stream", "", 3),
                    ["HEAD", "/keys/bbb"] => ("200 OK", "application/octet-stream", "", 5),
                    _ => ("404 Not Found", "text/plain", "", 0),
                };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n\
                 Connection: close\r\n\r\n{body}"
            );
            stream.write_all(answer.as_bytes()).unwrap();
        }
    });
    (port, log)
}

#[test]
fn a_v1_listing_is_completed_with_head_requests() {
    let (port, log) = v1_server();
    let loc = Location::parse(&format!("rest:http://127.0.0.1:{port}/")).unwrap();
    let Location::Rest(rest) = loc else {
        unreachable!()
    };
    let be = RestBackend::new(&rest, &BackendOptions::default(), 1).unwrap();
    let mut listed: Vec<_> = be
        .list(FileType::Key)
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.size))
        .collect();
    listed.sort();
    assert_eq!(listed, [("aaa".to_string(), 3), ("bbb".to_string(), 5)]);
    let log = log.lock().unwrap().clone();
    assert_eq!(log[0], format!("GET /keys/ HTTP/1.1 [{CONTENT_TYPE_V2}]"));
    let mut heads: Vec<_> = log[1..]
        .iter()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    heads.sort();
    assert_eq!(heads, ["HEAD /keys/aaa", "HEAD /keys/bbb"]);
    // A missing folder (404 from a server that is not rclone) is empty.
    assert!(be.list(FileType::Snapshot).unwrap().is_empty());
}
