//! `rclone:remote:path` as restic does it: Cairn runs
//! `rclone serve restic --stdio --b2-hard-delete remote:path` (program and
//! arguments from `-o rclone.program` and `-o rclone.args`) and speaks
//! rest-server's protocol to it as HTTP/2 with prior knowledge over the
//! child's stdin and stdout. The protocol itself is [`RestBackend`]'s;
//! this module only supplies the transport.
//!
//! There is one HTTP/2 connection for the life of the backend, so when
//! rclone dies every later request fails with its exit status and the
//! last lines of its stderr instead of being retried.

use crate::child::{split_command, HelperProcess};
use crate::rest::{Response, RestBackend, Transport};
use crate::runtime::ClientRuntime;
use crate::{BackendError, BackendOptions, Result, CONTENT_TYPE_V2};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io;
use std::time::Duration;

/// How rclone is run: restic's `rclone.*` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RcloneConfig {
    /// `-o rclone.program`: the program, possibly with arguments.
    pub program: String,
    /// `-o rclone.args`: what follows the program, before the remote.
    pub args: String,
    /// `-o rclone.timeout`: how long rclone may take to answer at first.
    pub timeout: Duration,
}

impl Default for RcloneConfig {
    fn default() -> Self {
        RcloneConfig {
            program: "rclone".into(),
            args: "serve restic --stdio --b2-hard-delete".into(),
            timeout: Duration::from_secs(60),
        }
    }
}

impl RcloneConfig {
    /// Reads the `rclone.program`, `rclone.args` and `rclone.timeout`
    /// options; empty values keep the defaults.
    pub fn from_options(opts: &BackendOptions) -> Result<Self> {
        let mut cfg = RcloneConfig::default();
        for (key, value) in &opts.extended {
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "rclone.program" => cfg.program = value.clone(),
                "rclone.args" => cfg.args = value.clone(),
                "rclone.timeout" => {
                    cfg.timeout = parse_go_duration(value).ok_or_else(|| {
                        BackendError::InvalidOption(format!(
                            "invalid value {value:?} for option rclone.timeout"
                        ))
                    })?
                }
                _ => {}
            }
        }
        Ok(cfg)
    }

    /// The command line for `remote`: program, arguments, remote.
    pub fn command(&self, remote: &str) -> Result<Vec<String>> {
        let bad = |e: String| BackendError::InvalidOption(format!("rclone: {e}"));
        let mut argv = split_command(&self.program).map_err(bad)?;
        if !self.args.trim().is_empty() {
            argv.extend(split_command(&self.args).map_err(bad)?);
        }
        argv.push(remote.to_string());
        Ok(argv)
    }
}

/// Go's `time.ParseDuration` for the units that make sense here:
/// `90s`, `1m30s`, `1.5h`, `500ms`.
fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// HTTP/2 over a child's stdin and stdout.
struct StdioHttp2 {
    runtime: Option<ClientRuntime>,
    sender: Option<SendRequest<Full<Bytes>>>,
    process: HelperProcess,
    timeout: Duration,
}

impl StdioHttp2 {
    /// Why a request got no answer: rclone's end if it is gone (final),
    /// else what hyper said.
    fn failure(&self, context: &str, message: String) -> BackendError {
        match self.process.death_notice(Duration::from_secs(2)) {
            Some(notice) => BackendError::io(context, io::Error::other(notice)),
            // The one connection is broken: a retry cannot help either.
            None => BackendError::io(context, io::Error::other(message)),
        }
    }

    fn exchange(&self, request: http::Request<Vec<u8>>, timeout: Duration) -> ExchangeResult {
        let runtime = self.runtime.as_ref().expect("live until dropped");
        let mut sender = self.sender.clone().expect("live until dropped");
        let request = request.map(|b| Full::new(Bytes::from(b)));
        runtime.block_on(async {
            let exchange = async {
                sender.ready().await?;
                let head = request.method() == http::Method::HEAD;
                let (parts, body) = sender.send_request(request).await?.into_parts();
                // A HEAD answer has no body, whatever its Content-Length says.
                let body = match head {
                    true => Vec::new(),
                    false => body.collect().await?.to_bytes().to_vec(),
                };
                Ok::<_, hyper::Error>(http::Response::from_parts(parts, body))
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(Ok(resp)) => ExchangeResult::Answer(resp),
                Ok(Err(e)) => ExchangeResult::Broken(one_line(&e)),
                Err(_) => ExchangeResult::TimedOut,
            }
        })
    }
}

enum ExchangeResult {
    Answer(Response),
    Broken(String),
    TimedOut,
}

fn one_line(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out.replace('\n', " ")
}

impl Transport for StdioHttp2 {
    fn send(&self, request: http::Request<Vec<u8>>, context: &str) -> Result<Response> {
        match self.exchange(request, self.timeout) {
            ExchangeResult::Answer(resp) => Ok(resp),
            ExchangeResult::Broken(message) => Err(self.failure(context, message)),
            ExchangeResult::TimedOut => Err(BackendError::transient(
                context,
                "no answer from rclone in time",
            )),
        }
    }
}

impl Drop for StdioHttp2 {
    fn drop(&mut self) {
        // Closing the connection closes rclone's stdin, and rclone ends.
        self.sender.take();
        // Gives the connection's task a second to end.
        self.runtime.take();
        self.process.stop(Duration::from_secs(5));
    }
}

/// Starts rclone for `remote` and checks it answers HTTP, as restic does,
/// within `rclone.timeout`.
pub(crate) fn open_rclone(remote: &str, opts: &BackendOptions) -> Result<RestBackend> {
    let display = format!("rclone:{remote}");
    let cfg = RcloneConfig::from_options(opts)?;
    let argv = cfg.command(remote)?;
    let fail = |why: String| {
        BackendError::io(
            display.clone(),
            io::Error::other(format!("error talking HTTP to rclone: {why}")),
        )
    };
    let runtime = ClientRuntime::new("cairn-rclone")?;
    let (process, stdin, stdout) = HelperProcess::spawn(&argv)
        .map_err(|e| BackendError::io(display.clone(), io::Error::other(e.to_string())))?;
    let connected = runtime.block_on(async {
        let stdin = tokio::process::ChildStdin::from_std(stdin).map_err(|e| e.to_string())?;
        let stdout = tokio::process::ChildStdout::from_std(stdout).map_err(|e| e.to_string())?;
        let io = TokioIo::new(tokio::io::join(stdout, stdin));
        let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| one_line(&e))?;
        tokio::spawn(connection);
        Ok::<_, String>(sender)
    });
    let sender = match connected {
        Ok(sender) => sender,
        Err(e) => {
            let why = process.death_notice(Duration::from_secs(5)).unwrap_or(e);
            return Err(fail(why));
        }
    };
    let transport = StdioHttp2 {
        runtime: Some(runtime),
        sender: Some(sender),
        process,
        timeout: opts
            .request_timeout
            .unwrap_or(crate::DEFAULT_REQUEST_TIMEOUT),
    };
    // Ask for a file that does not exist: any answer means rclone is up.
    let probe = http::Request::builder()
        .uri(format!("http://localhost/file-{}", rand::random::<u64>()))
        .header(http::header::ACCEPT, CONTENT_TYPE_V2)
        .body(Vec::new())
        .expect("a valid request");
    match transport.exchange(probe, cfg.timeout) {
        ExchangeResult::Answer(_) => {}
        ExchangeResult::Broken(message) => {
            let why = transport
                .process
                .death_notice(Duration::from_secs(5))
                .unwrap_or(message);
            return Err(fail(why));
        }
        ExchangeResult::TimedOut => {
            return Err(fail(format!(
                "no answer within {:?} (-o rclone.timeout)",
                cfg.timeout
            )))
        }
    }
    let base = url::Url::parse("http://localhost/").expect("a valid URL");
    Ok(RestBackend::with_transport(
        base,
        display,
        Box::new(transport),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rclone_is_run_as_restic_runs_it() {
        let cfg = RcloneConfig::default();
        assert_eq!(
            cfg.command("remote:path").unwrap(),
            [
                "rclone",
                "serve",
                "restic",
                "--stdio",
                "--b2-hard-delete",
                "remote:path"
            ]
        );
        let mut o = BackendOptions::default();
        o.set_extended(&[
            "rclone.program=/opt/rclone --config 'my conf'",
            "rclone.args=serve restic --stdio",
            "rclone.timeout=1m30s",
            "rclone.connections=3",
        ])
        .unwrap();
        let cfg = RcloneConfig::from_options(&o).unwrap();
        assert_eq!(cfg.timeout, Duration::from_secs(90));
        assert_eq!(
            cfg.command(":local:/x").unwrap(),
            [
                "/opt/rclone",
                "--config",
                "my conf",
                "serve",
                "restic",
                "--stdio",
                ":local:/x"
            ]
        );
        assert_eq!(o.connections("rclone").unwrap(), Some(3));
        let mut o = BackendOptions::default();
        o.set_extended(&["rclone.timeout=soon"]).unwrap();
        assert!(RcloneConfig::from_options(&o).is_err());
    }

    #[test]
    fn go_durations_parse() {
        let d = |s| parse_go_duration(s);
        assert_eq!(d("1m"), Some(Duration::from_secs(60)));
        assert_eq!(d("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(d("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(d("2h3m4s"), Some(Duration::from_secs(7384)));
        assert_eq!(d("0"), Some(Duration::ZERO));
        assert_eq!(d("10"), None);
        assert_eq!(d("5d"), None);
    }
}
