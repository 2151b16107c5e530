//! Cairn inside an async server: a tiny HTTP service on 127.0.0.1 that
//! starts backups as jobs, cancels one of them, and lists snapshots.
//!
//! Cairn's calls block (they use threads for their own parallelism), so a
//! tokio server runs them with `spawn_blocking`; every backend is also
//! safe to call directly from a task. Each job has its own
//! [`cairn::Cancel`], so cancelling one leaves the others running.
//!
//! ```sh
//! cargo run -p cairn --example async_server
//! ```
use cairn::backup::BackupOptions;
use cairn::{Cancel, InitOptions, LocalBackend, NoProgress, Repository};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A job's state as the service reports it.
#[derive(Clone, Debug)]
enum Job {
    Running(Cancel),
    Done(String),
    Cancelled,
    Failed(String),
}

struct Service {
    /// Opened once; each job works on its own clone of the value.
    repo: Repository,
    jobs: Mutex<HashMap<u64, Job>>,
}

type Shared = Arc<Service>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let site = scratch.path().join("site");
    std::fs::create_dir_all(&site)?;
    std::fs::write(site.join("index.html"), "<h1>hello</h1>\n")?;
    let big = scratch.path().join("dump.sql");
    std::fs::write(&big, pseudo_random(64 << 20))?;

    let backend = Arc::new(LocalBackend::new(scratch.path().join("repo")));
    let repo = tokio::task::spawn_blocking(move || {
        Repository::init(backend, "example password", &InitOptions::default())
    })
    .await??;
    let service = Arc::new(Service {
        repo,
        jobs: Mutex::new(HashMap::new()),
    });

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let server = tokio::spawn(serve(listener, service));
    println!("serving on {addr}");

    let site_job = request(&addr, "POST", &format!("/backup{}", site.display())).await?;
    let big_job = request(&addr, "POST", &format!("/backup{}", big.display())).await?;
    println!("started jobs {site_job} and {big_job}");
    println!(
        "cancel {big_job}: {}",
        request(&addr, "DELETE", &format!("/jobs/{big_job}")).await?
    );
    let (site_state, big_state) = loop {
        let a = request(&addr, "GET", &format!("/jobs/{site_job}")).await?;
        let b = request(&addr, "GET", &format!("/jobs/{big_job}")).await?;
        if !a.starts_with("running") && !b.starts_with("running") {
            break (a, b);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    println!("job {site_job}: {site_state}\njob {big_job}: {big_state}");
    let snapshots = request(&addr, "GET", "/snapshots").await?;
    println!("snapshots:\n{snapshots}");
    server.abort();

    assert!(site_state.starts_with("done"), "{site_state}");
    assert_eq!(big_state, "cancelled");
    assert_eq!(snapshots.lines().count(), 1, "{snapshots}");
    Ok(())
}

async fn serve(listener: TcpListener, service: Shared) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(handle(stream, service.clone()));
    }
}

/// Reads one request (`METHOD PATH`), answers with a text body.
async fn handle(mut stream: TcpStream, service: Shared) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() > 16 << 10 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let mut words = line.split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, body) = route(&service, method, path).await;
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await
}

async fn route(service: &Shared, method: &str, path: &str) -> (&'static str, String) {
    let job_id = |p: &str| p.strip_prefix("/jobs/").and_then(|n| n.parse::<u64>().ok());
    match method {
        "POST" if path.starts_with("/backup/") => {
            let source = PathBuf::from(&path["/backup".len()..]);
            ("200 OK", start_backup(service.clone(), source).to_string())
        }
        "GET" if path == "/snapshots" => {
            let s = service.clone();
            match tokio::task::spawn_blocking(move || s.repo.snapshots()).await {
                Ok(Ok((snaps, _))) => {
                    let lines: Vec<String> = snaps
                        .iter()
                        .map(|s| format!("{} {}", s.id.short(), s.snapshot.paths.join(" ")))
                        .collect();
                    ("200 OK", lines.join("\n"))
                }
                Ok(Err(e)) => ("500 Internal Server Error", e.to_string()),
                Err(e) => ("500 Internal Server Error", e.to_string()),
            }
        }
        "GET" | "DELETE" => {
            let mut jobs = service.jobs.lock().expect("jobs lock");
            let Some(job) = job_id(path).and_then(|id| jobs.get_mut(&id)) else {
                return ("404 Not Found", "no such job".into());
            };
            if method == "DELETE" {
                if let Job::Running(cancel) = job {
                    cancel.cancel();
                }
            }
            let text = match job {
                Job::Running(_) => "running".to_string(),
                Job::Done(id) => format!("done {id}"),
                Job::Cancelled => "cancelled".to_string(),
                Job::Failed(e) => format!("failed: {e}"),
            };
            ("200 OK", text)
        }
        _ => ("404 Not Found", "no such route".into()),
    }
}

/// Starts a backup job on a blocking thread; returns its number.
fn start_backup(service: Shared, source: PathBuf) -> u64 {
    let cancel = Cancel::new();
    let id = {
        let mut jobs = service.jobs.lock().expect("jobs lock");
        let id = jobs.len() as u64 + 1;
        jobs.insert(id, Job::Running(cancel.clone()));
        id
    };
    tokio::task::spawn_blocking(move || {
        let mut repo = service.repo.clone();
        let outcome = repo.load_index().and_then(|_| {
            let lock = repo.lock(false, None)?;
            let opts = BackupOptions {
                paths: vec![source],
                cancel,
                ..Default::default()
            };
            repo.backup(&lock, opts, &NoProgress)
        });
        let state = match outcome {
            Ok(summary) => Job::Done(summary.snapshot_id.map(|i| i.short()).unwrap_or_default()),
            Err(cairn::Error::Interrupted) => Job::Cancelled,
            Err(e) => Job::Failed(e.to_string()),
        };
        service.jobs.lock().expect("jobs lock").insert(id, state);
    });
    id
}

/// A minimal HTTP client: the response body.
async fn request(addr: &str, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    Ok(reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default())
}

/// Incompressible bytes (xorshift), so the big backup takes a while.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}
