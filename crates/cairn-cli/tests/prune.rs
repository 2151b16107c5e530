//! A `cairn prune` killed at any moment leaves a repository restic
//! accepts, and the next prune finishes.
//!
//! restic 0.14 makes a repository with about half of its ~90 MiB unused
//! (two backups of a 60 MiB tree of which half changes, then
//! `forget --keep-last 1`). Copies of it are pruned with
//! `cairn prune --max-unused 0`, which repacks every partly used pack, and
//! SIGKILLed (fixed seed): half of the kills after delays spread over the
//! time a full prune takes, half a few milliseconds after one of the later
//! steps (new index, deleting old index files, deleting packs) starts
//! (those steps take milliseconds). After each kill: `restic unlock` (the lock is stale),
//! `restic check` must pass, a second `cairn prune` must finish, and
//! `restic check --read-data` must pass. Finally the snapshot restores
//! (with restic) to what it restored to before any prune.
//!
//! A missing restic fails the test (set `CAIRN_TEST_RESTIC` or put restic
//! on `PATH`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "prune-test";
const KILLS: u64 = 10;
const SEED: u64 = 0x5eed_0fc0_ffee;

/// The real restic: `$CAIRN_TEST_RESTIC`, or `restic` on `PATH`.
fn restic_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CAIRN_TEST_RESTIC") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("restic"))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .unwrap_or_else(|| {
            panic!("this test needs the real restic on PATH (Debian: `apt-get install -y restic`), or set CAIRN_TEST_RESTIC")
        })
}

fn command(program: &Path, repo: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RESTIC_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", PASSWORD)
        .stdin(Stdio::null());
    cmd
}

fn restic(repo: &Path, args: &[&str]) -> Output {
    command(&restic_bin(), repo)
        .arg("--no-cache")
        .args(args)
        .output()
        .expect("run restic")
}

fn cairn_cmd(repo: &Path) -> Command {
    command(Path::new(env!("CARGO_BIN_EXE_cairn")), repo)
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}: exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(what: &str, out: Output) -> String {
    assert!(out.status.success(), "{}", describe(what, &out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SplitMix64: file contents and kill delays, reproducibly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
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

/// Relative path → SHA-256 of every file below `root`.
fn digest(root: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if e.file_type().unwrap().is_dir() {
                walk(base, &e.path(), out);
            } else {
                let data = std::fs::read(e.path()).unwrap();
                out.insert(rel, cairn::Id::hash(&data).to_hex());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn restore(repo: &Path, target: &Path) -> BTreeMap<String, String> {
    let t = target.to_string_lossy().into_owned();
    ok(
        "restic restore",
        restic(repo, &["restore", "latest", "--target", &t]),
    );
    let d = digest(target);
    std::fs::remove_dir_all(target).unwrap();
    d
}

/// The garbage-laden template repository.
fn template(dir: &Path) -> PathBuf {
    let repo = dir.join("template");
    let src = dir.join("src");
    let mut rng = Rng(SEED);
    ok("init", restic(&repo, &["init"]));
    for i in 0..24 {
        std::fs::create_dir_all(src.join(format!("d{}", i % 4))).unwrap();
        std::fs::write(src.join(format!("d{}/f{i}", i % 4)), rng.bytes(2_500_000)).unwrap();
    }
    let s = src.to_string_lossy().into_owned();
    ok(
        "backup 1",
        restic(&repo, &["backup", "-q", "--pack-size", "4", &s]),
    );
    for i in (0..24).step_by(2) {
        std::fs::write(src.join(format!("d{}/f{i}", i % 4)), rng.bytes(2_500_000)).unwrap();
    }
    ok(
        "backup 2",
        restic(&repo, &["backup", "-q", "--pack-size", "4", &s]),
    );
    ok(
        "forget",
        restic(&repo, &["forget", "-q", "--keep-last", "1"]),
    );
    repo
}

fn check(repo: &Path, read_data: bool, what: &str) {
    let mut args = vec!["check"];
    if read_data {
        args.push("--read-data");
    }
    let out = restic(repo, &args);
    assert!(out.status.success(), "{}", describe(what, &out));
}

fn prune_to_end(repo: &Path, what: &str) -> Duration {
    let started = Instant::now();
    let out = cairn_cmd(repo)
        .args(["prune", "--max-unused", "0"])
        .output()
        .expect("run cairn");
    let text = ok(what, out);
    assert!(text.contains("done"), "{what}: {text}");
    started.elapsed()
}

/// Steps after which the targeted kills land.
const TRIGGERS: [&str; 4] = [
    "repacking packs",
    "rebuilding index",
    "deleting obsolete index files",
    "removing",
];

/// Sends the lines of `out` as they come.
fn spawn_line_reader(out: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn killed_prunes_leave_a_valid_repository() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path());
    let expected = restore(&template, &dir.path().join("restore"));

    // A full prune, to learn how long one takes.
    let full = dir.path().join("full");
    copy_dir(&template, &full);
    let first = prune_to_end(&full, "uninterrupted prune");
    check(&full, true, "check after an uninterrupted prune");
    std::fs::remove_dir_all(&full).unwrap();
    copy_dir(&template, &full);
    let took = first.min(prune_to_end(&full, "second uninterrupted prune"));
    std::fs::remove_dir_all(&full).unwrap();

    let mut rng = Rng(SEED ^ 1);
    let mut reached = Vec::new();
    for i in 0..KILLS {
        let repo = dir.path().join(format!("kill{i}"));
        copy_dir(&template, &repo);
        // The first half of the kills land at times spread over a whole
        // run; the others within 2 ms after a later step starts
        // (the short steps a time-based kill would rarely hit).
        let trigger = match i {
            _ if i < KILLS / 2 => None,
            _ => Some(TRIGGERS[(i as usize) % TRIGGERS.len()]),
        };
        let delay = match trigger {
            None => took.mul_f64((i as f64 + rng.unit()) / (KILLS / 2) as f64 * 0.95),
            Some(_) => Duration::from_micros(rng.next() % 2_000),
        };
        let mut child = cairn_cmd(&repo)
            .args(["prune", "--max-unused", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cairn");
        let lines = spawn_line_reader(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        if let Some(t) = trigger {
            while let Ok(line) = lines.recv() {
                let hit = line.starts_with(t);
                seen.push(line);
                if hit {
                    break;
                }
            }
        }
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        seen.extend(lines.try_iter());
        let last = seen.last().cloned().unwrap_or_default();
        reached.push(format!("{trigger:?} + {delay:.2?}: last line {last:?}"));

        ok("unlock", restic(&repo, &["unlock"]));
        check(&repo, false, &format!("check after kill {i} ({last})"));
        prune_to_end(&repo, &format!("prune after kill {i}"));
        check(
            &repo,
            true,
            &format!("check --read-data after kill {i} and a second prune"),
        );
        if i == KILLS - 1 {
            assert_eq!(restore(&repo, &dir.path().join("restore")), expected);
        }
        std::fs::remove_dir_all(&repo).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "taking too long: {reached:#?}"
        );
    }
    eprintln!("a full prune took {took:.2?}; kills landed after:\n{reached:#?}");
}
