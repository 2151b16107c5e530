//! Wrong password, not a repository, corrupted repositories.
//!
//! Exit codes are those of current restic (10: no repository, 12: wrong
//! password, 1: other fatal errors).  restic 0.14 itself exits 1 for both of
//! the first two; the tests still run it to make sure the situation is real.

#[macro_use]
mod common;

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use common::tree::Tree;
use common::{Fixture, Tool};

fn stderr_lines(r: &common::Run) -> usize {
    r.stderr.lines().filter(|l| !l.trim().is_empty()).count()
}

per_repo!(wrong_password_exits_12, |fx| {
    let wrong = fx.dir.path().join("wrong-password");
    fs::write(&wrong, "not-the-password\n").unwrap();
    for tool in [Tool::Restic, Tool::Cairn] {
        for args in [
            vec!["snapshots"],
            vec!["snapshots", "--json"],
            vec!["ls", "latest"],
            vec!["cat", "config"],
        ] {
            let out = fx
                .command(tool)
                .env("RESTIC_PASSWORD_FILE", &wrong)
                .args(&args)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{}: {stderr}", tool.name());
            assert!(
                out.stdout.trim_ascii().is_empty(),
                "{} {args:?} printed output with a wrong password: {}",
                tool.name(),
                String::from_utf8_lossy(&out.stdout)
            );
            match tool {
                Tool::Restic => assert_ne!(
                    out.status.code(),
                    Some(0),
                    "restic accepted a wrong password"
                ),
                Tool::Cairn => {
                    assert_eq!(
                        out.status.code(),
                        Some(12),
                        "cairn {args:?} with a wrong password: {stderr}"
                    );
                    assert!(
                        stderr.to_lowercase().contains("password"),
                        "cairn should say why: {stderr}"
                    );
                }
            }
        }
    }
    // the same with --password-file and -p
    let out = fx
        .command(Tool::Cairn)
        .env_remove("RESTIC_PASSWORD_FILE")
        .arg("--password-file")
        .arg(&wrong)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
});

#[test]
fn not_a_repository_exits_10() {
    let fx = Fixture::new("v1");
    let empty = fx.scratch("not-a-repo");
    fs::write(empty.join("some-file"), "x").unwrap();
    let missing = fx.dir.path().join("does-not-exist");
    for dir in [&empty, &missing] {
        for args in [
            vec!["snapshots"],
            vec!["snapshots", "--json"],
            vec!["ls", "latest"],
            vec!["cat", "config"],
        ] {
            let r = {
                let out = fx
                    .command(Tool::Restic)
                    .env("RESTIC_REPOSITORY", dir)
                    .args(&args)
                    .output()
                    .unwrap();
                out.status.code()
            };
            assert_ne!(
                r,
                Some(0),
                "restic accepted {} as a repository",
                dir.display()
            );
            let out = fx
                .command(Tool::Cairn)
                .env("RESTIC_REPOSITORY", dir)
                .args(&args)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert_eq!(
                out.status.code(),
                Some(10),
                "cairn {args:?} on {}: {stderr}",
                dir.display()
            );
            let out = fx
                .command(Tool::Cairn)
                .env_remove("RESTIC_REPOSITORY")
                .arg("-r")
                .arg(dir)
                .args(&args)
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(10),
                "cairn -r {} {args:?}",
                dir.display()
            );
        }
    }
    // the "not a repository" check must not create anything there
    assert!(!missing.exists(), "cairn created {}", missing.display());
    assert_eq!(
        fs::read_dir(&empty).unwrap().count(),
        1,
        "cairn wrote into a non-repository"
    );
}

#[test]
fn missing_password_file_fails_cleanly() {
    let fx = Fixture::new("v2");
    let out = fx
        .command(Tool::Cairn)
        .env(
            "RESTIC_PASSWORD_FILE",
            fx.dir.path().join("no-such-password-file"),
        )
        .arg("snapshots")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

/// Flip one bit in the first blob of the biggest pack file.  Returns the
/// pack's file name.
fn corrupt_biggest_pack(fx: &Fixture) -> String {
    let mut packs: Vec<_> = fx
        .repo_files("data")
        .into_iter()
        .map(|p| (fs::metadata(&p).unwrap().len(), p))
        .collect();
    packs.sort();
    let (len, pack) = packs.pop().expect("no pack files");
    assert!(len > 1000);
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&pack)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, 100).unwrap();
    b[0] ^= 0x01;
    f.write_all_at(&b, 100).unwrap();
    fx.reset_caches();
    pack.file_name().unwrap().to_str().unwrap().to_owned()
}

per_repo!(corrupted_pack_restore_reports_and_continues, |fx| {
    let first = fx.snapshot_with_tag("first");
    // a clean reference restore before the damage
    let clean = fx.scratch("clean");
    fx.restic(["restore", &first, "--target", clean.to_str().unwrap()])
        .ok();
    let pack = corrupt_biggest_pack(fx);

    let rdir = fx.scratch("restic");
    let cdir = fx.scratch("cairn");
    let r = fx.restic(["restore", &first, "--target", rdir.to_str().unwrap()]);
    assert_ne!(
        r.code,
        Some(0),
        "restic did not notice the damage: {}",
        r.describe()
    );
    let c = fx.cairn(["restore", &first, "--target", cdir.to_str().unwrap()]);
    c.assert_no_panic();
    assert_ne!(
        c.code,
        Some(0),
        "cairn did not notice the damaged pack {pack}:\n{}",
        c.describe()
    );
    assert!(stderr_lines(&c) >= 1, "{}", c.describe());

    let clean_t = Tree::scan(&clean);
    let rt = Tree::scan(&rdir);
    let ct = Tree::scan(&cdir);
    // files the damage hit: missing or different in restic's restore
    let damaged: Vec<String> = clean_t
        .entries
        .iter()
        .filter(|(p, e)| {
            e.kind == common::tree::Kind::File
                && rt.entries.get(*p).map(|x| &x.content) != Some(&e.content)
        })
        .map(|(p, _)| String::from_utf8_lossy(p).into_owned())
        .collect();
    assert!(
        !damaged.is_empty(),
        "restic restored everything despite the damage"
    );
    // the error must name the pack or an affected file
    let named = c.stderr.contains(&pack[..8])
        || damaged
            .iter()
            .any(|d| c.stderr.contains(d.rsplit('/').next().unwrap()));
    assert!(
        named,
        "cairn's error names neither pack {pack} nor any of {damaged:?}:\n{}",
        c.stderr
    );
    // every file restic restored intact, cairn restored intact too
    let mut lost = Vec::new();
    for (p, e) in &clean_t.entries {
        if e.kind != common::tree::Kind::File {
            continue;
        }
        let restic_ok = rt.entries.get(p).map(|x| &x.content) == Some(&e.content);
        let cairn_ok = ct.entries.get(p).map(|x| &x.content) == Some(&e.content);
        if restic_ok && !cairn_ok {
            lost.push(String::from_utf8_lossy(p).into_owned());
        }
    }
    assert!(
        lost.is_empty(),
        "cairn stopped restoring after the damage; lost {} intact files: {lost:?}",
        lost.len()
    );
});

per_repo!(corrupted_pack_dump_fails, |fx| {
    let first = fx.snapshot_with_tag("first");
    // find which file the damage hits by asking restic after corrupting
    let pack = corrupt_biggest_pack(fx);
    let mut failed_somewhere = false;
    for f in [
        "files/big.bin",
        "files/exactly-512KiB.bin",
        "files/512KiB-plus-1.bin",
        "files/medium.bin",
        "sparse/sparse.img",
    ] {
        let p = common::src(f);
        let r = fx.restic(["dump", first.as_str(), p.as_str()]);
        let c = fx.cairn(["dump", first.as_str(), p.as_str()]);
        c.assert_no_panic();
        if r.code == Some(0) {
            assert_eq!(
                c.code,
                Some(0),
                "cairn failed where restic did not: {}",
                c.describe()
            );
            assert!(c.stdout == r.stdout, "dump {f} differs");
        } else {
            failed_somewhere = true;
            assert_ne!(
                c.code,
                Some(0),
                "cairn dumped a damaged file ({f}, pack {pack}) without error"
            );
            assert!(stderr_lines(&c) >= 1, "{}", c.describe());
        }
    }
    assert!(
        failed_somewhere,
        "the damage did not hit any of the probed files"
    );
});

per_repo!(truncated_snapshot_file, |fx| {
    let ids = fx.snapshot_ids();
    let victim = ids[2].clone();
    let path = fx.repo.join("snapshots").join(&victim);
    let mut f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len / 2).unwrap();
    f.seek(SeekFrom::End(0)).unwrap();
    f.flush().unwrap();
    drop(f);
    fx.reset_caches();

    // Commands that need that snapshot fail, naming it.
    for args in [
        vec!["cat".to_string(), "snapshot".into(), victim.clone()],
        vec!["ls".into(), victim[..8].to_string()],
        vec![
            "restore".into(),
            victim.clone(),
            "--target".into(),
            fx.dir.path().join("t").to_str().unwrap().into(),
        ],
        vec![
            "dump".into(),
            victim.clone(),
            common::src("files/small.txt"),
        ],
    ] {
        let r = fx.restic(&args);
        let c = fx.cairn(&args);
        c.assert_no_panic();
        assert!(!c.stderr.contains("panicked"));
        // restic 0.14's `ls` of an unloadable snapshot only warns and exits 0
        if r.code != Some(0) {
            assert_ne!(
                c.code,
                Some(0),
                "cairn {args:?} succeeded on a truncated snapshot:\n{}",
                c.describe()
            );
        }
        assert!(
            c.stderr.contains(&victim[..8]),
            "cairn {args:?}: the error should name snapshot {}:\n{}",
            &victim[..8],
            c.stderr
        );
    }

    // Listing snapshots: restic 0.14 warns about the broken one on stderr and
    // still lists the rest.  Cairn: same list, and the warning names it.
    let r = fx.restic(["snapshots", "--json"]);
    let c = fx.cairn(["snapshots", "--json"]);
    c.assert_no_panic();
    assert_eq!(
        r.code == Some(0),
        c.code == Some(0),
        "exit status differs: restic {:?}, cairn {:?}\n{}",
        r.code,
        c.code,
        c.describe()
    );
    assert!(
        c.stderr.contains(&victim[..8]),
        "cairn should warn about {}:\n{}",
        &victim[..8],
        c.stderr
    );
    if r.code == Some(0) {
        common::assert_json_superset(
            "snapshots --json with a broken snapshot",
            &r.json(),
            &c.json(),
        );
    }
});
