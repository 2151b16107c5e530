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
    /// Flips the bits of one byte in the middle of what a read returns
    /// (a body damaged in transit), or garbles the first listed name so
    /// that it is no longer a valid file name (lists). No effect on other
    /// operations.
    Corrupt,
}

#[derive(Clone, Debug)]
struct Rule {
    op: Op,
    /// Only operations on this file, counted per file, when set.
    file: Option<String>,
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
    file_counts: Mutex<HashMap<(Op, String), u64>>,
    atomic_replace: Option<bool>,
}

impl FaultBackend {
    /// Wraps `inner` with no faults yet.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        FaultBackend {
            inner,
            rules: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
            file_counts: Mutex::new(HashMap::new()),
            atomic_replace: None,
        }
    }

    /// Reports `atomic` from [`Backend::has_atomic_replace`] instead of
    /// what the inner backend says (to act as a store like rest-server
    /// that removes before it writes).
    pub fn with_atomic_replace(mut self, atomic: bool) -> Self {
        self.atomic_replace = Some(atomic);
        self
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
            file: None,
            from,
            count,
            fault,
        });
    }

    /// Applies `fault` to `count` operations of kind `op` on the file
    /// called `name` (any type), counted per file from the `from`-th on.
    /// For lists, `name` is the folder (`"snapshots"`, `"data"`, ...).
    pub fn inject_file(&self, op: Op, name: &str, from: u64, count: u64, fault: Fault) {
        self.rules.lock().unwrap().push(Rule {
            op,
            file: Some(name.to_string()),
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
    fn enter(&self, op: Op, what: &str) -> Result<Option<Fault>> {
        self.enter_file(op, None, what)
    }

    fn enter_file(&self, op: Op, file: Option<&str>, what: &str) -> Result<Option<Fault>> {
        let n = {
            let mut counts = self.counts.lock().unwrap();
            let c = counts.entry(op).or_insert(0);
            *c += 1;
            *c
        };
        let per_file = file.map(|name| {
            let mut counts = self.file_counts.lock().unwrap();
            let c = counts.entry((op, name.to_string())).or_insert(0);
            *c += 1;
            *c
        });
        let applies = |r: &Rule| {
            let n = match (&r.file, file, per_file) {
                (None, _, _) => n,
                (Some(want), Some(name), Some(k)) if want == name => k,
                _ => return false,
            };
            r.op == op && n >= r.from && n - r.from < r.count
        };
        let fault = self
            .rules
            .lock()
            .unwrap()
            .iter()
            .find(|r| applies(r))
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
            Some(f @ (Fault::Truncate(_) | Fault::Corrupt)) => Ok(Some(f)),
        }
    }
}

/// Applies a read fault to returned bytes.
fn damage(mut v: Vec<u8>, fault: Option<Fault>) -> Vec<u8> {
    match fault {
        Some(Fault::Truncate(len)) => v.truncate(len),
        Some(Fault::Corrupt) if !v.is_empty() => {
            let mid = v.len() / 2;
            v[mid] ^= 0xff;
        }
        _ => {}
    }
    v
}

/// Applies a list fault to returned entries.
fn damage_list(mut v: Vec<FileInfo>, fault: Option<Fault>) -> Vec<FileInfo> {
    match fault {
        Some(Fault::Truncate(len)) => v.truncate(len),
        Some(Fault::Corrupt) => {
            if let Some(first) = v.first_mut() {
                // A byte lost in transit: no longer 64 hex digits.
                first.name.pop();
                first.name.push('~');
            }
        }
        _ => {}
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
        let t = self.enter_file(
            Op::List,
            Some(file_type.dir_name()),
            &format!("list {file_type}"),
        )?;
        Ok(damage_list(self.inner.list(file_type)?, t))
    }

    fn read(&self, file_type: FileType, name: &str) -> Result<Vec<u8>> {
        let t = self.enter_file(Op::Read, Some(name), &format!("read {file_type}/{name}"))?;
        Ok(damage(self.inner.read(file_type, name)?, t))
    }

    fn read_range(
        &self,
        file_type: FileType,
        name: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>> {
        let t = self.enter_file(
            Op::ReadRange,
            Some(name),
            &format!("read {file_type}/{name}"),
        )?;
        Ok(damage(
            self.inner.read_range(file_type, name, offset, length)?,
            t,
        ))
    }

    fn write(&self, file_type: FileType, name: &str, data: &[u8]) -> Result<()> {
        let t = self.enter_file(Op::Write, Some(name), &format!("write {file_type}/{name}"))?;
        let data = match t {
            Some(Fault::Truncate(len)) => &data[..len.min(data.len())],
            _ => data,
        };
        self.inner.write(file_type, name, data)
    }

    fn remove(&self, file_type: FileType, name: &str) -> Result<()> {
        self.enter_file(
            Op::Remove,
            Some(name),
            &format!("remove {file_type}/{name}"),
        )?;
        self.inner.remove(file_type, name)
    }

    fn stat(&self, file_type: FileType, name: &str) -> Result<FileInfo> {
        self.enter(Op::Stat, &format!("stat {file_type}/{name}"))?;
        self.inner.stat(file_type, name)
    }

    fn has_atomic_replace(&self) -> bool {
        self.atomic_replace
            .unwrap_or_else(|| self.inner.has_atomic_replace())
    }

    fn list_temp(&self, file_type: FileType) -> Result<Vec<crate::TempFile>> {
        self.inner.list_temp(file_type)
    }

    fn remove_temp(&self, file_type: FileType, name: &str) -> Result<()> {
        self.inner.remove_temp(file_type, name)
    }
}
