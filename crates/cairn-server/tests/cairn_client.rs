//! Cairn's own REST client against `cairn serve` over HTTPS: certificate
//! checks (`--cacert`, `--insecure-tls`), HTTP/2 negotiated by ALPN, and
//! the real restic reading what Cairn wrote through the TLS server.

mod common;

use cairn::backup::BackupOptions;
use cairn::NoProgress;
use cairn::{InitOptions, Repository};
use cairn_backend::{open_wrapped, Backend, BackendOptions, FileType, Location, RetryPolicy};
use cairn_server::ServerConfig;
use common::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

struct TlsServer {
    server: TestServer,
    cert: PathBuf,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

fn start_tls_server() -> TlsServer {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let log = tmp.path().join("access.log");
    let mut config = ServerConfig::with_path(&data);
    config.no_auth = true;
    config.tls = true;
    config.tls_cert = Some(cert.clone());
    config.tls_key = Some(key);
    config.log = Some(log.to_str().unwrap().to_string());
    TlsServer {
        server: TestServer::start(config),
        cert,
        log,
        _tmp: tmp,
    }
}

fn backend(url: &str, opts: &BackendOptions) -> cairn_backend::Result<Arc<dyn Backend>> {
    let policy = RetryPolicy {
        max_attempts: 2,
        initial_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    open_wrapped(&Location::parse(url).unwrap(), opts, policy, None)
}

fn exercise(be: &dyn Backend) {
    be.create().unwrap();
    let name = sha256_hex(b"payload");
    be.write(FileType::Snapshot, &name, b"payload").unwrap();
    assert_eq!(be.read(FileType::Snapshot, &name).unwrap(), b"payload");
    assert_eq!(
        be.read_range(FileType::Snapshot, &name, 2, 3).unwrap(),
        b"ylo"
    );
    let listed = be.list(FileType::Snapshot).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].size),
        (name.as_str(), 7)
    );
    be.remove(FileType::Snapshot, &name).unwrap();
    assert!(be.list(FileType::Snapshot).unwrap().is_empty());
}

#[test]
fn the_given_ca_is_trusted_and_http2_is_negotiated() {
    let s = start_tls_server();
    let opts = BackendOptions {
        cacerts: vec![s.cert.clone()],
        ..BackendOptions::default()
    };
    let be = backend(&format!("rest:https://{}/ca/", s.server.addr), &opts).unwrap();
    exercise(be.as_ref());
    let log = std::fs::read_to_string(&s.log).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("/ca/")).collect();
    assert!(lines.len() >= 6, "{log}");
    for line in lines {
        assert!(line.contains(" HTTP/2.0\""), "not HTTP/2: {line}");
    }
}

#[test]
fn an_unknown_certificate_is_refused_unless_insecure_tls_is_set() {
    let s = start_tls_server();
    let url = format!("rest:https://{}/insecure/", s.server.addr);
    let strict = backend(&url, &BackendOptions::default()).unwrap();
    let err = strict.create().unwrap_err().to_string();
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(strict.list(FileType::Key).is_err());

    let insecure = BackendOptions {
        insecure_tls: true,
        ..BackendOptions::default()
    };
    exercise(backend(&url, &insecure).unwrap().as_ref());
}

fn restic_restores(repo: &str, cert: &Path, src: &Path, target: &Path) {
    let cacert = ["--cacert", cert.to_str().unwrap()];
    restic_ok(repo, &["check", "--read-data"], &cacert);
    restic_ok(
        repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
        &cacert,
    );
    let restored = target.join(src.strip_prefix("/").unwrap());
    assert_eq!(tree(&restored), tree(src), "restored tree differs");
}

#[test]
fn restic_reads_what_cairn_backed_up_over_https() {
    let s = start_tls_server();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    make_source(&src);
    let url = format!("rest:https://{}/backup/", s.server.addr);
    let opts = BackendOptions {
        cacerts: vec![s.cert.clone()],
        ..BackendOptions::default()
    };
    let mut repo = Repository::init(
        backend(&url, &opts).unwrap(),
        PASSWORD,
        &InitOptions::default(),
    )
    .unwrap();
    repo.load_index().unwrap();
    let lock = repo.lock(false, None).unwrap();
    let backup = BackupOptions {
        paths: vec![src.clone()],
        ..Default::default()
    };
    assert!(repo
        .backup(&lock, backup, &NoProgress)
        .unwrap()
        .snapshot_id
        .is_some());
    drop(lock);
    restic_restores(&url, &s.cert, &src, &tmp.path().join("restore"));
}
