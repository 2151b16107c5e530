//! A thread that calls a function at a fixed interval until stopped
//! (restic's progress `Updater`).

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// Calls a function every interval on its own thread; stopped (and
/// joined) by [`Ticker::stop`] or when dropped.
pub struct Ticker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Calls `tick` every `interval`, the first time after one interval.
    pub fn start(interval: Duration, tick: impl Fn() + Send + 'static) -> Ticker {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cairn-progress".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => tick(),
                    _ => return,
                }
            })
            .ok();
        Ticker {
            stop: Some(stop),
            thread,
        }
    }

    /// Stops the calls and waits for a running one to end.
    pub fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn ticks_until_stopped() {
        let n = Arc::new(AtomicU32::new(0));
        let counted = n.clone();
        let mut t = Ticker::start(Duration::from_millis(10), move || {
            counted.fetch_add(1, Ordering::Relaxed);
        });
        std::thread::sleep(Duration::from_millis(100));
        t.stop();
        let after_stop = n.load(Ordering::Relaxed);
        assert!(after_stop >= 3, "ticked {after_stop} times");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(n.load(Ordering::Relaxed), after_stop);
    }
}
