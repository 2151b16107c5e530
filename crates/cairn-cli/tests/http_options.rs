//! restic 0.19's HTTP options against tiny servers on 127.0.0.1:
//! `--http-user-agent` (and `RESTIC_HTTP_USER_AGENT`) is the User-Agent
//! of REST requests; `--stuck-request-timeout` gives up a request that
//! gets no answer and retries it; `RESTIC_AWS_ASSUME_ROLE_*` trades the
//! S3 credentials at STS (moto's, or a server that refuses).

mod common;
#[path = "../../cairn-backend/tests/moto/mod.rs"]
mod moto;

use common::Tool;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the fake server saw: one entry per request (its header lines).
type Seen = Arc<Mutex<Vec<Vec<String>>>>;

/// A server that answers every request with `status` (and `body`),
/// except that the first `stall` connections get no answer at all.
fn fake_server(status: &'static str, body: &'static str, stall: usize) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(conn) = conn else { return };
            let log = log.clone();
            std::thread::spawn(move || serve(conn, &log, n < stall, status, body));
        }
    });
    (port, seen)
}

fn serve(mut conn: TcpStream, log: &Seen, stall: bool, status: &str, body: &str) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        headers.push(line);
    }
    let mut payload = vec![0u8; length];
    let _ = std::io::Read::read_exact(&mut reader, &mut payload);
    headers.push(String::from_utf8_lossy(&payload).into_owned());
    log.lock().unwrap().push(headers);
    if stall {
        std::thread::sleep(Duration::from_secs(120));
        return;
    }
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn cairn(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(Tool::Cairn.program());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RESTIC_") {
            cmd.env_remove(&k);
        }
    }
    let cache = tempfile::tempdir().unwrap();
    cmd.arg("--cache-dir")
        .arg(cache.path())
        .args(args)
        .env("RESTIC_PASSWORD", "pw")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn user_agents(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .flat_map(|h| {
            h.iter().filter_map(|l| {
                l.strip_prefix("user-agent: ")
                    .or(l.strip_prefix("User-Agent: "))
            })
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn http_user_agent_is_sent_to_the_rest_server() {
    for (flag, env, want) in [
        (Some("my-agent/1.0"), None, "my-agent/1.0"),
        (None, Some("from-env/2"), "from-env/2"),
        (Some("flag-wins"), Some("env-loses"), "flag-wins"),
    ] {
        let (port, seen) = fake_server("404 Not Found", "", 0);
        let repo = format!("rest:http://127.0.0.1:{port}/repo/");
        let mut args = vec!["-r", repo.as_str()];
        if let Some(agent) = flag {
            args.extend(["--http-user-agent", agent]);
        }
        args.push("snapshots");
        let env: Vec<(&str, &str)> = env
            .map(|v| ("RESTIC_HTTP_USER_AGENT", v))
            .into_iter()
            .collect();
        let out = cairn(&args, &env);
        assert_eq!(
            out.status.code(),
            Some(10),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let agents = user_agents(&seen);
        assert!(!agents.is_empty(), "no request seen");
        assert!(agents.iter().all(|a| a == want), "{agents:?}");
    }
    let (port, seen) = fake_server("404 Not Found", "", 0);
    let repo = format!("rest:http://127.0.0.1:{port}/repo/");
    cairn(&["-r", &repo, "snapshots"], &[]);
    assert!(user_agents(&seen).iter().all(|a| a.starts_with("cairn/")));
}

#[test]
fn a_stuck_request_is_given_up_and_retried() {
    // The first connection never gets an answer; the retry does.
    let (port, seen) = fake_server("404 Not Found", "", 1);
    let repo = format!("rest:http://127.0.0.1:{port}/repo/");
    let started = Instant::now();
    let out = cairn(
        &["-r", &repo, "--stuck-request-timeout", "1s", "snapshots"],
        &[],
    );
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    // Without the watchdog the first request would wait for the server's
    // two minutes, and the command far longer than 30 s.
    assert!(seen.lock().unwrap().len() >= 2, "not retried: {stderr}");
}

#[test]
fn assume_role_variables_trade_the_credentials_at_sts() {
    let Some(moto) = moto::Moto::start(false) else {
        return;
    };
    let repo = moto.repo("assume-role-bucket", "repo");
    let sts = format!("http://127.0.0.1:{}", moto.port);
    let env = [
        ("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", moto::SECRET_KEY),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        (
            "RESTIC_AWS_ASSUME_ROLE_ARN",
            "arn:aws:iam::123456789012:role/backup",
        ),
        ("RESTIC_AWS_ASSUME_ROLE_SESSION_NAME", "cairn-test"),
        ("RESTIC_AWS_ASSUME_ROLE_STS_ENDPOINT", sts.as_str()),
        ("RESTIC_AWS_ASSUME_ROLE_REGION", "us-east-1"),
    ];
    let out = cairn(&["-r", &repo, "init"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cairn(&["-r", &repo, "snapshots", "--json"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An STS that refuses: the command fails and says so, without the secret.
    let (port, seen) = fake_server(
        "403 Forbidden",
        "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed to assume</Message></Error></ErrorResponse>",
        0,
    );
    let sts = format!("http://127.0.0.1:{port}");
    let mut env = env.to_vec();
    env.retain(|(k, _)| *k != "RESTIC_AWS_ASSUME_ROLE_STS_ENDPOINT");
    env.push(("RESTIC_AWS_ASSUME_ROLE_STS_ENDPOINT", sts.as_str()));
    env.push(("RESTIC_AWS_ASSUME_ROLE_EXTERNAL_ID", "ext-42"));
    let out = cairn(&["-r", &repo, "snapshots"], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not allowed to assume"), "{stderr}");
    assert!(!stderr.contains(moto::SECRET_KEY), "{stderr}");
    let requests = seen.lock().unwrap();
    let first = &requests[0];
    let body = first.last().unwrap();
    assert!(body.contains("Action=AssumeRole"), "{first:?}");
    assert!(body.contains("RoleSessionName=cairn-test"), "{first:?}");
    assert!(body.contains("ExternalId=ext-42"), "{first:?}");
    let auth = first
        .iter()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"));
    let auth = auth.unwrap_or_else(|| panic!("unsigned: {first:?}"));
    assert!(
        auth.contains(&format!("Credential={}/", moto::ACCESS_KEY)),
        "{auth}"
    );
    assert!(auth.contains("/sts/aws4_request"), "{auth}");
}
