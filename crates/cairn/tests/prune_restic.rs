//! `prune` and `repair index` against the real restic 0.14.
//!
//! Repositories are made by restic (several backups of a changing tree of
//! multi-chunk files, then `forget --keep-last 1`), pruned by Cairn, and
//! judged by restic: `check --read-data` must pass and the snapshot must
//! restore to what it restored to before. Cairn's decisions and
//! statistics are compared with `restic prune --dry-run -v` on identical
//! copies. Interrupted prunes are simulated at every step boundary (the
//! progress callback panics there), and damaged repositories must be
//! refused without any change.
//!
//! A missing restic fails the tests (set `CAIRN_TEST_RESTIC` or put restic
//! on `PATH`).

#[path = "common/restic_cli.rs"]
mod common;

use cairn::prune::{PrunePhase, PruneProgress};
use cairn::{FileType, Id, MaxUnused, PruneOptions, Repository};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// SplitMix64, for reproducible file contents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

/// A test folder: `repo/` made by restic and `src/` the backed-up tree.
struct Scene {
    dir: TempDir,
    repo: PathBuf,
}

impl Scene {
    /// A copy of the repository in a new folder.
    fn copy(&self, name: &str) -> PathBuf {
        let to = self.dir.path().join(name);
        copy_dir(&self.repo, &to);
        to
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Builds a repository with garbage: three backups of a changing tree
/// (4 MiB packs so there are many), then `forget --keep-last 1`.
/// `version` is the repository version, `flags` go to every backup.
fn scene(version: u32, flags: &[&str], seed: u64) -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let src = dir.path().join("src");
    let mut rng = Rng(seed);
    ok(restic(
        &repo,
        PASSWORD,
        ["init", "--repository-version", &version.to_string()],
    ));
    for i in 0..8 {
        let size = 600_000 + (rng.next() % 2_000_000) as usize;
        write(&src.join(format!("big/f{i}")), &rng.bytes(size));
    }
    for i in 0..30 {
        let text = format!("small file {i} {}\n", rng.next()).repeat(50);
        write(
            &src.join(format!("small/d{}/s{i}.txt", i % 5)),
            text.as_bytes(),
        );
    }
    for round in 0..3 {
        let mut args = vec!["backup", "--pack-size", "4", "-q"];
        args.extend_from_slice(flags);
        let src_arg = src.to_string_lossy().into_owned();
        args.push(&src_arg);
        ok(restic(&repo, PASSWORD, &args));
        // Change the tree: rewrite two files, drop one, add one, append.
        for k in 0..2 {
            let i = (round * 3 + k) % 8;
            write(&src.join(format!("big/f{i}")), &rng.bytes(1_500_000));
        }
        let _ = std::fs::remove_file(src.join(format!("big/f{}", (round + 5) % 8)));
        write(&src.join(format!("big/new{round}")), &rng.bytes(900_000));
        let mut grow = std::fs::read(src.join("small/d0/s0.txt")).unwrap();
        grow.extend_from_slice(&rng.bytes(700_000));
        write(&src.join("small/d0/s0.txt"), &grow);
    }
    ok(restic(
        &repo,
        PASSWORD,
        ["forget", "--keep-last", "1", "-q"],
    ));
    Scene { dir, repo }
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Every file below `root` (relative path → content hash).
fn tree_digest(root: &Path) -> BTreeMap<String, Id> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Id>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if e.file_type().unwrap().is_dir() {
                out.insert(rel + "/", Id::default());
                walk(base, &e.path(), out);
            } else {
                out.insert(rel, Id::hash(&std::fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Restores `latest` with restic and digests the result.
fn restored(repo: &Path, target: &Path) -> BTreeMap<String, Id> {
    let t = target.to_string_lossy().into_owned();
    ok(restic(
        repo,
        PASSWORD,
        ["restore", "latest", "--target", &t],
    ));
    let digest = tree_digest(target);
    assert!(digest.len() > 30, "restore produced too little: {digest:?}");
    digest
}

fn check(repo: &Path, read_data: bool) {
    let mut args = vec!["check"];
    if read_data {
        args.push("--read-data");
    }
    let out = restic(repo, PASSWORD, &args);
    assert!(
        out.status.success(),
        "restic check failed on {}:\n{}",
        repo.display(),
        describe(&out)
    );
}

/// All repository files except locks (name → size).
fn files(repo: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (rel, _) in tree_digest(repo) {
        if !rel.starts_with("locks/") && !rel.ends_with('/') {
            out.insert(
                rel.clone(),
                std::fs::metadata(repo.join(&rel)).unwrap().len(),
            );
        }
    }
    out
}

fn open_repo(path: &Path) -> Repository {
    let mut repo = open(path, PASSWORD).unwrap();
    repo.load_index().unwrap();
    repo
}

/// Every index entry, for comparing indexes.
fn index_entries(path: &Path) -> BTreeSet<String> {
    open_repo(path)
        .index()
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {} {} {:?}",
                l.pack, l.blob_type, l.id, l.offset, l.length, l.uncompressed_length
            )
        })
        .collect()
}

/// The lines of `prune -v --dry-run` that carry decisions and numbers.
fn decision_lines(out: &str) -> Vec<String> {
    const PREFIXES: [&str; 17] = [
        "used:",
        "duplicates:",
        "unused:",
        "unreferenced:",
        "total:",
        "unused size",
        "to repack:",
        "this removes:",
        "to delete:",
        "total prune:",
        "remaining:",
        "totally used",
        "partly used",
        "unused packs:",
        "to keep:",
        "Would have",
        "{",
    ];
    out.lines()
        .filter(|l| PREFIXES.iter().any(|p| l.starts_with(p)))
        // Newer restic's dry-run heading; 0.14 does not print it.
        .filter(|l| !l.starts_with("Would have made"))
        .map(str::to_string)
        .collect()
}

/// Runs `prune --dry-run -v <flags>` with restic and with cairn on two
/// copies and asserts the same decisions and statistics.
fn compare_dry_run(s: &Scene, name: &str, flags: &[&str]) {
    let mut args = vec!["prune", "--dry-run", "-v"];
    args.extend_from_slice(flags);
    let a = s.copy(&format!("{name}-restic"));
    let b = s.copy(&format!("{name}-cairn"));
    let theirs = ok(restic(&a, PASSWORD, &args));
    let ours = ok(cairn(&b, PASSWORD, &args));
    let (t, o) = (decision_lines(&theirs), decision_lines(&ours));
    assert!(t.len() > 10, "{theirs}");
    assert_eq!(
        t, o,
        "prune {flags:?}: restic said\n{theirs}\ncairn said\n{ours}"
    );
    assert_eq!(files(&b), files(&s.repo), "dry run changed the repository");
}

fn prune_opts(max_unused: MaxUnused) -> PruneOptions {
    PruneOptions {
        max_unused,
        ..PruneOptions::default()
    }
}

/// The sealed bytes of every blob the index places in one of `packs` (in
/// any pack when `None`), by type and ID.
fn sealed_blobs(path: &Path, packs: Option<&BTreeSet<Id>>) -> BTreeMap<(bool, Id), Vec<u8>> {
    let repo = open_repo(path);
    repo.index()
        .iter()
        .filter(|loc| packs.is_none_or(|p| p.contains(&loc.pack)))
        .map(|loc| {
            let bytes = repo
                .backend()
                .read_range(
                    FileType::Pack,
                    &loc.pack.to_hex(),
                    loc.offset,
                    u64::from(loc.length),
                )
                .unwrap();
            ((loc.blob_type == cairn::BlobType::Tree, loc.id), bytes)
        })
        .collect()
}

/// Prunes with the library under an exclusive lock.
fn prune(path: &Path, opts: &PruneOptions) -> cairn::PruneReport {
    let mut repo = open(path, PASSWORD).unwrap();
    let lock = repo.lock(true, None).unwrap();
    let report = repo.prune(&lock, opts, &cairn::NoProgress).unwrap();
    lock.release().unwrap();
    report
}

#[test]
fn prune_matches_restic_and_keeps_every_snapshot() {
    let s = scene(2, &[], 1);
    for (name, flags) in [
        ("zero", &["--max-unused", "0"][..]),
        ("default", &[][..]),
        ("unlimited", &["--max-unused", "unlimited"][..]),
        ("abs", &["--max-unused", "1M"][..]),
        (
            "cacheable",
            &["--repack-cacheable-only", "--max-unused", "0"][..],
        ),
        (
            "maxrepack",
            &["--max-repack-size", "3M", "--max-unused", "0"][..],
        ),
        ("small", &["--repack-small", "--max-unused", "0"][..]),
    ] {
        compare_dry_run(&s, name, flags);
    }
    let before = restored(&s.repo, &s.dir.path().join("restore-before"));

    let plan = open(&s.repo, PASSWORD)
        .unwrap()
        .plan_prune(&prune_opts(MaxUnused::Bytes(0)), &cairn::NoProgress)
        .unwrap();
    assert!(
        !plan.repack.is_empty() && !plan.remove.is_empty(),
        "{:?}",
        plan.stats
    );
    let old = sealed_blobs(&s.repo, Some(&plan.repack));
    let report = prune(&s.repo, &prune_opts(MaxUnused::Bytes(0)));
    assert!(!report.packs_written.is_empty());
    // restic stored every blob compressed: each one repacked is copied as
    // the sealed bytes it was (verified, not decoded and sealed again).
    let new = sealed_blobs(&s.repo, None);
    let mut copied = 0;
    for (blob, bytes) in &old {
        if let Some(now) = new.get(blob) {
            assert_eq!(now, bytes, "{blob:?} was sealed again");
            copied += 1;
        }
    }
    assert!(copied > 0, "no repacked blob was kept");
    let pack_files: BTreeSet<String> = files(&s.repo)
        .into_keys()
        .filter(|f| f.starts_with("data/"))
        .collect();
    for gone in plan.repack.iter().chain(&plan.remove) {
        assert!(
            !pack_files.iter().any(|f| f.ends_with(&gone.to_hex())),
            "{gone} still there"
        );
    }
    check(&s.repo, true);
    assert_eq!(
        restored(&s.repo, &s.dir.path().join("restore-after")),
        before
    );

    // Nothing is left to do, for Cairn and for restic.
    let again = open(&s.repo, PASSWORD)
        .unwrap()
        .plan_prune(&prune_opts(MaxUnused::Bytes(0)), &cairn::NoProgress)
        .unwrap();
    assert!(again.repack.is_empty() && again.remove.is_empty() && again.remove_first.is_empty());
    assert_eq!(again.stats.unused.blobs + again.stats.duplicate.blobs, 0);
    let theirs = ok(restic(
        &s.repo,
        PASSWORD,
        ["prune", "--dry-run", "--max-unused", "0"],
    ));
    assert!(
        theirs.contains("total prune:           0 blobs / 0 B"),
        "{theirs}"
    );
}

#[test]
fn repack_uncompressed_compresses_everything() {
    // Written uncompressed by restic, then recompressed by Cairn.
    let s = scene(2, &["--compression", "off"], 2);
    compare_dry_run(&s, "uncompressed", &["--repack-uncompressed"]);
    compare_dry_run(
        &s,
        "uncompressed0",
        &["--repack-uncompressed", "--max-unused", "0"],
    );
    let before = restored(&s.repo, &s.dir.path().join("restore-before"));
    let out = cairn(&s.repo, PASSWORD, ["prune", "--repack-uncompressed"]);
    assert!(out.status.success(), "{}", describe(&out));
    check(&s.repo, true);
    assert_eq!(
        restored(&s.repo, &s.dir.path().join("restore-after")),
        before
    );
    let raw = open_repo(&s.repo)
        .index()
        .iter()
        .filter(|l| l.uncompressed_length.is_none())
        .count();
    assert_eq!(raw, 0, "uncompressed blobs remain");
    let out = cairn(
        &s.repo,
        PASSWORD,
        ["--compression", "off", "prune", "--repack-uncompressed"],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mutually exclusive"),
        "{}",
        describe(&out)
    );
}

#[test]
fn version_1_prunes_then_migrates_and_compresses() {
    let s = scene(1, &[], 3);
    compare_dry_run(&s, "v1", &["--max-unused", "0"]);
    let out = cairn(&s.repo, PASSWORD, ["prune", "--repack-uncompressed"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("requires at least repository format version 2"),
        "{}",
        describe(&out)
    );
    let before = restored(&s.repo, &s.dir.path().join("restore-before"));
    prune(&s.repo, &prune_opts(MaxUnused::Bytes(0)));
    check(&s.repo, true);
    let compressed = open_repo(&s.repo)
        .index()
        .iter()
        .filter(|l| l.uncompressed_length.is_some())
        .count();
    assert_eq!(compressed, 0, "compressed blobs in a version 1 repository");

    ok(restic(&s.repo, PASSWORD, ["migrate", "upgrade_repo_v2"]));
    compare_dry_run(&s, "v2", &["--repack-uncompressed"]);
    let mut opts = prune_opts(MaxUnused::default());
    opts.repack_uncompressed = true;
    prune(&s.repo, &opts);
    check(&s.repo, true);
    assert_eq!(
        restored(&s.repo, &s.dir.path().join("restore-after")),
        before
    );
    let raw = open_repo(&s.repo)
        .index()
        .iter()
        .filter(|l| l.uncompressed_length.is_none())
        .count();
    assert_eq!(raw, 0, "uncompressed blobs remain after migration");
}

#[test]
fn damaged_repositories_are_refused_unchanged() {
    let s = scene(2, &[], 4);
    let repo = open_repo(&s.repo);
    let latest = repo.snapshots().unwrap().0.pop().unwrap();
    let root_pack = repo
        .index()
        .lookup(cairn::BlobType::Tree, &latest.snapshot.tree)
        .unwrap()
        .pack;
    let plan = open(&s.repo, PASSWORD)
        .unwrap()
        .plan_prune(&prune_opts(MaxUnused::Bytes(0)), &cairn::NoProgress)
        .unwrap();
    drop(repo);

    // A needed pack is gone.
    let a = s.copy("missing-pack");
    std::fs::remove_file(
        a.join("data")
            .join(&root_pack.to_hex()[..2])
            .join(root_pack.to_hex()),
    )
    .unwrap();
    let before = files(&a);
    let out = cairn(&a, PASSWORD, ["prune"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        err.contains("packs from index missing in repo") && err.contains("repair index"),
        "{err}"
    );
    assert!(err.contains(&root_pack.to_hex()), "{err}");
    assert_eq!(files(&a), before);

    // An index file is gone, so used blobs are unknown.
    let b = s.copy("missing-index");
    for id in open(&b, PASSWORD)
        .unwrap()
        .list_ids(FileType::Index)
        .unwrap()
    {
        std::fs::remove_file(b.join("index").join(id.0.to_hex())).unwrap();
    }
    let before = files(&b);
    let out = cairn(&b, PASSWORD, ["prune"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("index is not complete") && err.contains("repair index"),
        "{}",
        describe(&out)
    );
    assert_eq!(files(&b), before);

    // A pack nothing needs is gone: prune forgets it and goes on.
    let c = s.copy("missing-unused");
    let unused = plan.remove.iter().next().expect("a fully unused pack");
    std::fs::remove_file(
        c.join("data")
            .join(&unused.to_hex()[..2])
            .join(unused.to_hex()),
    )
    .unwrap();
    let out = cairn(&c, PASSWORD, ["prune"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("will forget missing pack file {unused}")));
    check(&c, true);
}

#[test]
fn repair_index_rebuilds_what_restic_accepts() {
    let s = scene(2, &[], 5);
    let original = index_entries(&s.repo);

    // Without an index file, check fails; repair index restores the index.
    let a = s.copy("lost-index");
    let ids = open(&a, PASSWORD)
        .unwrap()
        .list_ids(FileType::Index)
        .unwrap();
    assert!(ids.len() >= 2, "want several index files");
    let lost = ids[0].0.to_hex();
    std::fs::remove_file(a.join("index").join(&lost)).unwrap();
    assert!(!restic(&a, PASSWORD, ["check"]).status.success());
    let out = cairn(&a, PASSWORD, ["repair", "index"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("adding pack file to index"),
        "{}",
        describe(&out)
    );
    check(&a, true);
    assert_eq!(index_entries(&a), original);

    // Reading every pack gives the same index, through the old name too.
    let b = s.copy("read-all");
    let old: Vec<Id> = open(&b, PASSWORD)
        .unwrap()
        .list_ids(FileType::Index)
        .unwrap()
        .into_iter()
        .map(|x| x.0)
        .collect();
    let out = cairn(&b, PASSWORD, ["rebuild-index", "--read-all-packs"]);
    assert!(out.status.success(), "{}", describe(&out));
    check(&b, true);
    assert_eq!(index_entries(&b), original);
    let now: Vec<Id> = open(&b, PASSWORD)
        .unwrap()
        .list_ids(FileType::Index)
        .unwrap()
        .into_iter()
        .map(|x| x.0)
        .collect();
    assert!(
        now.iter().all(|id| !old.contains(id)),
        "old index files remain"
    );

    // A pack that is not a pack is left out; a missing one is forgotten.
    let c = s.copy("junk-pack");
    let junk = b"not a pack at all, just bytes".repeat(10);
    let junk_id = Id::hash(&junk).to_hex();
    write(&c.join("data").join(&junk_id[..2]).join(&junk_id), &junk);
    let mut repo = open(&c, PASSWORD).unwrap();
    let report = repo
        .repair_index(&repo.lock(true, None).unwrap(), false)
        .unwrap();
    assert_eq!(report.packs_skipped.len(), 1, "{report:?}");
    assert!(report.packs_added.is_empty(), "{report:?}");
    check(&c, false);
    assert_eq!(index_entries(&c), original);
}

/// Panics when a chosen step starts: what a kill at that moment leaves.
struct CrashAt {
    phase: Option<PrunePhase>,
    after_packs: Option<usize>,
    packs: std::sync::atomic::AtomicUsize,
}

impl PruneProgress for CrashAt {
    fn phase(&self, phase: PrunePhase) {
        if Some(phase) == self.phase {
            panic!("simulated crash at {phase:?}");
        }
    }

    fn pack_repacked(&self) {
        let n = self.packs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if Some(n) == self.after_packs {
            panic!("simulated crash after {n} repacked packs");
        }
    }
}

#[test]
fn a_prune_cut_short_at_any_step_leaves_a_valid_repository() {
    let s = scene(2, &[], 6);
    let plan = open(&s.repo, PASSWORD)
        .unwrap()
        .plan_prune(&prune_opts(MaxUnused::Bytes(0)), &cairn::NoProgress)
        .unwrap();
    let (repack, remove) = (plan.repack.len(), plan.remove.len());
    assert!(repack >= 2 && remove >= 1, "{:?}", plan.stats);
    let before = restored(&s.repo, &s.dir.path().join("restore-before"));
    let cuts: Vec<(Option<PrunePhase>, Option<usize>)> = vec![
        (Some(PrunePhase::Repacking(repack)), None),
        (None, Some(1)),
        (None, Some(repack)),
        (Some(PrunePhase::RebuildingIndex), None),
        (Some(PrunePhase::RemovingPacks(repack + remove)), None),
    ];
    for (i, (phase, after_packs)) in cuts.into_iter().enumerate() {
        let path = s.copy(&format!("cut{i}"));
        let crash = CrashAt {
            phase,
            after_packs,
            packs: Default::default(),
        };
        let mut repo = open(&path, PASSWORD).unwrap();
        let lock = repo.lock(true, None).unwrap();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            repo.prune(&lock, &prune_opts(MaxUnused::Bytes(0)), &crash)
        }));
        assert!(result.is_err(), "cut {i} did not happen");
        drop(lock);
        drop(repo);
        check(&path, false);
        prune(&path, &prune_opts(MaxUnused::Bytes(0)));
        check(&path, true);
        assert_eq!(
            restored(&path, &s.dir.path().join(format!("restore{i}"))),
            before
        );
    }
}

#[test]
fn a_prune_cut_after_the_new_index_leaves_a_valid_repository() {
    // Deleting the old index files is the step after writing the new
    // ones; a cut there leaves both sets, which restic reads as duplicates.
    let s = scene(2, &[], 7);
    let old = open(&s.repo, PASSWORD)
        .unwrap()
        .list_ids(FileType::Index)
        .unwrap();
    let crash = CrashAt {
        phase: Some(PrunePhase::DeletingIndexFiles(old.len())),
        after_packs: None,
        packs: Default::default(),
    };
    let mut repo = open(&s.repo, PASSWORD).unwrap();
    let lock = repo.lock(true, None).unwrap();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        repo.prune(&lock, &prune_opts(MaxUnused::Bytes(0)), &crash)
    }));
    assert!(result.is_err());
    drop(lock);
    drop(repo);
    let now = open(&s.repo, PASSWORD)
        .unwrap()
        .list_ids(FileType::Index)
        .unwrap();
    assert!(
        now.len() > old.len(),
        "old and new index files should both be there"
    );
    check(&s.repo, false);
    let report = prune(&s.repo, &prune_opts(MaxUnused::Bytes(0)));
    assert!(
        report.stats.duplicate.blobs > 0 || report.stats.packs_unused > 0,
        "{:?}",
        report.stats
    );
    check(&s.repo, true);
}
