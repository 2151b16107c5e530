//! `cairn generate`: man pages and completion files.

use std::process::Command;

fn cairn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
}

#[test]
fn man_pages_cover_every_command_and_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = cairn()
        .args(["generate", "--man"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    for want in [
        "cairn.1",
        "cairn-backup.1",
        "cairn-restore.1",
        "cairn-generate.1",
    ] {
        assert!(pages.iter().any(|p| p == want), "{want} missing: {pages:?}");
    }
    assert!(!pages.iter().any(|p| p == "cairn-help.1"));
    let backup = std::fs::read_to_string(dir.path().join("cairn-backup.1")).unwrap();
    assert!(backup.contains("cairn\\-backup"), "{backup}");
    assert!(backup.contains("exclude\\-if\\-present"));
}

#[test]
fn completion_files_are_valid_scripts_and_dash_means_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let bash = dir.path().join("cairn.bash");
    let zsh = dir.path().join("_cairn");
    let out = cairn()
        .args(["generate", "--bash-completion"])
        .arg(&bash)
        .arg("--zsh-completion")
        .arg(&zsh)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("writing bash completion file to"),
        "{stdout}"
    );
    let script = std::fs::read_to_string(&bash).unwrap();
    assert!(script.contains("snapshots") && script.contains("--keep-daily"));
    let syntax = Command::new("bash").arg("-n").arg(&bash).output().unwrap();
    assert!(syntax.status.success(), "{syntax:?}");
    assert!(std::fs::read_to_string(&zsh)
        .unwrap()
        .contains("#compdef cairn"));

    let out = cairn()
        .args(["generate", "--fish-completion", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let fish = String::from_utf8(out.stdout).unwrap();
    assert!(fish.contains("complete -c cairn"), "{fish}");
}

#[test]
fn nothing_to_do_is_an_error() {
    let out = cairn().arg("generate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.trim_end(),
        "Fatal: nothing to do, please specify at least one output file/dir"
    );
}
