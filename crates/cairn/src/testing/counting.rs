//! A store that counts the reads reaching it, per file type and file: for
//! tests that prove a cache or an incremental loader reads only what it
//! must.

use cairn_backend::{Backend, FileInfo, FileType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Reads counted by a [`CountingBackend`], per (file type, name).
#[derive(Debug, Default)]
pub struct ReadCounts(Mutex<HashMap<(FileType, String), usize>>);

impl ReadCounts {
    /// Reads (whole or ranged) of files of type `t`.
    pub fn of_type(&self, t: FileType) -> usize {
        let m = self.0.lock().unwrap();
        m.iter()
            .filter(|((ft, _), _)| *ft == t)
            .map(|(_, n)| n)
            .sum()
    }

    /// Reads of one file.
    pub fn of_file(&self, t: FileType, name: &str) -> usize {
        let m = self.0.lock().unwrap();
        m.get(&(t, name.to_string())).copied().unwrap_or(0)
    }

    fn add(&self, t: FileType, name: &str) {
        *self.0.lock().unwrap().entry((t, name.into())).or_default() += 1;
    }
}

/// Passes every call to `inner` and counts reads in `counts`.
pub struct CountingBackend {
    inner: Arc<dyn Backend>,
    counts: Arc<ReadCounts>,
}

impl CountingBackend {
    /// A counting wrapper around `inner`, and the counts it keeps.
    pub fn new(inner: Arc<dyn Backend>) -> (CountingBackend, Arc<ReadCounts>) {
        let counts = Arc::new(ReadCounts::default());
        let backend = CountingBackend {
            inner,
            counts: counts.clone(),
        };
        (backend, counts)
    }
}

impl Backend for CountingBackend {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn create(&self) -> cairn_backend::Result<()> {
        self.inner.create()
    }
    fn list(&self, t: FileType) -> cairn_backend::Result<Vec<FileInfo>> {
        self.inner.list(t)
    }
    fn read(&self, t: FileType, name: &str) -> cairn_backend::Result<Vec<u8>> {
        self.counts.add(t, name);
        self.inner.read(t, name)
    }
    fn read_range(
        &self,
        t: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> cairn_backend::Result<Vec<u8>> {
        self.counts.add(t, name);
        self.inner.read_range(t, name, offset, length)
    }
    fn write(&self, t: FileType, name: &str, data: &[u8]) -> cairn_backend::Result<()> {
        self.inner.write(t, name, data)
    }
    fn remove(&self, t: FileType, name: &str) -> cairn_backend::Result<()> {
        self.inner.remove(t, name)
    }
    fn stat(&self, t: FileType, name: &str) -> cairn_backend::Result<FileInfo> {
        self.inner.stat(t, name)
    }
    fn has_atomic_replace(&self) -> bool {
        self.inner.has_atomic_replace()
    }
}
