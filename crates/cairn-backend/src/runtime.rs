//! Blocking calls that are safe from any thread, a tokio task's included.
//!
//! Backends are synchronous, but several drive async clients (object
//! stores, SFTP, rclone) on tokio runtimes of their own, and the REST
//! backend drives reqwest's async client on a runtime of its own too.
//! Blocking on a runtime, or dropping one, from a thread that is running a
//! tokio runtime panics ("Cannot start a runtime from within a runtime").
//! An embedder calling a backend from an async task is such a caller, so
//! every blocking call goes through [`outside_runtime`]: on a plain thread
//! it runs in place; inside a runtime it runs on a short-lived helper
//! thread while the caller waits (blocking that worker, as any synchronous
//! call does).

/// Runs `f` where blocking is allowed: in place, or on a helper thread
/// when the calling thread is inside a tokio runtime. A panic in `f`
/// carries on in the caller.
pub(crate) fn outside_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("cairn-blocking".into())
            .spawn_scoped(s, f)
            .expect("cannot start a thread")
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A backend's own runtime: a few workers drive its client while callers
/// block on their requests through [`ClientRuntime::block_on`]. Dropping it
/// gives running tasks a second to end, from wherever it is dropped.
#[cfg(any(
    feature = "rest",
    feature = "s3",
    feature = "cloud",
    feature = "sftp",
    feature = "rclone"
))]
pub(crate) struct ClientRuntime(Option<tokio::runtime::Runtime>);

#[cfg(any(
    feature = "rest",
    feature = "s3",
    feature = "cloud",
    feature = "sftp",
    feature = "rclone"
))]
impl ClientRuntime {
    /// A runtime with one worker thread named `name`.
    #[cfg(any(feature = "sftp", feature = "rclone"))]
    pub(crate) fn new(name: &str) -> crate::Result<Self> {
        Self::with_workers(name, 1)
    }

    /// A runtime with `workers` worker threads named `name`.
    pub(crate) fn with_workers(name: &str, workers: usize) -> crate::Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name(name)
            .enable_all()
            .build()
            .map(|rt| ClientRuntime(Some(rt)))
            .map_err(|e| crate::BackendError::io(format!("cannot start the {name} client"), e))
    }

    /// Runs `fut` to completion on this runtime, from any thread.
    pub(crate) fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        let rt = self.0.as_ref().expect("live until dropped");
        outside_runtime(|| rt.block_on(fut))
    }
}

#[cfg(any(
    feature = "rest",
    feature = "s3",
    feature = "cloud",
    feature = "sftp",
    feature = "rclone"
))]
impl Drop for ClientRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            outside_runtime(move || rt.shutdown_timeout(std::time::Duration::from_secs(1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(
        feature = "s3",
        feature = "cloud",
        feature = "sftp",
        feature = "rclone"
    ))]
    #[test]
    fn blocks_on_a_runtime_from_inside_another() {
        let ours = ClientRuntime::with_workers("test-client", 1).unwrap();
        let callers = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = callers.block_on(async {
            let v = ours.block_on(async { 41 }) + 1;
            drop(ours);
            v
        });
        assert_eq!(got, 42);
    }

    #[test]
    fn panics_reach_the_caller() {
        let r = std::panic::catch_unwind(|| outside_runtime(|| panic!("boom")));
        assert!(r.is_err());
    }
}
