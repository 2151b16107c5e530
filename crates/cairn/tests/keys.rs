//! Keys added by Cairn open the repository in restic and the other way
//! round; the key in use cannot be removed.

#[path = "common/restic_cli.rs"]
mod common;

use cairn::{Error, KeyOptions};
use common::*;

fn small() -> KeyOptions {
    KeyOptions {
        scrypt: Some(small_scrypt()),
        ..KeyOptions::default()
    }
}

#[test]
fn a_key_added_by_cairn_opens_the_repository_in_restic() {
    let (_dir, path, repo) = cairn_repo(2);
    let opts = KeyOptions {
        username: Some("alice".into()),
        hostname: Some("box".into()),
        ..small()
    };
    let id = repo
        .add_key(&repo.lock(false, None).unwrap(), "second-pw", &opts)
        .unwrap();
    ok(restic(&path, "second-pw", ["check"]));
    let out = ok(restic(&path, "second-pw", ["key", "list", "--json"]));
    let keys: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(keys.len(), 2);
    // restic 0.14 prints the short ID, newer versions the full one.
    let ours = keys
        .iter()
        .find(|k| id.to_hex().starts_with(k["id"].as_str().unwrap()))
        .expect("new key listed by restic");
    assert_eq!(ours["current"], true);
    assert_eq!(ours["userName"], "alice");
    assert_eq!(ours["hostName"], "box");
    // An empty override means the current user and host, as in restic.
    let plain = repo
        .add_key(
            &repo.lock(false, None).unwrap(),
            "third-pw",
            &KeyOptions {
                username: Some(String::new()),
                ..small()
            },
        )
        .unwrap();
    let (infos, problems) = repo.keys().unwrap();
    assert!(problems.is_empty());
    let info = infos.iter().find(|k| k.id == plain).unwrap();
    assert_eq!(info.username, cairn::host::username());
    assert_eq!(info.hostname, cairn::host::hostname());
    ok(restic(&path, "third-pw", ["snapshots"]));
}

#[test]
fn a_key_added_by_restic_opens_the_repository_in_cairn() {
    let (dir, path, repo) = cairn_repo(2);
    let pwfile = password_file(dir.path(), "new", "from-restic");
    ok(restic(
        &path,
        PASSWORD,
        [
            "key".as_ref(),
            "add".as_ref(),
            "--new-password-file".as_ref(),
            pwfile.as_os_str(),
        ],
    ));
    let reopened = open(&path, "from-restic").unwrap();
    assert_ne!(reopened.key_id(), repo.key_id());
    assert_eq!(reopened.config().id, repo.config().id);
    let (keys, _) = reopened.keys().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.iter().filter(|k| k.current).count(), 1);
    assert!(keys.iter().any(|k| k.current && k.id == reopened.key_id()));
}

#[test]
fn removing_the_current_key_is_refused_and_others_can_go() {
    let (_dir, path, repo) = cairn_repo(2);
    let other = repo
        .add_key(&repo.lock(false, None).unwrap(), "other-pw", &small())
        .unwrap();
    let current = repo.key_id().to_hex();
    let err = repo
        .remove_key(&repo.lock(true, None).unwrap(), &current[..8])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("refusing to remove key currently used"),
        "{err}"
    );
    assert!(matches!(
        repo.remove_key(&repo.lock(true, None).unwrap(), "zz"),
        Err(Error::SnapshotNotFound(_))
    ));

    // Through the CLI: exit 1 and restic's message.
    let out = cairn(&path, PASSWORD, ["key", "remove", &current[..8]]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("refusing to remove key currently used to access repository"));

    let out = ok(cairn(
        &path,
        PASSWORD,
        ["key", "remove", &other.to_hex()[..8]],
    ));
    assert_eq!(out.trim(), format!("removed key {}", other.to_hex()));
    assert!(matches!(open(&path, "other-pw"), Err(Error::WrongPassword)));
    let denied = restic(&path, "other-pw", ["snapshots"]);
    assert!(!denied.status.success());
    ok(restic(&path, PASSWORD, ["check"]));
}

#[test]
fn change_password_swaps_the_key() {
    let (_dir, path, mut repo) = cairn_repo(2);
    let old = repo.key_id();
    let lock = repo.lock(true, None).unwrap();
    let new = repo.change_password(&lock, "new-pw", &small()).unwrap();
    drop(lock);
    assert_eq!(repo.key_id(), new);
    assert_ne!(new, old);
    assert!(matches!(open(&path, PASSWORD), Err(Error::WrongPassword)));
    let reopened = open(&path, "new-pw").unwrap();
    assert_eq!(reopened.key_id(), new);
    let (keys, _) = reopened.keys().unwrap();
    assert_eq!(keys.iter().map(|k| k.id).collect::<Vec<_>>(), vec![new]);
    ok(restic(&path, "new-pw", ["check"]));
    assert!(!restic(&path, PASSWORD, ["snapshots"]).status.success());
}

#[test]
fn cli_key_list_add_and_passwd() {
    let (dir, path, repo) = cairn_repo(2);
    let pw2 = password_file(dir.path(), "pw2", "  second  ");
    let out = ok(cairn(
        &path,
        PASSWORD,
        [
            "key".as_ref(),
            "add".as_ref(),
            "--new-password-file".as_ref(),
            pw2.as_os_str(),
            "--user".as_ref(),
            "bob".as_ref(),
            "--host".as_ref(),
            "h1".as_ref(),
        ],
    ));
    let added = out
        .trim()
        .strip_prefix("saved new key with ID ")
        .expect(&out)
        .to_string();
    // The password file is trimmed, as restic does.
    let as_second = open(&path, "second").unwrap();
    assert_eq!(as_second.key_id().to_hex(), added);

    let table = ok(cairn(&path, PASSWORD, ["key", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with(" ID"), "{table}");
    assert!(lines[0].contains("User") && lines[0].contains("Host") && lines[0].contains("Created"));
    let current = lines
        .iter()
        .find(|l| l.starts_with('*'))
        .expect("current key marked");
    assert!(
        current.starts_with(&format!("*{}", repo.key_id().short())),
        "{table}"
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with(&format!(" {}", &added[..8]))
            && l.contains("bob")
            && l.contains("h1")));

    let json = ok(cairn(&path, PASSWORD, ["--json", "key", "list"]));
    let keys: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(keys.len(), 2);
    for k in &keys {
        let fields: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = fields.clone();
        sorted.sort();
        assert_eq!(sorted, ["created", "current", "hostName", "id", "userName"]);
    }
    assert!(json.starts_with(r#"[{"current":"#), "{json}");

    let pw3 = password_file(dir.path(), "pw3", "third");
    let out = ok(cairn(
        &path,
        "second",
        [
            "key".as_ref(),
            "passwd".as_ref(),
            "--new-password-file".as_ref(),
            pw3.as_os_str(),
        ],
    ));
    assert!(out.starts_with("saved new key as <Key of "), "{out}");
    assert!(matches!(open(&path, "second"), Err(Error::WrongPassword)));
    ok(restic(&path, "third", ["check"]));
    // The original key is still there.
    open(&path, PASSWORD).unwrap();
}
