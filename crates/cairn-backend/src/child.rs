//! Helper programs spoken to over their stdin and stdout: `ssh` for SFTP
//! and `rclone serve restic --stdio`. Splits restic's command strings,
//! starts the program, keeps the last lines it wrote to stderr for error
//! messages, and stops it when the backend goes away.

use crate::{BackendError, Result};
use std::collections::VecDeque;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How many stderr lines are kept for error messages.
const STDERR_LINES: usize = 5;

/// Splits a command line as restic does: on white space and backslashes
/// outside quotes; single or double quotes group words and are dropped.
pub(crate) fn split_command(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut last = '\0';
    for c in s.chars() {
        let split = if last != '\\' && quote == Some(c) {
            quote = None;
            true
        } else if last != '\\' && quote.is_none() && (c == '"' || c == '\'') {
            quote = Some(c);
            true
        } else {
            last = c;
            quote.is_none() && (c == '\\' || c.is_whitespace())
        };
        if split {
            if let Some(w) = cur.take() {
                words.push(w);
            }
        } else {
            cur.get_or_insert_with(String::new).push(c);
        }
    }
    words.extend(cur);
    match quote {
        Some('\'') => Err("single-quoted string not terminated".into()),
        Some(_) => Err("double-quoted string not terminated".into()),
        None if words.is_empty() => Err("command string is empty".into()),
        None => Ok(words),
    }
}

/// A running helper program with piped stdin, stdout and stderr.
pub(crate) struct HelperProcess {
    /// The program's name, for messages.
    pub program: String,
    child: Mutex<Child>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_done: Mutex<Option<mpsc::Receiver<()>>>,
}

impl HelperProcess {
    /// Starts `argv`, returning the process and its stdin and stdout.
    pub fn spawn(argv: &[String]) -> Result<(Self, ChildStdin, ChildStdout)> {
        let program = argv[0].clone();
        let mut child = Command::new(&program)
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BackendError::io(format!("cannot run {program}"), e))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let (done_tx, done_rx) = mpsc::channel();
        let lines = Arc::clone(&stderr);
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                let line = line.trim().to_string();
                if line.is_empty() {
                    continue;
                }
                let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
                if lines.len() == STDERR_LINES {
                    lines.pop_front();
                }
                lines.push_back(line);
            }
            let _ = done_tx.send(());
        });
        let process = HelperProcess {
            program,
            child: Mutex::new(child),
            stderr,
            stderr_done: Mutex::new(Some(done_rx)),
        };
        Ok((process, stdin, stdout))
    }

    /// The exit status, waiting up to `wait` for the program to end.
    pub fn exit_status(&self, wait: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            let status = self
                .child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait()
                .ok()
                .flatten();
            if status.is_some() || Instant::now() >= deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Why the program is gone, on one line: its exit status and the last
    /// lines of its stderr; `None` while it still runs after `wait`.
    pub fn death_notice(&self, wait: Duration) -> Option<String> {
        let status = self.exit_status(wait)?;
        // The program has exited: its stderr ends soon (unless a child of
        // its own keeps it open).
        if let Some(rx) = self
            .stderr_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = rx.recv_timeout(Duration::from_secs(1));
        }
        let mut text = format!("{} exited ({status})", self.program);
        let tail = self.stderr_tail();
        if !tail.is_empty() {
            text.push_str(": ");
            text.push_str(&tail);
        }
        Some(text)
    }

    /// The last lines the program wrote to stderr, joined with `; `.
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().cloned().collect::<Vec<_>>().join("; ")
    }

    /// Waits up to `grace` for the program to end by itself, then kills it.
    pub fn stop(&self, grace: Duration) {
        if self.exit_status(grace).is_none() {
            let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for HelperProcess {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_restic() {
        let s = |x: &str| split_command(x).unwrap();
        assert_eq!(s("ssh -p 22 host"), ["ssh", "-p", "22", "host"]);
        assert_eq!(
            s(r#"ssh -i "my key" 'a b'c"#),
            ["ssh", "-i", "my key", "a b", "c"]
        );
        assert_eq!(s(r"a\b"), ["a", "b"]);
        assert_eq!(
            s("  rclone   serve\trestic "),
            ["rclone", "serve", "restic"]
        );
        assert!(split_command("ssh 'open").is_err());
        assert!(split_command("ssh \"open").is_err());
        assert!(split_command("   ").is_err());
    }

    #[test]
    fn a_dead_helper_reports_its_status_and_stderr() {
        let argv: Vec<String> = ["sh", "-c", "echo first >&2; echo 'no route' >&2; exit 3"]
            .map(String::from)
            .to_vec();
        let (p, _i, _o) = HelperProcess::spawn(&argv).unwrap();
        let notice = p.death_notice(Duration::from_secs(10)).unwrap();
        assert!(notice.starts_with("sh exited ("), "{notice}");
        assert!(
            notice.contains('3') && notice.ends_with("first; no route"),
            "{notice}"
        );
        let missing = vec!["/nonexistent/ssh".to_string()];
        assert!(HelperProcess::spawn(&missing).is_err());
    }
}
