//! Panics and a closed standard output: neither may leave a lock behind.
//!
//! A closed standard output (`cairn ls latest | head -1`) ends the command
//! quietly, as it ends restic: Go kills a program whose write to stdout
//! fails with EPIPE by SIGPIPE, so restic prints nothing and the shell
//! sees 141 (128 + SIGPIPE). Cairn does the same (it dies of SIGPIPE), but
//! only after removing its locks, which restic does not. A closed
//! standard output shows up either as an error (writers that return
//! `io::Result`) that [`crate::exit::report`] maps here, or as the panic
//! of `print!`/`println!`, which the panic hook recognises.
//!
//! Any other panic, on any thread, removes the locks and exits with 2,
//! restic's code for a crash (a Go runtime error).

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};

/// restic's exit code for a crash (Go's for an unrecovered panic).
pub const CRASH: i32 = 2;

/// Set when a write to stdout or stderr panicked on a closed pipe.
static OUTPUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Installs the hook that makes a panic release the locks. With
/// `end_process` (every command but `cairn serve`, whose server survives
/// a panicking request as rest-server does), a panic on a thread other
/// than the main one ends the process; the main thread's panic unwinds to
/// [`run`], dropping what it holds on the way.
pub fn install_hook(end_process: bool) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let closed = is_closed_output(info.payload());
        if closed {
            OUTPUT_CLOSED.store(true, Ordering::SeqCst);
        } else {
            default(info);
        }
        if !end_process || std::thread::current().name() == Some("main") {
            return;
        }
        if closed {
            die_of_closed_output();
        }
        crate::signals::forced_exit(CRASH);
    }));
}

/// Runs the command; a panic that reaches here releases the locks and
/// gives [`CRASH`] (or the quiet end of a closed stdout).
pub fn run(command: impl FnOnce() -> anyhow::Result<()>) -> i32 {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(command)) {
        Ok(result) => crate::exit::report(result),
        Err(_) if OUTPUT_CLOSED.load(Ordering::SeqCst) => die_of_closed_output(),
        Err(_) => {
            crate::signals::release_locks();
            CRASH
        }
    }
}

/// True for the panic of `print!`/`println!` (or `eprint!`) on a closed
/// pipe: "failed printing to stdout: Broken pipe (os error 32)".
fn is_closed_output(payload: &(dyn Any + Send)) -> bool {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    msg.starts_with("failed printing to std")
        && msg.ends_with(&format!("(os error {})", libc::EPIPE))
}

/// True if standard output is a pipe (or socket) whose reader is gone.
pub fn stdout_is_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: `fd` is a valid, exclusively borrowed pollfd array of length
    // 1, alive for the whole call; a zero timeout makes poll(2) return at
    // once. It only writes `revents`.
    let rc = unsafe { libc::poll(&mut fd, 1, 0) };
    rc == 1 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// The quiet end of a command whose output has nowhere to go: remove the
/// locks, then die of SIGPIPE as restic does (exit status 141 in a shell).
pub fn die_of_closed_output() -> ! {
    crate::signals::release_locks();
    // SAFETY: signal(2) with SIG_DFL and raise(3) install no code of ours
    // and touch no memory of ours; the default action of SIGPIPE ends the
    // process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE)
}

/// Debug builds only, for the tests of the above: with
/// `CAIRN_TEST_CRASH_WITH_LOCK=main` the command panics right after
/// taking its lock, with the guard leaked (so only the registry of held
/// locks can remove it); with `=thread` another thread panics meanwhile.
/// Release builds return the guard untouched.
pub fn crash_if_asked(guard: cairn::LockGuard) -> cairn::LockGuard {
    #[cfg(debug_assertions)]
    match std::env::var("CAIRN_TEST_CRASH_WITH_LOCK").as_deref() {
        Ok("main") => {
            std::mem::forget(guard);
            panic!("crash requested by CAIRN_TEST_CRASH_WITH_LOCK");
        }
        Ok("thread") => {
            let worker = std::thread::spawn(|| {
                panic!("crash requested by CAIRN_TEST_CRASH_WITH_LOCK");
            });
            // The panic hook ends the process before this returns.
            let _ = worker.join();
            std::thread::sleep(std::time::Duration::from_secs(30));
        }
        _ => {}
    }
    guard
}
