//! `cairn` and restic 0.14 sharing a repository over SFTP: a private
//! OpenSSH server on 127.0.0.1, both tools reaching it through
//! `-o sftp.command="ssh -i KEY -p PORT ... -s sftp"`. Each writes, the
//! other reads, checks every byte and restores. A closed port and a
//! refused key give one error line and exit 1, quickly.
//!
//! Needs `openssh-server`, `openssh-client` and restic installed.

#[path = "../../cairn-backend/tests/support/sshd.rs"]
mod sshd;

#[path = "remote_support/mod.rs"]
mod remote_support;

use remote_support::process::free_port;
use remote_support::{cairn, error_lines, option, run, with_global};
use sshd::Sshd;
use std::time::{Duration, Instant};

#[test]
fn cairn_writes_restic_reads_over_sftp() {
    let server = Sshd::start();
    let repo = server.repo(&server.dir.path().join("repo"));
    remote_support::cairn_writes_restic_reads(&repo, &option(server.option()));
}

#[test]
fn restic_writes_cairn_reads_over_sftp() {
    let server = Sshd::start();
    let repo = server.repo(&server.dir.path().join("repo"));
    remote_support::restic_writes_cairn_reads(&repo, &option(server.option()));
}

#[test]
fn a_closed_port_or_a_refused_key_fail_in_one_line() {
    let server = Sshd::start();
    let repo = server.repo(&server.dir.path().join("repo"));
    let stranger = server.stranger_key();
    let cases = [
        (
            server.command_on(free_port(), &server.key()),
            "Connection refused",
        ),
        (
            server.command_on(server.port, &stranger),
            "Permission denied",
        ),
    ];
    for (command, wanted) in cases {
        let global = option(format!("sftp.command={command}"));
        let start = Instant::now();
        let out = run(&cairn(), &repo, &with_global(&global, &["snapshots"]), &[]);
        assert!(start.elapsed() < Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let lines = error_lines(&out);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("sftp"), "{}", lines[0]);
        assert!(lines[0].contains(wanted), "{}", lines[0]);
    }
}
