//! `--metrics-file` and `--metrics-push`: the metrics of a run of
//! `backup`, `forget`, `prune`, `check`, `copy` or `restore`, written
//! when the command ends, however it ends (success, error, partial
//! backup, interruption), with the exit code it ends with.
//!
//! [`start`] begins the run before the command; the command adds its
//! identity and figures as they come ([`set_backup_set`], [`add`]);
//! [`finish`] writes the file and pushes. The work is the library's
//! (`cairn::metrics`).

use crate::global::GlobalOptions;
use cairn::metrics::{CommandRun, Figure};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// The commands that report metrics.
pub const COMMANDS: [&str; 6] = ["backup", "forget", "prune", "check", "copy", "restore"];

/// The run being recorded and where it goes.
struct Recording {
    run: CommandRun,
    file: Option<PathBuf>,
    push: Option<String>,
}

static RECORDING: Mutex<Option<Recording>> = Mutex::new(None);

fn with_recording(f: impl FnOnce(&mut Recording)) {
    let mut guard = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = guard.as_mut() {
        f(r);
    }
}

/// Starts recording a run of `command` if it reports metrics and
/// `--metrics-file` or `--metrics-push` is given. The repository label is
/// the location without secrets (empty if it cannot be read).
pub fn start(global: &GlobalOptions, command: &str) {
    if !COMMANDS.contains(&command) {
        return;
    }
    let file = global
        .metrics_file
        .clone()
        .filter(|p| !p.as_os_str().is_empty());
    let push = global.metrics_push.clone().filter(|u| !u.is_empty());
    if file.is_none() && push.is_none() {
        return;
    }
    let location = global.location().unwrap_or_default();
    let run = CommandRun::new(
        command,
        &location,
        &cairn::host::hostname(),
        SystemTime::now(),
    );
    *RECORDING.lock().unwrap_or_else(|e| e.into_inner()) = Some(Recording { run, file, push });
}

/// Identifies a backup run by its set: the host it is recorded for, its
/// paths (made absolute as in the snapshot) and tags.
pub fn set_backup_set(host: Option<&str>, paths: &[PathBuf], tags: &[String]) {
    let paths: Vec<String> = paths
        .iter()
        .map(|p| {
            let abs = cairn::backup::absolute_path(p).unwrap_or_else(|_| p.clone());
            abs.to_string_lossy().into_owned()
        })
        .collect();
    with_recording(|r| {
        if let Some(host) = host {
            r.run.set_host(host);
        }
        r.run.set_backup_set(&paths, tags);
    });
}

/// Adds a command's figures to the run (none if not recording).
pub fn add(figures: Vec<Figure>) {
    with_recording(|r| r.run.figures.extend(figures));
}

/// Ends the run with `exit_code`: writes the metrics file and, if `push`
/// and `--metrics-push` is given, pushes to the Pushgateway. Problems
/// are warnings on standard error; they never change the exit code. Runs
/// once (later calls find nothing to write).
pub fn finish(exit_code: i32, push: bool) {
    let taken = RECORDING.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(mut recording) = taken else { return };
    recording.run.finish(SystemTime::now(), exit_code);
    if let Some(path) = &recording.file {
        if let Err(e) = cairn::metrics::write_metrics_file(path, &recording.run) {
            let _ = writeln!(
                std::io::stderr(),
                "Warning: cannot write the metrics file: {e}"
            );
        }
    }
    if let (Some(url), true) = (&recording.push, push) {
        let metrics = recording.run.to_metrics(None);
        if let Err(e) = cairn::metrics::push_to_gateway(url, &recording.run, &metrics) {
            let _ = writeln!(std::io::stderr(), "Warning: {e}");
        }
    }
}
