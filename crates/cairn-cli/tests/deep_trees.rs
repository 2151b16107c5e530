//! Snapshots nested far deeper than any real directory: every command
//! that walks trees keeps its own stack of open directories, so neither
//! 10,000 levels under a small stack nor 100,000 levels under the usual
//! one overflow the main thread's stack (which would abort the process
//! with SIGSEGV/SIGABRT and leave its lock behind).

mod common;

use cairn::testing::{dir, file, Crafter};
use common::crafted::Limits;
use common::process::count_stdout_lines;
use common::Fixture;
use std::process::Stdio;

/// A v2 repository with one snapshot: `depth` directories `d`, each in
/// the one before, the last holding a file `f` of five bytes.
fn chain_fixture(depth: usize) -> Fixture {
    let (f, mut c): (Fixture, Crafter) = Fixture::crafted(2);
    let blob = c.data(b"hello").unwrap();
    let leaf = c.tree(vec![file("f", &[blob], 5)]).unwrap();
    let top = c.chain(depth, leaf).unwrap();
    let root = c.tree(vec![dir("top", top)]).unwrap();
    c.snapshot(root).unwrap();
    f
}

/// A main-thread stack 8 times smaller than the usual 8 MiB, so that a
/// walk by recursion overflows at 10,000 levels.
const SMALL_STACK: u64 = 1 << 20;

#[test]
fn ten_thousand_levels_list_completely_on_a_small_stack() {
    let depth = 10_000;
    let f = chain_fixture(depth);
    // Stream ls's output: its lines hold paths up to 20 KB long.
    let mut cmd = f.command(common::Tool::Cairn);
    cmd.args(["ls", "latest"]).stdout(Stdio::piped());
    // SAFETY: only setrlimit (async-signal-safe) between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: SMALL_STACK,
                rlim_max: SMALL_STACK,
            };
            if libc::setrlimit(libc::RLIMIT_STACK, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let (lines, last, out) = count_stdout_lines(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The header, /top, `depth` directories and the file.
    assert_eq!(lines, 1 + 1 + depth + 1, "{stderr}");
    let expected = format!("/top{}/f\n", "/d".repeat(depth));
    assert_eq!(String::from_utf8_lossy(&last), expected);

    let small = Limits {
        stack: Some(SMALL_STACK),
        discard_stdout: true,
        ..Limits::default()
    };
    for args in [
        &["find", "latest", "f"][..],
        &["dump", "latest", "/"],
        &["dump", "--archive", "zip", "latest", "/"],
        &["stats", "latest"],
        &["stats", "--mode", "raw-data", "latest"],
        &["stats", "--mode", "blobs-per-file", "latest"],
        &["diff", "latest", "latest"],
        &["check"],
        &["rewrite", "--exclude", "no-such-name", "latest"],
        &["prune"],
    ] {
        f.cairn_limited(small, args).ok();
    }
}

/// 100,000 levels on the usual stack. `ls`, `find` and `dump` print every
/// node's full path, 10 GB in all at this depth, so they are tested above
/// at 10,000 levels on an 8 times smaller stack (the same as 80,000
/// levels on the usual one); here the commands whose work grows with the
/// number of nodes, not with the sum of path lengths.
#[test]
fn a_hundred_thousand_levels_walk_without_overflow() {
    let f = chain_fixture(100_000);
    let stats = f.cairn(["stats", "latest"]).ok();
    assert!(
        stats.stdout_str().contains("Total File Count:  100002"),
        "{}",
        stats.describe()
    );
    f.cairn(["stats", "--mode", "raw-data", "latest"]).ok();
    f.cairn(["diff", "latest", "latest"]).ok();
    f.cairn(["check"]).ok();
}
