//! Raw HTTP against the server: protocol details, refused paths and
//! uploads, quota, interrupted uploads, and many parallel uploads.

mod common;

use cairn_server::ServerConfig;
use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

fn no_auth(path: &Path) -> ServerConfig {
    let mut c = ServerConfig::with_path(path);
    c.no_auth = true;
    c
}

/// Waits until `cond` holds (the server finishes cleanup asynchronously).
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn protocol_v1_v2_range_head_and_status_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start(no_auth(&data));
    let a = server.addr;

    assert_eq!(
        http(a, "POST", "/r/", &[], None).status,
        400,
        "create needs ?create=true"
    );
    assert_eq!(http(a, "POST", "/r/?create=true", &[], None).status, 200);
    assert!(data.join("r/data/00").is_dir() && data.join("r/locks").is_dir());
    assert_eq!(http(a, "HEAD", "/r/config", &[], None).status, 404);
    assert_eq!(http(a, "POST", "/r/config", &[], Some(b"cfg")).status, 200);
    assert_eq!(
        http(a, "POST", "/r/config", &[], Some(b"other")).status,
        403,
        "config overwrite"
    );
    let head = http(a, "HEAD", "/r/config", &[], None);
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("3"))
    );
    assert_eq!(http(a, "GET", "/r/config", &[], None).body, b"cfg");

    let blob = random_bytes(7, 100_000);
    let id = sha256_hex(&blob);
    let path = format!("/r/data/{id}");
    assert_eq!(http(a, "POST", &path, &[], Some(&blob)).status, 200);
    assert!(data.join("r/data").join(&id[..2]).join(&id).is_file());
    assert_eq!(
        http(a, "POST", &path, &[], Some(&blob)).status,
        403,
        "overwrite"
    );
    let head = http(a, "HEAD", &path, &[], None);
    assert_eq!(head.header("content-length"), Some("100000"));
    let full = http(a, "GET", &path, &[], None);
    assert_eq!((full.status, full.body == blob), (200, true));
    let part = http(a, "GET", &path, &[("Range", "bytes=10-19")], None);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &blob[10..20]);
    assert_eq!(part.header("content-range"), Some("bytes 10-19/100000"));
    let tail = http(a, "GET", &path, &[("Range", "bytes=99990-")], None);
    assert_eq!((tail.status, &tail.body[..]), (206, &blob[99_990..]));
    let bad = http(a, "GET", &path, &[("Range", "bytes=100000-")], None);
    assert_eq!(bad.status, 416);

    let key = b"a key".to_vec();
    let kid = sha256_hex(&key);
    assert_eq!(
        http(a, "POST", &format!("/r/keys/{kid}"), &[], Some(&key)).status,
        200
    );

    let v1 = http(a, "GET", "/r/data/", &[], None);
    assert_eq!(
        v1.header("content-type"),
        Some("application/vnd.x.restic.rest.v1")
    );
    assert_eq!(
        serde_json::from_slice::<Vec<String>>(&v1.body).unwrap(),
        vec![id.clone()]
    );
    let v2 = http(
        a,
        "GET",
        "/r/keys/",
        &[("Accept", "application/vnd.x.restic.rest.v2")],
        None,
    );
    assert_eq!(
        v2.header("content-type"),
        Some("application/vnd.x.restic.rest.v2")
    );
    let listed: serde_json::Value = serde_json::from_slice(&v2.body).unwrap();
    assert_eq!(listed, serde_json::json!([{"name": kid, "size": 5}]));
    assert_eq!(http(a, "GET", "/r/snapshots/", &[], None).body, b"[]");
    assert_eq!(http(a, "GET", "/nothere/keys/", &[], None).status, 404);

    let put = http(a, "PUT", "/r/config", &[], Some(b"x"));
    assert_eq!(
        (put.status, put.header("allow")),
        (405, Some("HEAD, GET, POST, DELETE"))
    );
    assert_eq!(http(a, "DELETE", "/r/data/", &[], None).status, 405);
    assert_eq!(http(a, "GET", "/r/data", &[], None).status, 404);
    // `/r/other/` is the root of a nested repository, as in rest-server.
    assert_eq!(http(a, "GET", "/r/other/", &[], None).status, 405);
    assert_eq!(http(a, "GET", "/r/other/x", &[], None).status, 404);

    assert_eq!(http(a, "DELETE", &path, &[], None).status, 200);
    assert_eq!(
        http(a, "DELETE", &path, &[], None).status,
        200,
        "deletes are idempotent"
    );
    assert_eq!(http(a, "GET", &path, &[], None).status, 404);
    assert_eq!(http(a, "DELETE", "/r/config", &[], None).status, 200);
    assert!(!data.join("r/config").exists());

    // Nested repositories, at most two levels.
    assert_eq!(http(a, "POST", "/x/y/?create=true", &[], None).status, 200);
    assert!(data.join("x/y/keys").is_dir());
    assert_eq!(
        http(a, "POST", "/x/y/z/?create=true", &[], None).status,
        404
    );
}

#[test]
fn authentication_required_unless_disabled() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // Without an htpasswd file and without --no-auth the server refuses to start.
    let err = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(cairn_server::Server::bind(ServerConfig::with_path(&data)))
        .unwrap_err();
    assert!(err.to_string().contains("--no-auth"), "{err}");

    let htpasswd = tmp.path().join("users");
    write_htpasswd(&htpasswd, &[("bc", "one")], &[("sh", "two")]);
    let mut config = ServerConfig::with_path(&data);
    config.htpasswd_file = Some(htpasswd);
    let server = TestServer::start(config);
    let a = server.addr;
    let resp = http(a, "POST", "/?create=true", &[], None);
    assert_eq!(resp.status, 401);
    assert!(resp.header("www-authenticate").is_some());
    assert!(!data.join("keys").exists());
    for (u, p, ok) in [
        ("bc", "one", true),
        ("sh", "two", true),
        ("bc", "two", false),
        ("nobody", "one", false),
    ] {
        let h = basic(u, p);
        let status = http(a, "POST", "/?create=true", &[("Authorization", &h)], None).status;
        assert_eq!(status, if ok { 200 } else { 401 }, "{u}:{p}");
    }
    assert_eq!(
        http(
            a,
            "GET",
            "/metrics",
            &[("Authorization", &basic("bc", "one"))],
            None
        )
        .status,
        404
    );
}

#[test]
fn path_traversal_is_refused_and_nothing_outside_is_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("keys")).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(outside.join("config"), b"SECRET").unwrap();
    std::fs::write(data.join(".htpasswd"), b"u:{SHA}x\n").unwrap();
    let before = tree(tmp.path());
    let server = TestServer::start(no_auth(&data));
    let a = server.addr;
    let body = b"payload";
    let id = sha256_hex(body);
    let paths = [
        "/../outside/config".to_string(),
        "/%2e%2e/outside/config".into(),
        "/%2E%2E/outside/config".into(),
        "/..%2foutside/config".into(),
        "/%2e%2e%2foutside%2fconfig".into(),
        "/..%5coutside/config".into(),
        "/..\\outside/config".into(),
        "/a/../../outside/config".into(),
        "/a/%2e%2e/%2e%2e/outside/config".into(),
        "/./config".into(),
        "//outside/config".into(),
        "/%00/config".into(),
        "/.htpasswd/config".into(),
        "/.htpasswd".into(),
        format!("/%2e%2e/outside/keys/{id}"),
        format!("/../outside/keys/{id}"),
        format!("/keys/../../outside/keys/{id}"),
        format!("/keys/%2e%2e%2f%2e%2e%2foutside%2fkeys%2f{id}"),
        "/keys/..%2f..%2foutside%2fconfig".into(),
        format!("/keys/{}", id.to_uppercase()),
        "/keys/short".into(),
        "/%2e%2e/?create=true".into(),
        "/../evil/?create=true".into(),
        format!("{}/config", tmp.path().display()),
        "/data/../../outside/config".into(),
    ];
    for p in &paths {
        for method in ["GET", "HEAD", "POST", "DELETE"] {
            let resp = http(
                a,
                method,
                p,
                &[],
                if method == "POST" { Some(body) } else { None },
            );
            assert!(
                matches!(resp.status, 400 | 404),
                "{method} {p} answered {}",
                resp.status
            );
            assert!(!String::from_utf8_lossy(&resp.body).contains("SECRET"));
        }
    }
    drop(server);
    assert_eq!(tree(tmp.path()), before, "files changed");
    let mut dirs = paths_of(tmp.path());
    dirs.retain(|p| !p.starts_with("outside"));
    assert_eq!(
        dirs,
        vec![
            Path::new("data").to_path_buf(),
            Path::new("data/.htpasswd").to_path_buf()
        ]
    );
}

fn paths_of(dir: &Path) -> Vec<std::path::PathBuf> {
    common::paths(dir).into_iter().collect()
}

#[test]
fn mismatched_and_interrupted_uploads_leave_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start(no_auth(&data));
    let a = server.addr;
    assert_eq!(http(a, "POST", "/r/?create=true", &[], None).status, 200);
    let snapshot = || paths_of(&data.join("r"));
    let empty = snapshot();

    // Content that is not its name.
    let real = random_bytes(3, 2 * 1024 * 1024);
    let claimed = sha256_hex(b"something else");
    for tpe in ["data", "keys", "locks", "snapshots", "index"] {
        let resp = http(a, "POST", &format!("/r/{tpe}/{claimed}"), &[], Some(&real));
        assert_eq!(resp.status, 400, "{tpe}");
    }
    assert_eq!(snapshot(), empty);

    // A client that disconnects in the middle of the body.
    let id = sha256_hex(&real);
    let mut s = TcpStream::connect(a).unwrap();
    write!(
        s,
        "POST /r/data/{id} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        real.len()
    )
    .unwrap();
    s.write_all(&real[..real.len() / 2]).unwrap();
    s.flush().unwrap();
    // The temporary file appears while the body streams in...
    eventually("temporary file", || snapshot().len() > empty.len());
    drop(s);
    // ...and is gone once the connection is.
    eventually("cleanup after disconnect", || snapshot() == empty);

    // Chunked upload cut off mid-stream.
    let mut s = TcpStream::connect(a).unwrap();
    write!(
        s,
        "POST /r/data/{id} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    write!(s, "{:x}\r\n", 100_000).unwrap();
    s.write_all(&real[..100_000]).unwrap();
    s.write_all(b"\r\n").unwrap();
    drop(s);
    std::thread::sleep(Duration::from_millis(200));
    eventually("cleanup after chunked disconnect", || snapshot() == empty);

    // The complete upload still works afterwards.
    assert_eq!(
        http(a, "POST", &format!("/r/data/{id}"), &[], Some(&real)).status,
        200
    );
    assert_eq!(
        http(a, "GET", &format!("/r/data/{id}"), &[], None).body,
        real
    );
}

#[test]
fn max_size_quota_refuses_oversized_uploads() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut config = no_auth(&data);
    config.max_size = Some(300_000);
    let server = TestServer::start(config);
    let a = server.addr;
    assert_eq!(http(a, "POST", "/q/?create=true", &[], None).status, 200);
    let small = random_bytes(1, 200_000);
    let big = random_bytes(2, 150_000);
    assert_eq!(
        http(
            a,
            "POST",
            &format!("/q/data/{}", sha256_hex(&small)),
            &[],
            Some(&small)
        )
        .status,
        200
    );
    // Declared length over the quota.
    let resp = http(
        a,
        "POST",
        &format!("/q/data/{}", sha256_hex(&big)),
        &[],
        Some(&big),
    );
    assert_eq!(resp.status, 507);
    // Undeclared (chunked) length over the quota: refused while streaming.
    let mut s = TcpStream::connect(a).unwrap();
    write!(s, "POST /q/data/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n", sha256_hex(&big)).unwrap();
    for chunk in big.chunks(10_000) {
        if write!(s, "{:x}\r\n", chunk.len()).is_err()
            || s.write_all(chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    assert_eq!(read_response(&mut s, false).status, 507);
    let files: Vec<_> = paths_of(&data.join("q/data"))
        .into_iter()
        .filter(|p| p.components().count() == 2)
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    // Deleting frees space again.
    assert_eq!(
        http(
            a,
            "DELETE",
            &format!("/q/data/{}", sha256_hex(&small)),
            &[],
            None
        )
        .status,
        200
    );
    assert_eq!(
        http(
            a,
            "POST",
            &format!("/q/data/{}", sha256_hex(&big)),
            &[],
            Some(&big)
        )
        .status,
        200
    );
}

#[test]
fn append_only_refuses_deletes_except_locks() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut config = no_auth(&data);
    config.append_only = true;
    let server = TestServer::start(config);
    let a = server.addr;
    assert_eq!(http(a, "POST", "/?create=true", &[], None).status, 200);
    assert_eq!(http(a, "POST", "/config", &[], Some(b"c")).status, 200);
    let body = b"obj";
    let id = sha256_hex(body);
    for tpe in ["data", "keys", "locks", "snapshots", "index"] {
        let p = format!("/{tpe}/{id}");
        assert_eq!(http(a, "POST", &p, &[], Some(body)).status, 200);
        assert_eq!(http(a, "POST", &p, &[], Some(body)).status, 403);
        let expected = if tpe == "locks" { 200 } else { 403 };
        assert_eq!(http(a, "DELETE", &p, &[], None).status, expected, "{tpe}");
    }
    assert_eq!(http(a, "DELETE", "/config", &[], None).status, 403);
    assert!(data.join("config").exists() && data.join("data").join(&id[..2]).join(&id).exists());
    assert!(!data.join("locks").join(&id).exists());
}

#[test]
fn parallel_uploads_lose_nothing() {
    const CLIENTS: u64 = 8;
    const PER_CLIENT: u64 = 40;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start(no_auth(&data));
    let a = server.addr;
    assert_eq!(http(a, "POST", "/load/?create=true", &[], None).status, 200);
    let start = Instant::now();
    let uploaded: Vec<(String, String, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                s.spawn(move || {
                    (0..PER_CLIENT)
                        .map(|i| {
                            let seed = c * 1000 + i;
                            let len = 1 + (seed as usize * 7919) % 400_000;
                            let body = random_bytes(seed, len);
                            let id = sha256_hex(&body);
                            let tpe = if i % 4 == 0 { "index" } else { "data" };
                            let resp =
                                http(a, "POST", &format!("/load/{tpe}/{id}"), &[], Some(&body));
                            assert_eq!(resp.status, 200, "upload {c}/{i}");
                            (tpe.to_string(), id, len)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "too slow: {:?}",
        start.elapsed()
    );
    assert_eq!(uploaded.len() as u64, CLIENTS * PER_CLIENT);
    for tpe in ["data", "index"] {
        let resp = http(
            a,
            "GET",
            &format!("/load/{tpe}/"),
            &[("Accept", "application/vnd.x.restic.rest.v2")],
            None,
        );
        let listed: Vec<serde_json::Value> = serde_json::from_slice(&resp.body).unwrap();
        let mut listed: Vec<(String, u64)> = listed
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_string(),
                    v["size"].as_u64().unwrap(),
                )
            })
            .collect();
        let mut expected: Vec<(String, u64)> = uploaded
            .iter()
            .filter(|(t, _, _)| t == tpe)
            .map(|(_, id, len)| (id.clone(), *len as u64))
            .collect();
        listed.sort();
        expected.sort();
        expected.dedup();
        assert_eq!(listed, expected, "{tpe} listing");
    }
    for (tpe, id, len) in &uploaded {
        let resp = http(a, "GET", &format!("/load/{tpe}/{id}"), &[], None);
        assert_eq!((resp.status, resp.body.len()), (200, *len));
        assert_eq!(&sha256_hex(&resp.body), id);
    }
    // No temporary files left behind.
    assert!(common::paths(&data)
        .iter()
        .all(|p| !p.to_string_lossy().contains(".tmp-")));
}
