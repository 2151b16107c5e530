//! The cache on a copy of a restic-written fixture repository, read
//! through a backend that counts what reaches the repository.

use super::*;
use crate::restore::{restore, RestoreOptions};
use crate::testing::{CountingBackend, ReadCounts};
use crate::{CheckOptions, Repository};
use cairn_backend::{Backend, FileType, LocalBackend};
use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;
use tempfile::TempDir;

const PASSWORD: &str = "cairn-fixture";

/// A copy of the v2 fixture repository and a cache folder beside it.
struct Setup {
    dir: TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/repos/v2");
        copy_dir(&src, &dir.path().join("repo"));
        Setup { dir }
    }

    fn repo_dir(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn cache_base(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Opens the repository through a counting backend, with the cache.
    fn open(&self) -> (Repository, Arc<ReadCounts>) {
        let (backend, counts) = CountingBackend::new(Arc::new(LocalBackend::new(self.repo_dir())));
        let mut repo = Repository::open(Arc::new(backend), PASSWORD).unwrap();
        let cache = Cache::open(&self.cache_base(), &repo.config().id).unwrap();
        repo.use_cache(Arc::new(cache));
        (repo, counts)
    }

    /// Every cached file of a type: (ID, path).
    fn cached(&self, repo: &Repository, t: FileType) -> Vec<(Id, PathBuf)> {
        let cache = repo.cache().unwrap();
        let mut v: Vec<_> = cache
            .list(t)
            .unwrap()
            .into_iter()
            .map(|id| (id, cache.file_path(t, &id).unwrap()))
            .collect();
        v.sort();
        v
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

/// What `snapshots`, `ls`, `restore` and `check` read.
fn use_repository(repo: &mut Repository, target: &Path) {
    repo.load_index().unwrap();
    let (snaps, problems) = repo.snapshots().unwrap();
    assert!(problems.is_empty());
    assert_eq!(snaps.len(), 5);
    for s in &snaps {
        let mut n = 0;
        crate::walk::walk(
            repo,
            &s.snapshot.tree,
            &mut |_, _| {
                n += 1;
                Ok(crate::walk::Visit::Continue)
            },
            &mut |_, e| Err(e),
        )
        .unwrap();
        assert!(n > 0);
    }
    let opts = RestoreOptions {
        target: target.to_path_buf(),
        ..Default::default()
    };
    let summary = restore(
        repo,
        &snaps[0].snapshot.tree,
        None,
        &opts,
        &crate::NoProgress,
    )
    .unwrap();
    assert!(summary.errors.is_empty());
    let report = repo
        .check(&CheckOptions::default(), &crate::NoProgress)
        .unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
}

#[test]
fn a_second_run_reads_no_index_snapshot_or_tree_pack() {
    let s = Setup::new();
    let (mut repo, first) = s.open();
    use_repository(&mut repo, &s.dir.path().join("t1"));
    let tree_packs = s.cached(&repo, FileType::Pack);
    assert!(!tree_packs.is_empty(), "tree packs are cached");
    assert!(first.of_type(FileType::Index) > 0 && first.of_type(FileType::Snapshot) > 0);
    for (id, _) in &tree_packs {
        assert!(repo.cache().unwrap().is_tree_pack(id));
        assert!(first.of_file(FileType::Pack, &id.to_hex()) > 0);
    }
    assert_eq!(
        s.cached(&repo, FileType::Index).len(),
        repo.list_ids(FileType::Index).unwrap().len()
    );
    assert_eq!(s.cached(&repo, FileType::Snapshot).len(), 5);
    // Every cached file holds exactly what the repository holds.
    for t in [FileType::Index, FileType::Snapshot, FileType::Pack] {
        for (id, path) in s.cached(&repo, t) {
            let stored = std::fs::read(
                s.repo_dir()
                    .join(t.dir_name())
                    .join(&id.to_hex()[..2])
                    .join(id.to_hex()),
            )
            .or_else(|_| std::fs::read(s.repo_dir().join(t.dir_name()).join(id.to_hex())))
            .unwrap();
            assert_eq!(std::fs::read(path).unwrap(), stored);
        }
    }
    drop(repo);

    let (mut repo, second) = s.open();
    assert!(!repo.cache().unwrap().created());
    use_repository(&mut repo, &s.dir.path().join("t2"));
    assert_eq!(second.of_type(FileType::Index), 0);
    assert_eq!(second.of_type(FileType::Snapshot), 0);
    for (id, _) in &tree_packs {
        assert_eq!(
            second.of_file(FileType::Pack, &id.to_hex()),
            0,
            "tree pack {id} read again"
        );
    }
    // Data packs still come from the repository.
    assert!(second.of_type(FileType::Pack) > 0);
}

#[test]
fn damaged_cached_files_are_replaced_from_the_repository() {
    let s = Setup::new();
    let (mut repo, _) = s.open();
    use_repository(&mut repo, &s.dir.path().join("t1"));
    let mut damaged = Vec::new();
    for t in [FileType::Index, FileType::Snapshot, FileType::Pack] {
        let (id, path) = s.cached(&repo, t).remove(0);
        let good = std::fs::read(&path).unwrap();
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        damaged.push((t, id, path, good));
    }
    // One more: a cached file cut short.
    let (short_id, short_path) = s.cached(&repo, FileType::Snapshot).pop().unwrap();
    let short_good = std::fs::read(&short_path).unwrap();
    std::fs::write(&short_path, &short_good[..10]).unwrap();
    drop(repo);

    let (mut repo, counts) = s.open();
    use_repository(&mut repo, &s.dir.path().join("t2"));
    for (t, id, path, good) in damaged {
        assert_eq!(
            counts.of_file(t, &id.to_hex()),
            1,
            "{t}/{id} read once from the repository"
        );
        assert_eq!(std::fs::read(&path).unwrap(), good, "{t}/{id} replaced");
    }
    assert_eq!(std::fs::read(&short_path).unwrap(), short_good);
    assert_eq!(counts.of_file(FileType::Snapshot, &short_id.to_hex()), 1);
}

#[test]
fn removed_and_unlisted_files_leave_the_cache() {
    let s = Setup::new();
    let (mut repo, _) = s.open();
    use_repository(&mut repo, &s.dir.path().join("t1"));
    // Removed through the repository: gone from the cache at once.
    let (snap, path) = s.cached(&repo, FileType::Snapshot).remove(0);
    repo.backend()
        .remove(FileType::Snapshot, &snap.to_hex())
        .unwrap();
    assert!(!path.exists());
    // Removed behind Cairn's back (another program's prune): gone after
    // the next listing.
    let (index, path) = s.cached(&repo, FileType::Index).remove(0);
    std::fs::remove_file(s.repo_dir().join("index").join(index.to_hex())).unwrap();
    assert!(path.exists());
    repo.list_ids(FileType::Index).unwrap();
    assert!(!path.exists());
    // A cached pack the index no longer lists goes when the index loads.
    let (pack, path) = s.cached(&repo, FileType::Pack).remove(0);
    let stray = repo
        .cache()
        .unwrap()
        .file_path(FileType::Pack, &Id([7; 32]))
        .unwrap();
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"stray").unwrap();
    repo.invalidate_index();
    repo.load_index().unwrap();
    assert!(!stray.exists());
    assert!(path.exists(), "pack {pack} is still indexed");
    // Temporary files of a concurrent writer are left alone.
    let tmp = path.parent().unwrap().join("tmp-123456");
    std::fs::write(&tmp, b"partial").unwrap();
    repo.list_ids(FileType::Pack).unwrap();
    assert!(tmp.exists());
}

#[test]
fn written_files_are_cached_and_only_tree_packs_among_packs() {
    let s = Setup::new();
    let (repo, _) = s.open();
    let key = repo.key().clone();
    let fresh = tempfile::tempdir().unwrap();
    let inner = LocalBackend::new(fresh.path().join("repo"));
    inner.create().unwrap();
    let cache = Arc::new(Cache::open(&fresh.path().join("cache"), &"ab".repeat(32)).unwrap());
    let backend = CacheBackend::new(Arc::new(inner), cache.clone(), key);
    let mut repo = repo;
    repo.load_index().unwrap();
    let index = repo.index_arc();
    let mut kinds: HashMap<Id, (bool, bool)> = HashMap::new();
    for loc in index.iter() {
        let e = kinds.entry(loc.pack).or_default();
        match loc.blob_type {
            BlobType::Tree => e.0 = true,
            BlobType::Data => e.1 = true,
        }
    }
    let mut tree_seen = false;
    let mut data_seen = false;
    for (pack, (tree, data)) in kinds {
        let name = pack.to_hex();
        let bytes = s.repo_dir().join("data").join(&name[..2]).join(&name);
        backend
            .write(FileType::Pack, &name, &std::fs::read(bytes).unwrap())
            .unwrap();
        let cached = cache.file_path(FileType::Pack, &pack).unwrap().exists();
        assert_eq!(cached, tree && !data, "pack {name}");
        assert_eq!(cache.is_tree_pack(&pack), tree && !data);
        tree_seen |= tree && !data;
        data_seen |= data;
    }
    assert!(tree_seen && data_seen);
    // Locks and keys never reach the cache.
    backend
        .write(FileType::Lock, &"cd".repeat(32), b"lock")
        .unwrap();
    assert!(cache
        .list(FileType::Pack)
        .unwrap()
        .iter()
        .all(|id| *id != Id([0xcd; 32])));
}

#[test]
fn cache_directory_layout_version_and_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let id = "0123456789abcdef".repeat(4);
    let cache = Cache::open(&base, &id).unwrap();
    assert!(cache.created());
    assert_eq!(
        std::fs::read_to_string(base.join("CACHEDIR.TAG")).unwrap(),
        CACHEDIR_TAG
    );
    assert_eq!(
        std::fs::read_to_string(base.join(&id).join("version")).unwrap(),
        "1"
    );
    for sub in ["index", "snapshots", "data"] {
        assert!(base.join(&id).join(sub).is_dir());
    }
    // An old directory is marked as used again when opened.
    let old = filetime::FileTime::from_unix_time(1_000_000_000, 0);
    filetime::set_file_mtime(base.join(&id), old).unwrap();
    assert!(list_dirs(&base).unwrap()[0].is_old(MAX_CACHE_AGE));
    assert!(!Cache::open(&base, &id).unwrap().created());
    assert!(!list_dirs(&base).unwrap()[0].is_old(MAX_CACHE_AGE));
    // A newer layout is refused, not overwritten.
    std::fs::write(base.join(&id).join("version"), "2").unwrap();
    let err = Cache::open(&base, &id).unwrap_err();
    assert!(err.to_string().contains("cache version is newer"), "{err}");
    assert!(Cache::open(&base, "../escape").is_err());
}

#[test]
fn old_directories_are_found_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let old = filetime::FileTime::from_unix_time(1_000_000_000, 0);
    let names = [
        "a".repeat(64),
        "b".repeat(64),
        "restic-check-cache-12".into(),
        "other".into(),
    ];
    for n in &names {
        std::fs::create_dir_all(base.join(n).join("index")).unwrap();
    }
    for n in [&names[0], &names[2], &names[3]] {
        filetime::set_file_mtime(base.join(n), old).unwrap();
    }
    let mut listed: Vec<String> = list_dirs(base)
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    listed.sort();
    assert_eq!(listed, names[..3]);
    let report = cleanup(base, MAX_CACHE_AGE).unwrap();
    assert_eq!(report.removed.len(), 2);
    assert!(!base.join(&names[0]).exists() && !base.join(&names[2]).exists());
    assert!(base.join(&names[1]).exists(), "young directory kept");
    assert!(base.join(&names[3]).exists(), "not a cache directory");
    assert!(list_dirs(&base.join("missing")).unwrap().is_empty());
}

#[test]
fn default_directory_follows_restic() {
    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }
    let all = [
        ("RESTIC_CACHE_DIR", "/r"),
        ("XDG_CACHE_HOME", "/x"),
        ("HOME", "/h"),
    ];
    assert_eq!(default_dir_from(env(&all)).unwrap(), PathBuf::from("/r"));
    assert_eq!(
        default_dir_from(env(&all[1..])).unwrap(),
        PathBuf::from("/x/restic")
    );
    assert_eq!(
        default_dir_from(env(&all[2..])).unwrap(),
        PathBuf::from("/h/.cache/restic")
    );
    let empty = [
        ("RESTIC_CACHE_DIR", ""),
        ("XDG_CACHE_HOME", ""),
        ("HOME", "/h"),
    ];
    assert_eq!(
        default_dir_from(env(&empty)).unwrap(),
        PathBuf::from("/h/.cache/restic")
    );
    assert!(default_dir_from(env(&[])).is_err());
}
