//! `Repository::check` on the fixture repositories: clean copies pass, and
//! every injected corruption is found and named.
//!
//! Each corruption flips one byte of a pack, index or snapshot file, runs
//! the check with `read_data`, and restores the byte. Detection must be
//! 100%, and an error must name the damaged file. A few damaged copies are
//! also given to the real restic 0.14, which must fail as well (a missing
//! restic fails those tests; it is never skipped).

use cairn::check::{CheckIssue, Stage};
use cairn::NoProgress;
use cairn::{
    BlobType, CheckOptions, CheckReport, FileType, Id, LocalBackend, ReadDataSubset, Repository,
};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tempfile::TempDir;

const REPOS: [&str; 3] = ["v1", "v2", "v2-uncompressed"];

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/repos")
}

fn password() -> String {
    std::fs::read_to_string(testdata().join("password"))
        .expect("testdata/repos/password")
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}

/// A writable copy of a fixture repository, with the folders git drops.
fn fixture(name: &str) -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(name);
    copy_dir(&testdata().join(name), &root);
    for dir in ["locks", "keys", "snapshots", "index"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for i in 0..=255u8 {
        std::fs::create_dir_all(root.join(format!("data/{i:02x}"))).unwrap();
    }
    (tmp, root)
}

fn open(root: &Path) -> Repository {
    Repository::open(Arc::new(LocalBackend::new(root)), &password()).unwrap()
}

fn check_all(repo: &Repository) -> CheckReport {
    let opts = CheckOptions {
        read_data: Some(ReadDataSubset::All),
        check_unused: false,
        seed: Some(1),
        ..Default::default()
    };
    repo.check(&opts, &NoProgress).unwrap()
}

/// The check with `--read-data-subset n/256`: reads only the packs whose
/// ID starts with byte `n - 1`.
fn check_group(repo: &Repository, first_byte: u32) -> CheckReport {
    let opts = CheckOptions {
        read_data: Some(ReadDataSubset::Bucket {
            n: first_byte + 1,
            t: 256,
        }),
        check_unused: false,
        seed: Some(1),
        ..Default::default()
    };
    repo.check(&opts, &NoProgress).unwrap()
}

/// Every pack, index and snapshot file: (type, id, path).
fn repo_files(root: &Path) -> Vec<(FileType, Id, PathBuf)> {
    let mut out = Vec::new();
    for (t, dir) in [
        (FileType::Snapshot, "snapshots"),
        (FileType::Index, "index"),
    ] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let e = e.unwrap();
            let id = Id::from_hex(&e.file_name().to_string_lossy()).unwrap();
            out.push((t, id, e.path()));
        }
    }
    for sub in std::fs::read_dir(root.join("data")).unwrap() {
        for e in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            let e = e.unwrap();
            let id = Id::from_hex(&e.file_name().to_string_lossy()).unwrap();
            out.push((FileType::Pack, id, e.path()));
        }
    }
    out.sort();
    out
}

fn names(report: &CheckReport, t: FileType, id: &Id) -> bool {
    report
        .errors
        .iter()
        .any(|e| e.file == Some((t, *id)) || e.message.contains(&id.to_hex()))
}

fn describe(issues: &[CheckIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  [{:?}] {}", i.stage, i.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Deterministic positions: the first 2 and last 5 bytes (IV, MAC,
/// header length) and `n` more spread pseudo-randomly over the file.
fn sample_positions(len: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut pos: Vec<usize> = (0..2.min(len)).chain(len.saturating_sub(5)..len).collect();
    let mut x = seed | 1;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pos.push((x % len as u64) as usize);
    }
    pos.sort();
    pos.dedup();
    pos
}

/// Flips one byte, checks (reading the packs of the damaged file's group,
/// `--read-data-subset n/256`, which holds the damaged pack), restores;
/// returns a description when the damage went unnoticed or unnamed.
fn flip_and_check(
    repo: &Repository,
    (t, id, path): &(FileType, Id, PathBuf),
    at: usize,
) -> Option<String> {
    let original = std::fs::read(path).unwrap();
    let mut damaged = original.clone();
    damaged[at] ^= 0x5a;
    std::fs::write(path, &damaged).unwrap();
    let report = check_group(repo, u32::from(id.0[0]));
    std::fs::write(path, &original).unwrap();
    let read_ok = *t != FileType::Pack || report.packs_read.contains(id);
    if names(&report, *t, id) && read_ok {
        None
    } else {
        Some(format!(
            "{} byte {at}: {} errors, none naming the file\n{}",
            path.display(),
            report.errors.len(),
            describe(&report.errors)
        ))
    }
}

/// Flips every byte of the smallest file of type `every_byte_of`, and
/// sampled bytes (fewer in packs over 1 MB, whose reads are slow in debug
/// builds) of every other pack, index and snapshot file of fixture `name`.
/// Returns the number of corruptions injected; all must be detected.
fn flip_campaign(name: &str, every_byte_of: FileType, seed: u64) -> usize {
    let (_tmp, root) = fixture(name);
    let repo = open(&root);
    let files = repo_files(&root);
    let size = |f: &(FileType, Id, PathBuf)| std::fs::metadata(&f.2).unwrap().len() as usize;
    let smallest = files
        .iter()
        .filter(|f| f.0 == every_byte_of)
        .min_by_key(|f| size(f))
        .unwrap()
        .1;
    let mut injected = 0;
    let mut failures = Vec::new();
    for file in &files {
        let len = size(file);
        let positions = if file.1 == smallest {
            (0..len).collect()
        } else {
            let n = if len > 1 << 20 { 2 } else { 6 };
            sample_positions(len, n, seed ^ u64::from(file.1 .0[0]) << 8 ^ len as u64)
        };
        for at in positions {
            injected += 1;
            failures.extend(flip_and_check(&repo, file, at));
        }
    }
    eprintln!("{name}: {injected} flipped-byte corruptions injected");
    assert!(
        failures.is_empty(),
        "{name}: {} of {injected} corruptions missed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The copy is intact again afterwards.
    let report = check_all(&repo);
    assert!(
        report.is_ok(),
        "{name}: restore failed\n{}",
        describe(&report.errors)
    );
    injected
}

#[test]
fn flipped_bytes_v1_every_byte_of_a_snapshot() {
    assert!(flip_campaign("v1", FileType::Snapshot, 11) > 400);
}

#[test]
fn flipped_bytes_v2_every_byte_of_a_pack() {
    assert!(flip_campaign("v2", FileType::Pack, 22) > 400);
}

#[test]
fn flipped_bytes_v2_uncompressed_every_byte_of_an_index() {
    assert!(flip_campaign("v2-uncompressed", FileType::Index, 33) > 600);
}

#[test]
fn fixtures_are_clean() {
    for name in REPOS {
        let (_tmp, root) = fixture(name);
        let repo = open(&root);
        let report = check_all(&repo);
        assert!(
            report.is_ok(),
            "{name}: unexpected errors\n{}",
            describe(&report.errors)
        );
        let packs = repo_files(&root)
            .iter()
            .filter(|f| f.0 == FileType::Pack)
            .count();
        assert_eq!(report.packs_read.len(), packs, "{name}: every pack read");
        assert!(report.snapshots > 0 && report.trees > 0, "{name}");
        // Everything in the fixtures is used by some snapshot.
        let opts = CheckOptions {
            check_unused: true,
            ..CheckOptions::default()
        };
        let unused = repo.check(&opts, &NoProgress).unwrap();
        assert!(
            unused.unused_blobs.is_empty(),
            "{name}: {:?}",
            unused.unused_blobs
        );
    }
}

fn pack_with(root: &Path, blob_type: BlobType) -> Id {
    let mut repo = open(root);
    repo.load_index().unwrap();
    let pack = repo
        .index()
        .iter()
        .find(|l| l.blob_type == blob_type)
        .map(|l| l.pack)
        .unwrap();
    pack
}

fn pack_path(root: &Path, id: &Id) -> PathBuf {
    let hex = id.to_hex();
    root.join("data").join(&hex[..2]).join(hex)
}

#[test]
fn deleted_and_truncated_packs() {
    for name in REPOS {
        let (_tmp, root) = fixture(name);
        let repo = open(&root);
        let data_pack = pack_with(&root, BlobType::Data);
        let path = pack_path(&root, &data_pack);
        let original = std::fs::read(&path).unwrap();

        std::fs::remove_file(&path).unwrap();
        let report = check_all(&repo);
        assert!(
            names(&report, FileType::Pack, &data_pack),
            "{name}: deleted pack\n{}",
            describe(&report.errors)
        );
        assert!(report
            .errors
            .iter()
            .any(|e| e.message.ends_with("does not exist")));

        std::fs::write(&path, &original[..original.len() - 10]).unwrap();
        let report = check_all(&repo);
        assert!(
            report
                .errors
                .iter()
                .any(|e| e.stage == Stage::Packs && e.message.contains("unexpected file size")),
            "{name}: truncated pack\n{}",
            describe(&report.errors)
        );
        assert!(report.broken_packs().contains(&data_pack), "{name}");

        // A tree pack gone: its trees cannot be loaded any more.
        std::fs::write(&path, &original).unwrap();
        let tree_pack = pack_with(&root, BlobType::Tree);
        std::fs::remove_file(pack_path(&root, &tree_pack)).unwrap();
        let report = check_all(&repo);
        assert!(names(&report, FileType::Pack, &tree_pack), "{name}");
        assert!(
            report.errors.iter().any(|e| e.stage == Stage::Trees),
            "{name}: missing trees not reported\n{}",
            describe(&report.errors)
        );
    }
}

#[test]
fn deleted_index_file_and_dangling_snapshot() {
    for name in REPOS {
        let (_tmp, root) = fixture(name);
        let repo = open(&root);
        let index = repo_files(&root)
            .into_iter()
            .filter(|f| f.0 == FileType::Index)
            .max_by_key(|f| std::fs::metadata(&f.2).unwrap().len())
            .unwrap();
        let saved = std::fs::read(&index.2).unwrap();
        std::fs::remove_file(&index.2).unwrap();
        let report = check_all(&repo);
        assert!(!report.is_ok(), "{name}: deleted index unnoticed");
        assert!(
            report
                .hints
                .iter()
                .any(|h| h.message.contains("not referenced in any index")),
            "{name}: orphaned packs not hinted"
        );
        std::fs::write(&index.2, saved).unwrap();

        let missing = Id::hash(b"no such tree");
        let sn = cairn::Snapshot::new(
            cairn::format::GoTime::parse("2024-01-01T00:00:00Z").unwrap(),
            missing,
        );
        let sn_id = repo
            .save_unpacked(FileType::Snapshot, &sn.to_json())
            .unwrap();
        let report = check_all(&repo);
        assert!(
            names(&report, FileType::Snapshot, &sn_id),
            "{name}\n{}",
            describe(&report.errors)
        );
        let e = report
            .errors
            .iter()
            .find(|e| e.tree == Some(missing))
            .unwrap();
        assert!(e.message.contains("not found in index"), "{}", e.message);
        assert_eq!(report.errors.len(), 1, "{}", describe(&report.errors));
    }
}

/// The real restic agrees that the damaged copies are damaged.
#[test]
fn restic_also_fails_on_damaged_copies() {
    let restic = restic_bin();
    let run = |root: &Path| {
        Command::new(&restic)
            .args(["check", "--read-data", "--no-lock", "-q", "-r"])
            .arg(root)
            .env("RESTIC_PASSWORD_FILE", testdata().join("password"))
            .env("RESTIC_CACHE_DIR", root.join("../cache"))
            .output()
            .expect("run restic")
    };
    let (_tmp, root) = fixture("v2");
    let repo = open(&root);
    let clean = run(&root);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let files = repo_files(&root);
    let mut compared = 0;
    for t in [FileType::Pack, FileType::Index, FileType::Snapshot] {
        for (ft, id, path) in files.iter().filter(|f| f.0 == t).take(2) {
            let original = std::fs::read(path).unwrap();
            for at in [original.len() / 2, original.len() - 1] {
                let mut damaged = original.clone();
                damaged[at] ^= 0x01;
                std::fs::write(path, &damaged).unwrap();
                let ours = check_all(&repo);
                let theirs = run(&root);
                std::fs::write(path, &original).unwrap();
                assert!(names(&ours, *ft, id));
                assert!(
                    !theirs.status.success(),
                    "restic missed {} byte {at}",
                    path.display()
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 12);
}

fn restic_bin() -> PathBuf {
    let bin = std::env::var_os("CAIRN_TEST_RESTIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/restic"));
    assert!(
        bin.exists(),
        "this test needs restic 0.14 at {} (Debian: apt-get install restic), or CAIRN_TEST_RESTIC",
        bin.display()
    );
    bin
}
