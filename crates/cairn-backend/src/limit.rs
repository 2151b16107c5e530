//! At most N operations in flight.

use crate::{Backend, FileInfo, FileType, Result};
use std::sync::{Arc, Condvar, Mutex};

/// A counting semaphore from std primitives.
struct Semaphore {
    free: Mutex<usize>,
    cond: Condvar,
}

struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.cond.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.cond.notify_one();
    }
}

/// Lets at most `limit` operations reach the inner backend at once;
/// the others wait their turn (restic's `connections` option).
pub struct LimitBackend {
    inner: Arc<dyn Backend>,
    sem: Semaphore,
    limit: usize,
}

impl LimitBackend {
    /// Wraps `inner` with a limit of `limit` (at least 1).
    pub fn new(inner: Arc<dyn Backend>, limit: usize) -> Self {
        let limit = limit.max(1);
        LimitBackend {
            inner,
            sem: Semaphore {
                free: Mutex::new(limit),
                cond: Condvar::new(),
            },
            limit,
        }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Backend for LimitBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> Result<()> {
        let _p = self.sem.acquire();
        self.inner.create()
    }

    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>> {
        let _p = self.sem.acquire();
        self.inner.list(file_type)
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        let _p = self.sem.acquire();
        self.inner.read(file_type, name)
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        let _p = self.sem.acquire();
        self.inner.read_range(file_type, name, offset, length)
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        let _p = self.sem.acquire();
        self.inner.write(file_type, name, data)
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        let _p = self.sem.acquire();
        self.inner.remove(file_type, name)
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        let _p = self.sem.acquire();
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
