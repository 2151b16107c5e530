//! `cairn init` + `cairn backup` against the real restic 0.14: repositories
//! Cairn writes pass `restic check --read-data` and restore (with restic and
//! with Cairn) to the source tree; both tools share repositories, dedup each
//! other's data, and select the same files for the same flags.
//!
//! Needs root (device nodes, other owners) and restic on PATH, like CI.

#[macro_use]
mod common;
#[path = "backup_support/mod.rs"]
mod backup_support;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use backup_support::fstree::{self, build_full, build_random_files, copy_all, prng, write};
use backup_support::{num, snapshot_id, summary, to_run, Repo};
use common::Tool;

/// Back up a full tree into a fresh Cairn repository with `extra` global
/// flags, `restic check --read-data`, and restore with both tools.
fn full_tree_roundtrip(name: &str, version: u32, extra: &[&str]) {
    let r = Repo::init(name, Tool::Cairn, version);
    let src = r.path("src");
    build_full(&src);
    let mut args: Vec<&std::ffi::OsStr> = extra.iter().map(|s| s.as_ref()).collect();
    args.push(src.as_os_str());
    let s = r.backup(Tool::Cairn, &args);
    let id = snapshot_id(&s);
    assert!(num(&s, "data_blobs") > 10, "{s}");
    r.check(true);
    r.assert_restores(Tool::Restic, &id, &src, &src);
    r.assert_restores(Tool::Cairn, &id, &src, &src);
}

#[test]
fn v1_full_tree_passes_check_and_restores() {
    full_tree_roundtrip("v1", 1, &[]);
}

#[test]
fn v2_full_tree_every_compression_mode() {
    for mode in ["auto", "off", "fastest", "better", "max"] {
        full_tree_roundtrip(&format!("v2-{mode}"), 2, &["--compression", mode]);
    }
}

/// `--pack-size 4` with ~22 MiB of incompressible data: several packs, none
/// much larger than 4 MiB, and restic reads them all back.
#[test]
fn pack_size_4_makes_several_valid_packs() {
    let r = Repo::init("packsize", Tool::Cairn, 2);
    let src = r.path("src");
    build_random_files(&src, 11, 2 << 20, 7);
    r.backup(
        Tool::Cairn,
        [OsStrLit("--pack-size"), OsStrLit("4"), src.as_os_str()],
    );
    let packs = r.repo_files("data");
    assert!(
        packs.len() >= 5,
        "expected >= 5 packs of 4 MiB for 22 MiB, got {}",
        packs.len()
    );
    for p in &packs {
        let len = fs::metadata(p).unwrap().len();
        assert!(
            len <= (4 << 20) + (8 << 20),
            "pack {} is {len} bytes",
            p.display()
        );
    }
    let big = packs
        .iter()
        .filter(|p| fs::metadata(p).unwrap().len() >= 3 << 20)
        .count();
    assert!(big >= 4, "packs should be about 4 MiB each: {packs:?}");
    r.check(true);
    let id = r.snapshots()[0]["id"].as_str().unwrap().to_owned();
    r.assert_restores(Tool::Restic, &id, &src, &src);
}

#[allow(non_snake_case)]
fn OsStrLit(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}
