//! Bandwidth limits: restic's `--limit-upload` and `--limit-download`.
//!
//! Every byte that crosses the wrapper books time on a shared schedule:
//! a transfer of `n` bytes at `rate` bytes per second occupies `n / rate`
//! seconds, starting when the previous booking ends (or now, if the link
//! has been idle). The caller sleeps until its booking ends, so however
//! many threads transfer at once, the average rate over any stretch of
//! busy time stays at or below the limit. Idle time is not saved up for
//! later bursts.

use crate::{Backend, FileInfo, FileType, Result};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One direction's schedule: when the bytes booked so far will have
/// passed at the allowed rate.
#[derive(Debug)]
struct Pace {
    bytes_per_second: u64,
    busy_until: Mutex<Option<Instant>>,
}

impl Pace {
    fn new(bytes_per_second: u64) -> Self {
        Pace {
            bytes_per_second: bytes_per_second.max(1),
            busy_until: Mutex::new(None),
        }
    }

    /// Books `bytes` at `now` and returns the instant they have passed.
    fn book(&self, bytes: u64, now: Instant) -> Instant {
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
        let mut busy = self.busy_until.lock().unwrap_or_else(|e| e.into_inner());
        let start = match *busy {
            Some(t) if t > now => t,
            _ => now,
        };
        let end = start + cost;
        *busy = Some(end);
        end
    }

    /// Books `bytes` now and sleeps until they have passed.
    fn wait(&self, bytes: u64) {
        let now = Instant::now();
        let end = self.book(bytes, now);
        if end > now {
            std::thread::sleep(end - now);
        }
    }
}

/// Limits the bytes per second written to and read from the inner
/// backend. Listings and small metadata calls are not limited.
pub struct RateLimitBackend {
    inner: Arc<dyn Backend>,
    upload: Option<Pace>,
    download: Option<Pace>,
}

impl RateLimitBackend {
    /// Wraps `inner`; `None` leaves a direction unlimited. Rates are in
    /// bytes per second (restic's flags take KiB/s: multiply by 1024).
    pub fn new(
        inner: Arc<dyn Backend>,
        upload_bytes_per_second: Option<u64>,
        download_bytes_per_second: Option<u64>,
    ) -> Self {
        RateLimitBackend {
            inner,
            upload: upload_bytes_per_second.map(Pace::new),
            download: download_bytes_per_second.map(Pace::new),
        }
    }

    fn downloaded(&self, data: Result<Vec<u8>>) -> Result<Vec<u8>> {
        if let (Ok(bytes), Some(pace)) = (&data, &self.download) {
            pace.wait(bytes.len() as u64);
        }
        data
    }
}

impl Backend for RateLimitBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> Result<()> {
        self.inner.create()
    }

    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>> {
        self.inner.list(file_type)
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        self.downloaded(self.inner.read(file_type, name))
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        self.downloaded(self.inner.read_range(file_type, name, offset, length))
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        if let Some(pace) = &self.upload {
            pace.wait(data.len() as u64);
        }
        self.inner.write(file_type, name, data)
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        self.inner.remove(file_type, name)
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        self.inner.stat(file_type, name)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalBackend;

    #[test]
    fn bookings_queue_behind_each_other_and_idle_time_is_not_saved() {
        let pace = Pace::new(1000);
        let t0 = Instant::now();
        assert_eq!(pace.book(500, t0), t0 + Duration::from_millis(500));
        // A second transfer at the same moment waits for the first.
        assert_eq!(pace.book(1000, t0), t0 + Duration::from_millis(1500));
        // After a long idle stretch the schedule starts from now again.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(pace.book(250, later), later + Duration::from_millis(250));
    }

    #[test]
    fn transfers_take_at_least_size_over_rate() {
        let dir = tempfile::tempdir().unwrap();
        let local = Arc::new(LocalBackend::new(dir.path()));
        local.create().unwrap();
        let be = RateLimitBackend::new(local, Some(40_000), Some(40_000));
        let data = vec![7u8; 10_000];
        let start = Instant::now();
        for i in 0..3 {
            be.write(FileType::Snapshot, &format!("{i:02}"), &data)
                .unwrap();
        }
        // 30,000 bytes at 40,000 B/s: at least 0.75 s.
        assert!(start.elapsed() >= Duration::from_millis(740));
        let start = Instant::now();
        assert_eq!(be.read(FileType::Snapshot, "00").unwrap(), data);
        assert_eq!(
            be.read_range(FileType::Snapshot, "01", 0, 10_000).unwrap(),
            data
        );
        assert!(start.elapsed() >= Duration::from_millis(490));
        // Listing is not paced.
        assert_eq!(be.list(FileType::Snapshot).unwrap().len(), 3);
    }

    #[test]
    fn unlimited_directions_pass_straight_through() {
        let dir = tempfile::tempdir().unwrap();
        let local = Arc::new(LocalBackend::new(dir.path()));
        local.create().unwrap();
        let be = RateLimitBackend::new(local, None, Some(1));
        let start = Instant::now();
        be.write(FileType::Snapshot, "aa", &vec![0u8; 1 << 20])
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(30));
    }
}
