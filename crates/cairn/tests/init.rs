//! Repositories made by Cairn work in restic, and `cairn init` behaves
//! like `restic init`.

#[path = "common/restic_cli.rs"]
mod common;

use common::*;

/// restic checks, backs up into and checks again a Cairn repository.
fn restic_accepts(version: u32) {
    let (dir, path, repo) = cairn_repo(version);
    assert_eq!(repo.config().version, version);
    ok(restic(&path, PASSWORD, ["check"]));
    ok(restic(&path, PASSWORD, ["snapshots"]));
    let src = sample_tree(dir.path());
    ok(restic(
        &path,
        PASSWORD,
        ["backup".as_ref(), src.as_os_str()],
    ));
    let out = ok(restic(&path, PASSWORD, ["check", "--read-data"]));
    assert!(out.contains("no errors were found"), "{out}");
    // And Cairn reads what restic wrote.
    let repo = open(&path, PASSWORD).unwrap();
    let (snaps, problems) = repo.snapshots().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(snaps.len(), 1);
    assert_eq!(
        snaps[0].snapshot.paths,
        vec![src.to_string_lossy().into_owned()]
    );
}

#[test]
fn restic_accepts_a_cairn_v2_repository() {
    restic_accepts(2);
}

#[test]
fn restic_accepts_a_cairn_v1_repository() {
    restic_accepts(1);
}

#[test]
fn restic_sees_the_config_cairn_wrote() {
    let (_dir, path, repo) = cairn_repo(2);
    let out = ok(restic(&path, PASSWORD, ["cat", "config"]));
    let config: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(config["version"], 2);
    assert_eq!(config["id"], repo.config().id.as_str());
    assert_eq!(
        config["chunker_polynomial"],
        format!("{:x}", repo.config().chunker_polynomial).as_str()
    );
}

#[test]
fn cli_init_prints_like_restic_and_refuses_an_existing_repository() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repo");
    let out = ok(cairn(&path, PASSWORD, ["init"]));
    let first = out.lines().next().unwrap();
    let id = open(&path, PASSWORD).unwrap().config().id.clone();
    assert_eq!(
        first,
        format!(
            "created restic repository {} at {}",
            &id[..10],
            path.display()
        )
    );
    assert!(out.contains("Losing your password means that your data is\nirrecoverably lost."));
    ok(restic(&path, PASSWORD, ["check"]));

    let again = cairn(&path, PASSWORD, ["init"]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("config file already exists"), "{err}");
    // The repository is untouched.
    assert_eq!(open(&path, PASSWORD).unwrap().config().id, id);
}

#[test]
fn cli_init_json_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1");
    let out = ok(cairn(
        &path,
        PASSWORD,
        ["--json", "init", "--repository-version", "1"],
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let repo = open(&path, PASSWORD).unwrap();
    assert_eq!(repo.config().version, 1);
    assert_eq!(
        out.trim(),
        format!(
            r#"{{"message_type":"initialized","id":"{}","repository":"{}"}}"#,
            repo.config().id,
            path.display()
        )
    );
    assert_eq!(v["message_type"], "initialized");
    ok(restic(&path, PASSWORD, ["check"]));

    for (given, version) in [("stable", 2), ("latest", 2), ("2", 2)] {
        let p = dir.path().join(given);
        ok(cairn(&p, PASSWORD, ["init", "--repository-version", given]));
        assert_eq!(open(&p, PASSWORD).unwrap().config().version, version);
    }
    let bad = cairn(
        &dir.path().join("v3"),
        PASSWORD,
        ["init", "--repository-version", "3"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("only repository versions between 1 and 2")
    );
    assert!(!dir.path().join("v3/config").exists());
}

#[test]
fn copy_chunker_params_from_a_restic_repository() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src-repo");
    let out = restic(&src, "source-pw", ["init"]);
    ok(out);
    let src_poly = open(&src, "source-pw").unwrap().config().chunker_polynomial;
    let pwfile = password_file(dir.path(), "src-pw", "source-pw");

    let dst = dir.path().join("dst-repo");
    let out = ok(cairn(
        &dst,
        PASSWORD,
        [
            "init".as_ref(),
            "--copy-chunker-params".as_ref(),
            "--from-repo".as_ref(),
            src.as_os_str(),
            "--from-password-file".as_ref(),
            pwfile.as_os_str(),
        ],
    ));
    assert!(
        out.lines()
            .next()
            .unwrap()
            .ends_with(" with chunker parameters copied from secondary repository"),
        "{out}"
    );
    let dst_repo = open(&dst, PASSWORD).unwrap();
    assert_eq!(dst_repo.config().chunker_polynomial, src_poly);
    assert_ne!(
        dst_repo.config().id,
        open(&src, "source-pw").unwrap().config().id
    );
    let cat = ok(restic(&dst, PASSWORD, ["cat", "config"]));
    assert!(cat.contains(&format!("{src_poly:x}")), "{cat}");

    // The environment variables work too, and without the flag the
    // secondary options are refused, as in restic.
    let dst2 = dir.path().join("dst2");
    let mut cmd = std::process::Command::new(cairn_bin());
    let out = cmd
        .args(["init", "--copy-chunker-params"])
        .env("RESTIC_REPOSITORY", &dst2)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("RESTIC_FROM_REPOSITORY", &src)
        .env("RESTIC_FROM_PASSWORD", "source-pw")
        .output()
        .unwrap();
    ok(out);
    assert_eq!(
        open(&dst2, PASSWORD).unwrap().config().chunker_polynomial,
        src_poly
    );

    let refused = cairn(
        &dir.path().join("dst3"),
        PASSWORD,
        ["init".as_ref(), "--from-repo".as_ref(), src.as_os_str()],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains(
        "Secondary repository must only be specified when copying the chunker parameters"
    ));
}

#[test]
fn wrong_source_password_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src-repo");
    ok(restic(&src, "source-pw", ["init"]));
    let pwfile = password_file(dir.path(), "bad", "not-it");
    let out = cairn(
        &dir.path().join("dst"),
        PASSWORD,
        [
            "init".as_ref(),
            "--copy-chunker-params".as_ref(),
            "--from-repo".as_ref(),
            src.as_os_str(),
            "--from-password-file".as_ref(),
            pwfile.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(12), "{}", describe(&out));
    assert!(!dir.path().join("dst/config").exists());
}
