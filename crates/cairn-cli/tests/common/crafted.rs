//! Fixtures made by crafting a repository (`cairn::testing`) instead of
//! copying one restic wrote: for snapshots restic would never write.

use super::{run_from_output, Fixture, Run, Tool};
use cairn::testing::{Crafter, PASSWORD};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

/// Resource limits for one `cairn` run, so that a test notices a command
/// that would need more stack or memory than it should.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// `RLIMIT_STACK`: the main thread's stack, in bytes.
    pub stack: Option<u64>,
    /// `RLIMIT_AS`: the whole address space, in bytes.
    pub address_space: Option<u64>,
    /// Throw stdout away instead of collecting it (for huge listings).
    pub discard_stdout: bool,
}

impl Fixture {
    /// An empty repository of format `version` with a [`Crafter`] to fill
    /// it; run `cairn` on it as on any fixture (after the crafter's last
    /// snapshot, or [`Crafter::flush`]).
    pub fn crafted(version: u32) -> (Fixture, Crafter) {
        let dir = tempfile::Builder::new()
            .prefix(&format!("cairn-it-crafted-v{version}-"))
            .tempdir()
            .unwrap();
        let repo = dir.path().join("repo");
        let crafter = Crafter::init(&repo, version).expect("init crafted repository");
        let password_file = dir.path().join("password");
        fs::write(&password_file, PASSWORD).unwrap();
        let fixture = Fixture {
            name: format!("crafted-v{version}"),
            dir,
            repo,
            password_file,
        };
        (fixture, crafter)
    }

    /// Runs `cairn` with `args` under `limits`. glibc is held to two
    /// malloc arenas, so that the address space a run needs does not grow
    /// with the machine's core count.
    pub fn cairn_limited<I, S>(&self, limits: Limits, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut cmd = self.command(Tool::Cairn);
        cmd.args(&args).env("MALLOC_ARENA_MAX", "2");
        if limits.discard_stdout {
            cmd.stdout(Stdio::null());
        }
        let Limits {
            stack,
            address_space,
            ..
        } = limits;
        // SAFETY: the closure runs in the child between fork and exec; it
        // only calls setrlimit, which is async-signal-safe, with a struct
        // on its own stack, and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                for (resource, bytes) in [
                    (libc::RLIMIT_STACK, stack),
                    (libc::RLIMIT_AS, address_space),
                ] {
                    if let Some(bytes) = bytes {
                        let limit = libc::rlimit {
                            rlim_cur: bytes,
                            rlim_max: bytes,
                        };
                        if libc::setrlimit(resource, &limit) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                }
                Ok(())
            });
        }
        let out = cmd.output().expect("start cairn");
        run_from_output(Tool::Cairn, args, out)
    }
}
