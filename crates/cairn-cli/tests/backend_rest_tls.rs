//! REST over HTTPS with a self-signed certificate: `cairn serve --tls`
//! on 127.0.0.1 and both clients trusting it through `--cacert`. Cairn
//! writes, restic reads and checks; Cairn's requests travel over HTTP/2
//! (negotiated by ALPN, seen in the server's access log); without the
//! certificate Cairn refuses the server in one line.
//!
//! Needs restic installed.

#[path = "remote_support/mod.rs"]
mod remote_support;

use remote_support::process::{free_port, wait_for_port};
use remote_support::{cairn, error_lines, run};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `cairn serve --tls` on a free port, killed on drop.
struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    fn start(dir: &Path, cert: &Path, key: &Path, log: &Path) -> TlsServer {
        let port = free_port();
        let child = Command::new(cairn())
            .arg("serve")
            .arg("--path")
            .arg(dir)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--no-auth",
                "--tls",
            ])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .arg("--log")
            .arg(log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, "cairn serve");
        TlsServer { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cairn_and_restic_share_a_repository_over_https_and_http2() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let log = tmp.path().join("access.log");
    let server = TlsServer::start(&data, &cert, &key, &log);
    let repo = format!("rest:https://127.0.0.1:{}/repo/", server.port);

    let cacert = vec!["--cacert".to_string(), cert.display().to_string()];
    remote_support::cairn_writes_restic_reads(&repo, &cacert);

    let log = std::fs::read_to_string(&log).unwrap();
    let cairn_lines: Vec<_> = log.lines().filter(|l| l.contains("\"cairn/")).collect();
    assert!(!cairn_lines.is_empty(), "no Cairn requests logged:\n{log}");
    for line in &cairn_lines {
        assert!(line.contains(" HTTP/2.0\""), "not over HTTP/2: {line}");
    }

    // Without the certificate the server is not trusted.
    let out = run(&cairn(), &repo, &["snapshots"], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].to_lowercase().contains("certificate"),
        "{}",
        lines[0]
    );
}
