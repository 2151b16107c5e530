//! Retrying transient failures with exponential backoff.

use crate::{Backend, BackendError, FileInfo, FileType, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Called before each retry with the operation, the error and the wait.
pub type RetryReport = Arc<dyn Fn(&str, &BackendError, Duration) + Send + Sync>;

/// How [`RetryBackend`] retries.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Tries per operation, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry.
    pub initial_delay: Duration,
    /// Each wait is this many times the one before ...
    pub multiplier: f64,
    /// ... but never longer than this.
    pub max_delay: Duration,
    /// No retry starts once an operation has taken this long in total.
    pub max_elapsed: Duration,
    /// Until some operation on the backend has succeeded, the total time
    /// allowed per operation is at most this: a server that is not there
    /// at all gives a quick, clear failure rather than minutes of retries.
    pub first_contact_max_elapsed: Duration,
    /// Spread each wait randomly by up to this fraction (0 to 1).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// Close to restic's: 10 retries from 0.5 s growing by 1.5 (about a
    /// minute in all), at most 15 minutes; 5 s until first contact.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 11,
            initial_delay: Duration::from_millis(500),
            multiplier: 1.5,
            max_delay: Duration::from_secs(60),
            max_elapsed: Duration::from_secs(15 * 60),
            first_contact_max_elapsed: Duration::from_secs(5),
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Quick retries for tests: `attempts` tries, 1 ms apart, no jitter.
    pub fn fast(attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: attempts,
            initial_delay: Duration::from_millis(1),
            multiplier: 1.0,
            max_delay: Duration::from_millis(1),
            max_elapsed: Duration::from_secs(60),
            first_contact_max_elapsed: Duration::from_secs(60),
            jitter: 0.0,
        }
    }
}

/// Retries operations that fail with a transient error
/// ([`BackendError::is_transient`]); missing or existing files, bad names,
/// short reads and authentication failures are returned at once.
///
/// A failed write to a store that does not replace files atomically
/// ([`Backend::has_atomic_replace`]) is followed by removing the file
/// before the next try, since the failed try may have stored it.
pub struct RetryBackend {
    inner: Arc<dyn Backend>,
    policy: RetryPolicy,
    report: Option<RetryReport>,
    contacted: AtomicBool,
}

impl RetryBackend {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Backend>, policy: RetryPolicy) -> Self {
        RetryBackend {
            inner,
            policy,
            report: None,
            contacted: AtomicBool::new(false),
        }
    }

    /// Calls `report` before each retry once some operation has succeeded
    /// (restic prints these on stderr).
    pub fn with_report(mut self, report: RetryReport) -> Self {
        self.report = Some(report);
        self
    }

    fn run<T>(&self, what: impl Fn() -> String, mut op: impl FnMut(u32) -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let p = &self.policy;
        let mut delay = p.initial_delay;
        let mut attempt = 1;
        loop {
            let err = match op(attempt) {
                Ok(v) => {
                    self.contacted.store(true, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(e) => e,
            };
            if !err.is_transient() {
                // The server answered: it is there.
                if !matches!(err, BackendError::Io { .. }) {
                    self.contacted.store(true, Ordering::Relaxed);
                }
                return Err(err);
            }
            let contacted = self.contacted.load(Ordering::Relaxed);
            let budget = if contacted {
                p.max_elapsed
            } else {
                p.max_elapsed.min(p.first_contact_max_elapsed)
            };
            let wait = jittered(delay, p.jitter);
            if attempt >= p.max_attempts || start.elapsed() + wait > budget {
                return Err(err);
            }
            // Before first contact the budget is short and the final error
            // says it all: report only retries of a backend that worked.
            if let Some(report) = self.report.as_ref().filter(|_| contacted) {
                report(&what(), &err, wait);
            }
            std::thread::sleep(wait);
            delay = delay.mul_f64(p.multiplier.max(1.0)).min(p.max_delay);
            attempt += 1;
        }
    }
}

fn jittered(d: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 {
        return d;
    }
    let f = 1.0 + jitter.min(1.0) * (rand::random::<f64>() * 2.0 - 1.0);
    d.mul_f64(f)
}

impl Backend for RetryBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> Result<()> {
        self.run(|| "Create()".into(), |_| self.inner.create())
    }

    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>> {
        self.run(
            || format!("List({file_type})"),
            |_| self.inner.list(file_type),
        )
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        self.run(
            || format!("Load(<{file_type}/{name}>)"),
            |_| self.inner.read(file_type, name),
        )
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        self.run(
            || format!("Load(<{file_type}/{name}>, {length}, {offset})"),
            |_| self.inner.read_range(file_type, name, offset, length),
        )
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        let atomic = self.inner.has_atomic_replace();
        self.run(
            || format!("Save(<{file_type}/{name}>)"),
            |attempt| {
                if attempt > 1 && !atomic {
                    // An earlier try may have stored the file (its answer
                    // got lost); such a store refuses to overwrite it.
                    let _ = self.inner.remove(file_type, name);
                }
                self.inner.write(file_type, name, data)
            },
        )
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        self.run(
            || format!("Remove(<{file_type}/{name}>)"),
            |_| self.inner.remove(file_type, name),
        )
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        self.run(
            || format!("Stat(<{file_type}/{name}>)"),
            |_| self.inner.stat(file_type, name),
        )
    }

    fn has_atomic_replace(&self) -> bool {
        self.inner.has_atomic_replace()
    }

    fn list_temp(&self, file_type: FileType) -> Result<Vec<crate::TempFile>> {
        self.inner.list_temp(file_type)
    }

    fn remove_temp(&self, file_type: FileType, name: &str) -> Result<()> {
        self.inner.remove_temp(file_type, name)
    }
}
