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

/// Set once the command line is read: fatal errors are then printed as
/// restic's `exit_error` JSON object (`--json`).
static JSON_ERRORS: AtomicBool = AtomicBool::new(false);

/// Makes [`print_exit_error`] write JSON (restic's `--json`).
pub fn set_json_errors(json: bool) {
    JSON_ERRORS.store(json, Ordering::Relaxed);
}

/// Prints the message a command ends with, as restic's `printExitError`:
/// the text on stderr, or with `--json` one line
/// `{"message_type":"exit_error","code":N,"message":"..."}`.
pub fn print_exit_error(code: i32, message: &str) {
    if JSON_ERRORS.load(Ordering::Relaxed) {
        let mut o = crate::output::JsonObject::default();
        o.set("message_type", "exit_error")
            .set("code", code)
            .set("message", message);
        eprintln!("{}", o.to_json());
    } else {
        eprintln!("{message}");
    }
}

/// A command-line error (clap's), reported as restic reports cobra's:
/// one line, exit 1. Help and version requests print as clap prints them.
pub fn usage_error(err: clap::Error) -> ! {
    use clap::error::{ContextKind, ErrorKind};
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // restic prints the help of a command without action and exits 0.
            let _ = err.print();
            std::process::exit(0);
        }
        _ => {}
    }
    let context = |kind| match err.get(kind) {
        Some(clap::error::ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let arg = context(ContextKind::InvalidArg).or_else(|| context(ContextKind::InvalidSubcommand));
    let message = match (err.kind(), arg) {
        (ErrorKind::UnknownArgument, Some(arg)) if arg.starts_with("--") => {
            format!("unknown flag: {}", arg.split('=').next().unwrap_or(&arg))
        }
        (ErrorKind::UnknownArgument, Some(arg)) if arg.starts_with('-') => {
            let letter = arg.chars().nth(1).unwrap_or('-');
            format!("unknown shorthand flag: '{letter}' in {arg}")
        }
        (ErrorKind::InvalidSubcommand, Some(name)) => {
            format!("unknown command {name:?} for \"cairn\"")
        }
        _ => {
            // clap's text up to its usage or tip, as one line.
            let text = err.render().to_string();
            let lines: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            lines.join(" ").trim_start_matches("error: ").to_string()
        }
    };
    print_exit_error(FATAL, &message);
    std::process::exit(FATAL);
}

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
            print_exit_error(*code, msg);
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
    print_exit_error(code, &format!("Fatal: {}", line.replace('\n', " ")));
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
