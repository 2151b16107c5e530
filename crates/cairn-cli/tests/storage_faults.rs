//! Storage faults seen from the command line: a repository without its
//! config, a garbled name in a folder, temporary files of killed writes.

#[macro_use]
mod common;

use common::{Fixture, Tool};
use std::fs;
use std::time::{Duration, SystemTime};

#[test]
fn a_repository_with_keys_but_no_config_is_not_reported_as_missing() {
    let fx = Fixture::new("v1");
    let state = fx.scratch("state");
    let copies = state.join("cairn/config-copies");
    fs::create_dir_all(&copies).unwrap();
    let copy = copies.join("config-0123-1700000000");
    fs::rename(fx.repo.join("config"), &copy).unwrap();
    let out = fx
        .command(Tool::Cairn)
        .env("XDG_STATE_HOME", &state)
        .arg("snapshots")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Not 10 ("does not exist"), which would invite `init`.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("has keys but no config"), "{err}");
    assert!(err.contains(&copy.display().to_string()), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // And `init` refuses to put a new repository over it.
    let init = fx.cairn(["init"]);
    assert_eq!(init.code, Some(1), "{}", init.describe());
    assert!(
        init.stderr.contains("key files but no config"),
        "{}",
        init.describe()
    );
    assert!(!fx.repo.join("config").exists());
}

#[test]
fn a_stray_name_in_snapshots_stops_prune_forget_and_check() {
    let fx = Fixture::new("v2");
    fs::write(fx.repo.join("snapshots/not-an-id"), b"x").unwrap();
    let before = fx.repo_files("data");
    for args in [
        &["prune"][..],
        &["forget", "--keep-last", "1", "--prune"],
        &["check"],
    ] {
        let run = fx.cairn(args);
        assert_eq!(run.code, Some(1), "{}", run.describe());
        assert!(run.stderr.contains("not-an-id"), "{}", run.describe());
    }
    assert_eq!(fx.repo_files("data"), before);
    assert_eq!(
        fx.repo_files("snapshots").len(),
        fx.snapshot_ids().len() + 1
    );
}

#[test]
fn stray_names_do_not_stop_reading_commands_but_stop_an_exclusive_lock() {
    let fx = Fixture::new("v2");
    fs::write(fx.repo.join("snapshots/README"), b"x").unwrap();
    fs::write(fx.repo.join("locks/notes.txt~"), b"x").unwrap();
    // Skipped, as restic does, by commands that only read or add.
    let listed = fx.cairn(["snapshots", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), fx.snapshot_ids().len());
    assert!(!fx.cairn(["ls", "latest"]).ok().stdout_str().is_empty());
    let target = fx.scratch("target");
    fx.cairn(["restore", "latest", "--target", target.to_str().unwrap()])
        .ok();
    assert!(fs::read_dir(&target).unwrap().next().is_some());
    // The exclusive lock of prune must see every lock.
    let run = fx.cairn(["prune"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("notes.txt~"), "{}", run.describe());
    assert!(fx.repo.join("snapshots/README").exists());
}

#[test]
fn prune_removes_old_temporary_files_and_says_how_many() {
    let fx = Fixture::new("v2");
    let id = "cd".repeat(32);
    let old = fx
        .repo
        .join("data/cd")
        .join(format!(".{id}.tmp-00000000000000aa"));
    let lock = fx
        .repo
        .join("locks")
        .join(format!(".{id}.tmp-00000000000000bb"));
    let young = fx
        .repo
        .join("data/cd")
        .join(format!(".{id}.tmp-00000000000000cc"));
    let day_ago = SystemTime::now() - Duration::from_secs(25 * 3600);
    for p in [&old, &lock] {
        fs::write(p, b"partial").unwrap();
        fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(day_ago)
            .unwrap();
    }
    fs::write(&young, b"still being written").unwrap();
    let run = fx.cairn(["prune"]).ok();
    let out = run.stdout_str();
    assert!(
        out.contains("removed 2 temporary files left by interrupted writes"),
        "{out}"
    );
    assert!(!old.exists() && !lock.exists());
    assert!(young.exists());
    fx.restic(["check"]).ok();
}
