//! Injected failures, for tests.

use crate::{Backend, BackendError, FileInfo, FileType, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The kinds of operation a fault can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`Backend::create`].
    Create,
    /// [`Backend::list`].
    List,
    /// [`Backend::read`].
    Read,
    /// [`Backend::read_range`].
    ReadRange,
    /// [`Backend::write`].
    Write,
    /// [`Backend::remove`].
    Remove,
    /// [`Backend::stat`].
    Stat,
}

/// What happens to a targeted operation.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Fails with a transient error without reaching the inner backend.
    Fail,
    /// Fails with a permanent error (HTTP 400) without reaching the
    /// inner backend.
    FailPermanent,
    /// Sleeps this long, then runs the operation normally.
    Hang(Duration),
    /// Keeps only the first N bytes (reads, and writes, which then store
    /// the shortened data and report success, like a store that lies) or
    /// the first N entries (lists). No effect on other operations.
    Truncate(usize),
}

#[derive(Clone, Debug)]
struct Rule {
    op: Op,
    from: u64,
    count: u64,
    fault: Fault,
}

/// Wraps a backend and makes chosen operations misbehave. Operations are
/// counted per kind from 1; a rule applies to `count` operations of its
/// kind starting at the `from`-th.
///
/// ```
/// use cairn_backend::{Backend, FaultBackend, Fault, FileType, LocalBackend, Op};
/// use std::sync::Arc;
/// let dir = tempfile::tempdir().unwrap();
/// let be = FaultBackend::new(Arc::new(LocalBackend::new(dir.path())));
/// be.create().unwrap();
/// be.inject(Op::Write, 1, Fault::Fail);
/// assert!(be.write(FileType::Key, "k", b"x").unwrap_err().is_transient());
/// be.write(FileType::Key, "k", b"x").unwrap();
/// assert_eq!(be.count(Op::Write), 2);
/// ```
pub struct FaultBackend {
    inner: Arc<dyn Backend>,
    rules: Mutex<Vec<Rule>>,
    counts: Mutex<HashMap<Op, u64>>,
}

impl FaultBackend {
    /// Wraps `inner` with no faults yet.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        FaultBackend {
            inner,
            rules: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Applies `fault` to the `nth` operation of kind `op` (1-based).
    pub fn inject(&self, op: Op, nth: u64, fault: Fault) {
        self.inject_range(op, nth, 1, fault);
    }

    /// Applies `fault` to `count` operations of kind `op` from the
    /// `from`-th on (`u64::MAX` for all of them).
    pub fn inject_range(&self, op: Op, from: u64, count: u64, fault: Fault) {
        self.rules.lock().unwrap().push(Rule {
            op,
            from,
            count,
            fault,
        });
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// How many operations of a kind have been started.
    pub fn count(&self, op: Op) -> u64 {
        self.counts.lock().unwrap().get(&op).copied().unwrap_or(0)
    }

    /// Counts the operation and returns the fault for it, if any; hangs
    /// and failures are carried out here.
    fn enter(&self, op: Op, what: &str) -> Result<Option<usize>> {
        let n = {
            let mut counts = self.counts.lock().unwrap();
            let c = counts.entry(op).or_insert(0);
            *c += 1;
            *c
        };
        let fault = self
            .rules
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.op == op && n >= r.from && n - r.from < r.count)
            .map(|r| r.fault.clone());
        match fault {
            None => Ok(None),
            Some(Fault::Fail) => Err(BackendError::transient(
                what.to_string(),
                format!("injected fault ({op:?} #{n})"),
            )),
            Some(Fault::FailPermanent) => Err(BackendError::Http {
                status: 400,
                context: format!("{what}: injected fault ({op:?} #{n})"),
            }),
            Some(Fault::Hang(d)) => {
                std::thread::sleep(d);
                Ok(None)
            }
            Some(Fault::Truncate(len)) => Ok(Some(len)),
        }
    }
}

fn cut<T>(mut v: Vec<T>, len: Option<usize>) -> Vec<T> {
    if let Some(len) = len {
        v.truncate(len);
    }
    v
}

impl Backend for FaultBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> Result<()> {
        self.enter(Op::Create, "create")?;
        self.inner.create()
    }

    fn list(&self, file_type: FileType) -> Result<Vec<FileInfo>> {
        let t = self.enter(Op::List, &format!("list {file_type}"))?;
        Ok(cut(self.inner.list(file_type)?, t))
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        let t = self.enter(Op::Read, &format!("read {file_type}/{name}"))?;
        Ok(cut(self.inner.read(file_type, name)?, t))
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        let t = self.enter(Op::ReadRange, &format!("read {file_type}/{name}"))?;
        Ok(cut(
            self.inner.read_range(file_type, name, offset, length)?,
            t,
        ))
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        let t = self.enter(Op::Write, &format!("write {file_type}/{name}"))?;
        let data = match t {
            Some(len) => &data[..len.min(data.len())],
            None => data,
        };
        self.inner.write(file_type, name, data)
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        self.enter(Op::Remove, &format!("remove {file_type}/{name}"))?;
        self.inner.remove(file_type, name)
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        self.enter(Op::Stat, &format!("stat {file_type}/{name}"))?;
        self.inner.stat(file_type, name)
    }

    fn has_atomic_replace(&self) -> bool {
        self.inner.has_atomic_replace()
    }
}
