//! The real restic 0.14 client against `cairn serve`: the whole backup
//! life cycle, append-only mode, private repositories, TLS, metrics and
//! parallel clients.

mod common;

use cairn_server::ServerConfig;
use common::*;
use std::path::Path;

fn no_auth(path: &Path) -> ServerConfig {
    let mut c = ServerConfig::with_path(path);
    c.no_auth = true;
    c
}

/// Restores the latest snapshot and compares it with the source.
fn restore_and_compare(repo: &str, src: &Path, target: &Path, extra: &[&str]) {
    restic_ok(
        repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
        extra,
    );
    let restored = target.join(src.strip_prefix("/").unwrap());
    assert_eq!(tree(&restored), tree(src), "restored tree differs");
}

#[test]
fn backup_check_forget_prune_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, src) = (tmp.path().join("data"), tmp.path().join("src"));
    make_source(&src);
    let server = TestServer::start(no_auth(&data));
    let repo = server.url(None, "repo/");
    let s = src.to_str().unwrap();

    restic_ok(&repo, &["init"], &[]);
    assert!(data.join("repo/config").is_file());
    assert!(data.join("repo/data/ff").is_dir());
    restic_ok(&repo, &["backup", s], &[]);
    std::fs::write(src.join("sub/new.bin"), random_bytes(9, 700_000)).unwrap();
    std::fs::remove_file(src.join("sub/mid.bin")).unwrap();
    restic_ok(&repo, &["backup", s], &[]);
    restic_ok(&repo, &["check", "--read-data"], &[]);

    // Packs are stored like the local backend: data/XX/<id>.
    let packs: Vec<_> = paths(&data.join("repo/data"))
        .into_iter()
        .filter(|p| p.components().count() == 2)
        .collect();
    assert!(packs.len() >= 2, "{packs:?}");
    for p in &packs {
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(&name[..2], p.parent().unwrap().to_str().unwrap());
        let content = std::fs::read(data.join("repo/data").join(p)).unwrap();
        assert_eq!(sha256_hex(&content), name);
    }

    restic_ok(&repo, &["forget", "--keep-last", "1", "--prune"], &[]);
    let snaps = restic_ok(&repo, &["snapshots", "--json"], &[]);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&snaps)
            .unwrap()
            .len(),
        1
    );
    restic_ok(&repo, &["check", "--read-data"], &[]);
    restore_and_compare(&repo, &src, &tmp.path().join("restore"), &[]);

    // The served folder is also a valid local repository.
    drop(server);
    let local = data.join("repo");
    restic_ok(local.to_str().unwrap(), &["check", "--read-data"], &[]);
}

#[test]
fn append_only_backs_up_but_never_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, src) = (tmp.path().join("data"), tmp.path().join("src"));
    make_source(&src);
    let mut config = no_auth(&data);
    config.append_only = true;
    let server = TestServer::start(config);
    let repo = server.url(None, "ao/");
    let s = src.to_str().unwrap();
    restic_ok(&repo, &["init"], &[]);
    restic_ok(&repo, &["backup", s], &[]);
    std::fs::write(src.join("more.bin"), random_bytes(5, 600_000)).unwrap();
    restic_ok(&repo, &["backup", s], &[]);

    let without_locks = |d: &Path| {
        paths(d)
            .into_iter()
            .filter(|p| !p.starts_with("locks/") || p == Path::new("locks"))
            .collect::<std::collections::BTreeSet<_>>()
    };
    let before = without_locks(&data.join("ao"));
    let out = restic(&repo, &["forget", "--keep-last", "1", "--prune"], &[]);
    assert!(
        !out.status.success(),
        "forget --prune succeeded in append-only mode"
    );
    assert_eq!(
        without_locks(&data.join("ao")),
        before,
        "files were deleted"
    );
    // Locks may be removed: restic cleaned up after itself.
    assert!(paths(&data.join("ao/locks")).is_empty());
    let snaps = restic_ok(&repo, &["snapshots", "--json"], &[]);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&snaps)
            .unwrap()
            .len(),
        2
    );
    restic_ok(&repo, &["check", "--read-data"], &[]);
    restore_and_compare(&repo, &src, &tmp.path().join("restore"), &[]);
}

#[test]
fn private_repositories_keep_users_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, src) = (tmp.path().join("data"), tmp.path().join("src"));
    std::fs::create_dir_all(&data).unwrap();
    make_source(&src);
    write_htpasswd(
        &data.join(".htpasswd"),
        &[("alice", "alice-pw")],
        &[("bob", "bob-pw"), ("metrics", "m-pw")],
    );
    let mut config = ServerConfig::with_path(&data);
    config.private_repos = true;
    config.prometheus = true;
    let server = TestServer::start(config);
    let alice = Some(("alice", "alice-pw"));
    let bob = Some(("bob", "bob-pw"));
    let s = src.to_str().unwrap();

    restic_ok(&server.url(alice, "alice/"), &["init"], &[]);
    restic_ok(&server.url(alice, "alice/"), &["backup", s], &[]);
    restic_ok(&server.url(bob, "bob/work/"), &["init"], &[]);
    restic_ok(&server.url(bob, "bob/work/"), &["backup", s], &[]);
    assert!(data.join("bob/work/config").is_file());

    // alice can neither read nor create under /bob/, nor use the root.
    for path in ["bob/work/", "bob/", "", "alicex/"] {
        let out = restic(&server.url(alice, path), &["snapshots"], &[]);
        assert!(!out.status.success(), "alice read {path}");
        let out = restic(&server.url(alice, path), &["init"], &[]);
        assert!(!out.status.success(), "alice created {path}");
    }
    let a = basic("alice", "alice-pw");
    let auth = [("Authorization", a.as_str())];
    for (method, path) in [
        ("GET", "/bob/work/config"),
        ("GET", "/bob/work/keys/"),
        ("HEAD", "/bob/work/config"),
        ("POST", "/bob/?create=true"),
        ("GET", "/metrics"),
    ] {
        assert_eq!(
            http(server.addr, method, path, &auth, None).status,
            401,
            "{method} {path}"
        );
    }
    let k = format!("/bob/work/keys/{}", sha256_hex(b"k"));
    assert_eq!(http(server.addr, "POST", &k, &auth, Some(b"k")).status, 401);
    assert_eq!(http(server.addr, "DELETE", &k, &auth, None).status, 401);
    assert!(!data.join("bob/work/keys").join(sha256_hex(b"k")).exists());
    assert!(!data.join("alicex").exists() && !data.join("config").exists());
    // Wrong or missing credentials.
    let wrong = basic("alice", "bob-pw");
    assert_eq!(
        http(
            server.addr,
            "GET",
            "/alice/config",
            &[("Authorization", &wrong)],
            None
        )
        .status,
        401
    );
    assert_eq!(
        http(server.addr, "GET", "/alice/config", &[], None).status,
        401
    );
    assert_eq!(
        http(server.addr, "GET", "/alice/config", &auth, None).status,
        200
    );
    // Metrics need the "metrics" user in private mode.
    let m = basic("metrics", "m-pw");
    let resp = http(
        server.addr,
        "GET",
        "/metrics",
        &[("Authorization", &m)],
        None,
    );
    assert_eq!(resp.status, 200);
    let text = String::from_utf8(resp.body).unwrap();
    assert!(
        text.contains("rest_server_blob_write_total{repo=\"bob/work\",type=\"data\",user=\"bob\"}"),
        "{text}"
    );

    restic_ok(&server.url(alice, "alice/"), &["check", "--read-data"], &[]);
    restic_ok(
        &server.url(bob, "bob/work/"),
        &["check", "--read-data"],
        &[],
    );
}

#[test]
fn prometheus_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, src) = (tmp.path().join("data"), tmp.path().join("src"));
    make_source(&src);
    let mut config = no_auth(&data);
    config.prometheus = true;
    let server = TestServer::start(config);
    let repo = server.url(None, "m/");
    restic_ok(&repo, &["init"], &[]);
    restic_ok(&repo, &["backup", src.to_str().unwrap()], &[]);
    restic_ok(&repo, &["check", "--read-data"], &[]);
    let resp = http(server.addr, "GET", "/metrics", &[], None);
    assert_eq!(resp.status, 200);
    let text = String::from_utf8(resp.body).unwrap();
    let value = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let on_disk: u64 = tree(&data).values().map(|v| v.len() as u64).sum();
    let written = value("rest_server_blob_write_bytes_total{repo=\"m\",type=\"data\",user=\"\"}");
    let packs: u64 = tree(&data.join("m/data"))
        .values()
        .map(|v| v.len() as u64)
        .sum();
    assert_eq!(written, packs);
    assert!(
        value("rest_server_blob_read_bytes_total{repo=\"m\",type=\"data\",user=\"\"}") >= packs
    );
    assert!(value("rest_server_blob_write_total{repo=\"m\",type=\"snapshots\",user=\"\"}") == 1);
    assert_eq!(value("cairn_server_space_used_bytes"), on_disk);
    assert!(text.contains("# TYPE rest_server_blob_delete_total counter"));
    assert!(value("cairn_server_http_requests_total{code=\"200\",method=\"POST\"}") > 0);
}

#[test]
fn tls_with_self_signed_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, src) = (tmp.path().join("data"), tmp.path().join("src"));
    make_source(&src);
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    write_htpasswd(&data.join(".htpasswd"), &[("user", "pw")], &[]);
    let mut config = ServerConfig::with_path(&data);
    config.tls = true;
    config.tls_cert = Some(cert.clone());
    config.tls_key = Some(key);
    let server = TestServer::start(config);
    let repo = format!("rest:https://user:pw@{}/tls/", server.addr);
    let cacert = ["--cacert", cert.to_str().unwrap()];
    restic_ok(&repo, &["init"], &cacert);
    restic_ok(&repo, &["backup", src.to_str().unwrap()], &cacert);
    restic_ok(&repo, &["check", "--read-data"], &cacert);
    restore_and_compare(&repo, &src, &tmp.path().join("restore"), &cacert);
    // Without the CA the client refuses the certificate.
    assert!(!restic(&repo, &["snapshots"], &[]).status.success());
    // Plain HTTP is not served on the TLS port.
    assert!(!restic(
        &format!("rest:http://user:pw@{}/tls/", server.addr),
        &["snapshots"],
        &[]
    )
    .status
    .success());
}

#[test]
fn parallel_restic_clients_share_a_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start(no_auth(&data));
    let repo = server.url(None, "shared/");
    restic_ok(&repo, &["init"], &[]);
    let sources: Vec<_> = (0..4)
        .map(|i| {
            let src = tmp.path().join(format!("src{i}"));
            std::fs::create_dir_all(&src).unwrap();
            for j in 0..6 {
                std::fs::write(
                    src.join(format!("f{j}")),
                    random_bytes(100 * i + j, 300_000 + 50_000 * j as usize),
                )
                .unwrap();
            }
            src
        })
        .collect();
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for src in &sources {
            let repo = repo.clone();
            s.spawn(move || restic_ok(&repo, &["backup", src.to_str().unwrap()], &[]));
        }
    });
    assert!(start.elapsed() < std::time::Duration::from_secs(120));
    let snaps = restic_ok(&repo, &["snapshots", "--json"], &[]);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&snaps)
            .unwrap()
            .len(),
        4
    );
    restic_ok(&repo, &["check", "--read-data"], &[]);
}
