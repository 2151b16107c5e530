//! Exit codes and the one-line error report, as restic uses them.

use std::sync::atomic::{AtomicBool, Ordering};

/// A fatal error.
pub const FATAL: i32 = 1;
/// Some files could not be read; the command still finished (backup).
pub const PARTIAL: i32 = 3;
/// The repository does not exist.
pub const NO_REPOSITORY: i32 = 10;
/// The repository could not be locked.
pub const LOCK_FAILED: i32 = 11;
/// Wrong password.
pub const WRONG_PASSWORD: i32 = 12;
/// Interrupted by a signal.
pub const INTERRUPTED: i32 = 130;

static INTERRUPTED_FLAG: AtomicBool = AtomicBool::new(false);

/// An error that carries its own exit code (for "done, but with errors").
#[derive(Debug)]
pub struct ExitCode(pub i32, pub String);

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for ExitCode {}

/// Lets a closed pipe end the process quietly, as it ends restic:
/// `cairn ls latest | head` must not panic when `head` exits.
pub fn restore_sigpipe() {
    // SAFETY: called first thing in main, before any other thread exists;
    // setting a signal's disposition to SIG_DFL installs no handler code
    // and has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// How long a command may take to wind down after Ctrl-C before the
/// process exits anyway.
const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// On Ctrl-C (or SIGTERM): ask the running operation to stop, so that it
/// unwinds, removes its lock and exits with 130. A second signal, or a
/// command that does not stop within [`GRACE`], exits at once.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED_FLAG.swap(true, Ordering::SeqCst) {
            std::process::exit(INTERRUPTED);
        }
        eprintln!("signal interrupt received, cleaning up");
        cairn::interrupt::request();
        std::thread::spawn(|| {
            std::thread::sleep(GRACE);
            std::process::exit(INTERRUPTED);
        });
    });
}

/// Prints the error (one line, restic's `Fatal:` prefix) and picks the
/// exit code.
pub fn report(result: anyhow::Result<()>) -> i32 {
    let Err(err) = result else { return 0 };
    if let Some(ExitCode(code, msg)) = err.downcast_ref::<ExitCode>() {
        if !msg.is_empty() {
            eprintln!("{msg}");
        }
        return *code;
    }
    let code = match err.downcast_ref::<cairn::Error>() {
        Some(cairn::Error::NoRepository { .. }) => NO_REPOSITORY,
        Some(cairn::Error::WrongPassword) => WRONG_PASSWORD,
        Some(cairn::Error::Locked { .. }) => LOCK_FAILED,
        Some(cairn::Error::Interrupted) => INTERRUPTED,
        _ => FATAL,
    };
    // One line: the chain of causes joined, as restic does with wrapping.
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    eprintln!("Fatal: {}", line.replace('\n', " "));
    code
}
