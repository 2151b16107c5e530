//! Exit codes and the one-line error report, as restic uses them.

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

/// An error that carries its own exit code (for "done, but with errors").
#[derive(Debug)]
pub struct ExitCode(pub i32, pub String);

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for ExitCode {}

/// Prints the error (one line, restic's `Fatal:` prefix) and picks the
/// exit code.
///
/// Two errors end the command quietly: after SIGINT/SIGTERM any outcome
/// is the interruption (130; the signal handler already said so), and a
/// broken pipe on a closed standard output is the reader's choice to stop
/// (see [`crate::panics`]). A broken pipe elsewhere (a socket the server
/// closed) is reported like any I/O error.
pub fn report(result: anyhow::Result<()>) -> i32 {
    // Interrupted is interrupted, even if the command still got to its
    // end within the grace period (restic would have exited at once).
    if crate::signals::was_interrupted() {
        return INTERRUPTED;
    }
    let Err(err) = result else { return 0 };
    if is_broken_pipe(&err) && crate::panics::stdout_is_closed() {
        crate::panics::die_of_closed_output();
    }
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

/// True if a cause of `err` is an EPIPE (also one that a library turned
/// into text, as the zip writer's errors are).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let text = format!("(os error {})", libc::EPIPE);
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause.to_string().contains(&text)
    })
}
