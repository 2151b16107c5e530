//! `backup::snapshot_path` says where a backed-up source is in the
//! snapshot, and `Repository::dump_file` finds the file there: checked on
//! real backups of relative and absolute paths, and against where restic
//! stores the same relative source. One test only: it changes the working
//! directory of the process.

#[path = "common/restic_cli.rs"]
mod common;

use cairn::backup::{snapshot_path, BackupOptions};
use cairn::{Error, NoProgress, Repository};
use common::*;
use std::path::{Path, PathBuf};

fn backup(path: &Path, source: &Path) -> (Repository, cairn::Id) {
    let mut repo = open(path, PASSWORD).unwrap();
    repo.load_index().unwrap();
    let lock = repo.lock(false, None).unwrap();
    let summary = repo
        .backup(
            &lock,
            BackupOptions {
                paths: vec![source.to_path_buf()],
                ..BackupOptions::default()
            },
            &NoProgress,
        )
        .unwrap();
    (repo, summary.snapshot.tree)
}

fn dump(repo: &Repository, tree: &cairn::Id, path: &str) -> cairn::Result<Vec<u8>> {
    let mut out = Vec::new();
    let n = repo.dump_file(tree, path, &mut out)?;
    assert_eq!(n, out.len() as u64);
    Ok(out)
}

/// The paths of the nodes of restic's `ls --json` of the latest snapshot.
fn restic_ls(repo: &Path) -> Vec<String> {
    let out = ok(restic(repo, PASSWORD, ["ls", "--json", "latest"]));
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["struct_type"] == "node")
        .filter_map(|v| v["path"].as_str().map(String::from))
        .collect()
}

#[test]
fn backed_up_sources_are_found_where_snapshot_path_says() {
    let (dir, path, repo) = cairn_repo(2);
    drop(repo);
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("data/sub")).unwrap();
    std::fs::create_dir_all(work.join("a")).unwrap();
    std::fs::write(work.join("data/sub/file.txt"), b"relative\n").unwrap();
    std::env::set_current_dir(&work).unwrap();

    // Relative: stored below the root, not at its absolute path.
    for given in ["data", "./a/../data/"] {
        let at = snapshot_path(Path::new(given)).unwrap();
        assert_eq!(at, "/data", "{given}");
        let (repo, tree) = backup(&path, Path::new(given));
        assert_eq!(
            dump(&repo, &tree, &format!("{at}/sub/file.txt")).unwrap(),
            b"relative\n"
        );
        let absolute = format!("{}/sub/file.txt", work.join("data").display());
        assert!(matches!(
            dump(&repo, &tree, &absolute),
            Err(Error::PathNotFound(_))
        ));
    }

    // Absolute: stored at its own path.
    let absolute: PathBuf = work.join("data/sub");
    let at = snapshot_path(&absolute).unwrap();
    assert_eq!(Path::new(&at), absolute);
    let (repo, tree) = backup(&path, &absolute);
    assert_eq!(
        dump(&repo, &tree, &format!("{at}/file.txt")).unwrap(),
        b"relative\n"
    );

    // dump_file refuses what is not a file, and what is not there.
    for not_a_file in [at.as_str(), "/"] {
        let e = dump(&repo, &tree, not_a_file).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{not_a_file}: {e}");
        assert!(e.to_string().contains("not a file"), "{e}");
    }
    let e = dump(&repo, &tree, &format!("{at}/missing")).unwrap_err();
    assert!(matches!(e, Error::PathNotFound(_)), "{e}");

    // restic stores the same relative source at the same place.
    let restic_repo = dir.path().join("restic-repo");
    ok(restic(&restic_repo, PASSWORD, ["init"]));
    ok(restic(&restic_repo, PASSWORD, ["backup", "./a/../data/"]));
    let listed = restic_ls(&restic_repo);
    let want = format!(
        "{}/sub/file.txt",
        snapshot_path(Path::new("./a/../data/")).unwrap()
    );
    assert!(listed.contains(&want), "{want} not in {listed:?}");
}
