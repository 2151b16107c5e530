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
        ["--pack-size".as_ref(), "4".as_ref(), src.as_os_str()],
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


/// Cairn backs up into a repository restic made, and restic into one Cairn
/// made; both pass `check --read-data` and restore with both tools.
#[test]
fn cross_tool_repositories() {
    // restic init (version 1), Cairn backup
    let r = Repo::init("restic-made", Tool::Restic, 1);
    let src = r.path("src");
    build_full(&src);
    let id = snapshot_id(&r.backup(Tool::Cairn, [&src]));
    r.check(true);
    r.assert_restores(Tool::Restic, &id, &src, &src);
    r.assert_restores(Tool::Cairn, &id, &src, &src);

    // Cairn init (version 2), restic backup
    let c = Repo::init("cairn-made", Tool::Cairn, 2);
    let src = c.path("src");
    build_full(&src);
    let id = snapshot_id(&c.backup(Tool::Restic, [&src]));
    c.check(true);
    c.assert_restores(Tool::Cairn, &id, &src, &src);
}

/// One tree changed between rounds, backed up alternately by restic and
/// Cairn into one repository; each uses the other's snapshot as parent.
fn mutate(src: &Path, round: u64) {
    let p = |rel: &str| src.join(rel);
    write(&p("files/small.txt"), format!("round {round}\n").as_bytes());
    write(&p(&format!("new/round-{round}.bin")), &prng(600_000 + round as usize, 100 + round));
    let f = fs::OpenOptions::new().write(true).open(p("files/multi-chunk.bin")).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, &prng(1024, 200 + round), round * 700_000).unwrap();
    common::tree::set_xattr(&p("xattr/file"), "user.round", round.to_string().as_bytes());
    match round {
        1 => fs::remove_file(p("hardlinks/b")).unwrap(),
        2 => fstree::chmod(&p("perms/r0444"), 0o640),
        3 => fs::remove_file(p("files/medium.bin")).unwrap(),
        _ => fs::rename(p("deep/level1"), p("deep/moved")).unwrap(),
    }
}

#[test]
fn interleaved_backups_by_both_tools() {
    let r = Repo::init("interleaved", Tool::Cairn, 2);
    let src = r.path("src");
    build_full(&src);
    let states = r.scratch("states");
    let tools = [Tool::Restic, Tool::Cairn, Tool::Restic, Tool::Cairn, Tool::Restic];
    let mut files_total = 0;
    for (round, tool) in tools.iter().enumerate() {
        if round > 0 {
            mutate(&src, round as u64);
        }
        let s = r.backup(*tool, [&src]);
        let total = num(&s, "total_files_processed");
        if round == 0 {
            files_total = total;
        } else {
            // the other tool's snapshot was the parent: only the few files
            // `mutate` touched (and hard links whose ctime moved) were read
            assert!(
                num(&s, "files_unmodified") + 8 >= files_total,
                "round {round} ({}) did not use the parent from the other tool: {s}",
                tool.name()
            );
            assert!(num(&s, "files_new") + num(&s, "files_changed") >= 3, "{s}");
        }
        copy_all(&src, &states.join(format!("round-{round}")));
    }
    r.check(true);
    let snaps = r.snapshots();
    assert_eq!(snaps.len(), tools.len());
    for (round, sn) in snaps.iter().enumerate() {
        let id = sn["id"].as_str().unwrap();
        let want = states.join(format!("round-{round}"));
        for tool in [Tool::Restic, Tool::Cairn] {
            r.assert_restores(tool, id, &src, &want);
        }
    }
}

/// Files restic saved are not stored again by Cairn, and the other way
/// round: both chunk with the repository's polynomial and name blobs alike.
#[test]
fn dedup_with_restic_both_ways() {
    let r = Repo::init("dedup", Tool::Restic, 2);
    for (i, (first, second)) in [(Tool::Restic, Tool::Cairn), (Tool::Cairn, Tool::Restic)]
        .into_iter()
        .enumerate()
    {
        let src = r.path(&format!("src-{i}"));
        build_random_files(&src, 5, 4 << 20, 10 + i as u64);
        write(&src.join("text.txt"), &fstree::prtext(1 << 20, 20 + i as u64));
        let a = r.backup(first, [&src]);
        assert!(num(&a, "data_blobs") >= 10, "{a}");
        let b = r.backup(second, ["--force".as_ref(), src.as_os_str()]);
        assert_eq!(
            num(&b, "data_blobs"),
            0,
            "{} stored again data that {} had saved: {b}",
            second.name(),
            first.name()
        );
        assert!(num(&b, "data_added") < 64 << 10, "{} added more than trees: {b}", second.name());
        assert_eq!(num(&b, "total_bytes_processed"), num(&a, "total_bytes_processed"));
    }
    r.check(true);
}
