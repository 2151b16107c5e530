//! Shared helpers for the interop tests: run the real restic and `cairn` on a
//! private copy of a fixture repository, compare their JSON, and compare
//! restored directory trees (see `tree`).
//!
//! The fixture repositories in `testdata/repos/` were written by restic 0.14
//! (`testdata/make-fixtures.sh`).  They are never used in place: every test
//! copies the one it needs into a temporary directory first.
#![allow(dead_code)]

pub mod crafted;
pub mod process;
pub mod prometheus;
pub mod tree;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;
use tempfile::TempDir;

/// The three fixture repositories.
pub const REPOS: [&str; 3] = ["v1", "v2", "v2-uncompressed"];

/// Absolute path that was backed up into the fixtures.
pub const SRC: &str = "/tmp/cairn-fixture/src";

/// Which program to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Restic,
    Cairn,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Restic => "restic",
            Tool::Cairn => "cairn",
        }
    }

    pub fn program(self) -> PathBuf {
        match self {
            Tool::Restic => restic_bin().clone(),
            Tool::Cairn => PathBuf::from(env!("CARGO_BIN_EXE_cairn")),
        }
    }
}

/// The real restic: `$CAIRN_TEST_RESTIC` or `restic` from `PATH`.  A missing
/// restic fails the test loudly; these tests are never skipped.
pub fn restic_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let candidate = match std::env::var_os("CAIRN_TEST_RESTIC") {
            Some(p) => PathBuf::from(p),
            None => find_in_path("restic").unwrap_or_else(|| {
                panic!(
                    "the interop tests need the real restic 0.14 on PATH \
                     (Debian: `apt-get install -y restic`), or set CAIRN_TEST_RESTIC"
                )
            }),
        };
        let out = Command::new(&candidate)
            .arg("version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", candidate.display()));
        let version = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && version.starts_with("restic "),
            "{} version failed: {version}",
            candidate.display()
        );
        let expected = fs::read_to_string(fixtures_dir().join("RESTIC_VERSION")).unwrap();
        let word = |s: &str| s.split_whitespace().nth(1).map(str::to_owned);
        if word(&version) != word(&expected) {
            eprintln!(
                "warning: fixtures were made by `{}`, comparing against `{}`",
                expected.trim(),
                version.trim()
            );
        }
        candidate
    })
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.is_file()
                && fs::metadata(p)
                    .map(|m| m.permissions().mode() & 0o111 != 0)
                    .unwrap_or(false)
        })
}

/// `testdata/repos` in the workspace (or `$CAIRN_TEST_FIXTURES`).
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("CAIRN_TEST_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/repos"),
    }
}

/// Result of one command.
#[derive(Debug)]
pub struct Run {
    pub tool: Tool,
    pub args: Vec<OsString>,
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn describe(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        format!(
            "`{} {}` exited with {:?}\n--- stderr ---\n{}\n--- stdout (first 2000 bytes) ---\n{}",
            self.tool.name(),
            args.join(" "),
            self.code,
            self.stderr,
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(2000)])
        )
    }

    /// Panics unless the command exited with 0.
    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "{}", self.describe());
        self.assert_no_panic();
        self
    }

    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "{} panicked:\n{}",
            self.tool.name(),
            self.describe()
        );
        assert!(
            self.code.is_some(),
            "killed by a signal:\n{}",
            self.describe()
        );
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8(self.stdout.clone())
            .unwrap_or_else(|_| panic!("stdout is not UTF-8:\n{}", self.describe()))
    }

    /// stdout parsed as a single JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}",
                self.describe()
            )
        })
    }

    /// stdout parsed as one JSON document per non-empty line.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(|l| {
                serde_json::from_slice(l).unwrap_or_else(|e| {
                    panic!(
                        "line {:?} is not JSON ({e}):\n{}",
                        String::from_utf8_lossy(l),
                        self.describe()
                    )
                })
            })
            .collect()
    }

    /// Non-empty stdout lines, sorted (for set comparisons).
    pub fn sorted_lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .stdout_str()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    }
}

/// A private, writable copy of one fixture repository.
pub struct Fixture {
    pub name: String,
    pub dir: TempDir,
    pub repo: PathBuf,
    pub password_file: PathBuf,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        Fixture::copy_of(
            name,
            &fixtures_dir().join(name),
            &fixtures_dir().join("password"),
        )
    }

    /// A private copy of the repository at `src` (any fixture directory,
    /// e.g. the rustic-written one), with the password in `password`.
    pub fn copy_of(name: &str, src: &Path, password: &Path) -> Fixture {
        // Resolve restic first so a missing restic is the first failure seen.
        restic_bin();
        assert!(
            src.join("config").is_file(),
            "fixture {} is missing; run testdata/make-fixtures.sh",
            src.display()
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("cairn-it-{}-", name.replace('/', "-")))
            .tempdir()
            .unwrap();
        let repo = dir.path().join("repo");
        copy_tree(src, &repo);
        // git does not keep empty directories; put back what `restic init` makes.
        for d in ["keys", "locks", "snapshots", "index", "data"] {
            fs::create_dir_all(repo.join(d)).unwrap();
        }
        for i in 0..=255u8 {
            fs::create_dir_all(repo.join("data").join(format!("{i:02x}"))).unwrap();
        }
        let password_file = dir.path().join("password");
        fs::copy(password, &password_file).unwrap();
        Fixture {
            name: name.to_owned(),
            dir,
            repo,
            password_file,
        }
    }

    /// A fresh empty directory inside this fixture's temp dir.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        assert!(!p.exists(), "scratch dir {} used twice", p.display());
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Base command with repository, password and a per-tool cache dir in
    /// the environment, and a clean, deterministic environment otherwise.
    pub fn command(&self, tool: Tool) -> Command {
        let mut c = Command::new(tool.program());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RESTIC_") {
                c.env_remove(&k);
            }
        }
        c.env("RESTIC_REPOSITORY", &self.repo)
            .env("RESTIC_PASSWORD_FILE", &self.password_file)
            .env(
                "RESTIC_CACHE_DIR",
                self.dir.path().join(format!("cache-{}", tool.name())),
            )
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null());
        c
    }

    pub fn run<I, S>(&self, tool: Tool, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.command(tool).args(&args).output().unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({}): {e}",
                tool.name(),
                tool.program().display()
            )
        });
        run_from_output(tool, args, out)
    }

    pub fn restic<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Run {
        self.run(Tool::Restic, args)
    }

    pub fn cairn<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Run {
        self.run(Tool::Cairn, args)
    }

    /// All snapshots as restic lists them (`snapshots --json`), oldest first.
    pub fn snapshots(&self) -> Vec<Value> {
        let v = self.restic(["snapshots", "--json"]).ok().json();
        let mut v = v.as_array().expect("snapshots --json is an array").clone();
        v.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
        assert_eq!(v.len(), 5, "fixture {} should hold 5 snapshots", self.name);
        v
    }

    /// Full IDs of all snapshots, oldest first.
    pub fn snapshot_ids(&self) -> Vec<String> {
        self.snapshots()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The snapshot carrying `tag` (unique in the fixtures: first, second, weekly).
    pub fn snapshot_with_tag(&self, tag: &str) -> String {
        let found: Vec<String> = self
            .snapshots()
            .iter()
            .filter(|s| {
                s["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == tag))
            })
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(found.len(), 1, "tag {tag} in {}", self.name);
        found[0].clone()
    }

    /// Forget both tools' caches (after damaging the repository: restic's
    /// cache would otherwise still hold intact copies of snapshots and trees).
    pub fn reset_caches(&self) {
        for tool in [Tool::Restic, Tool::Cairn] {
            let d = self.dir.path().join(format!("cache-{}", tool.name()));
            if d.exists() {
                fs::remove_dir_all(&d).unwrap();
            }
        }
    }

    /// Every file below `sub` (e.g. "data", "snapshots") of the repository.
    pub fn repo_files(&self, sub: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        collect_files(&self.repo.join(sub), &mut out);
        out.sort();
        out
    }
}

pub(crate) fn run_from_output(tool: Tool, args: Vec<OsString>, out: Output) -> Run {
    Run {
        tool,
        args,
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            collect_files(&e.path(), out);
        } else if t.is_file() {
            out.push(e.path());
        }
    }
}

/// Recursive copy of regular files and directories, made writable.
pub fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    fs::set_permissions(dst, fs::Permissions::from_mode(0o700)).unwrap();
    for e in fs::read_dir(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display())) {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        let to = dst.join(e.file_name());
        if t.is_dir() {
            copy_tree(&e.path(), &to);
        } else if t.is_file() {
            fs::copy(e.path(), &to).unwrap();
            fs::set_permissions(&to, fs::Permissions::from_mode(0o600)).unwrap();
        } else {
            panic!("unexpected non-file {} in fixture", e.path().display());
        }
    }
}

/// Compare restic's JSON value with Cairn's: every object key restic prints
/// must be present in Cairn's output with the same value (recursively);
/// Cairn may print extra keys.  Arrays must match element by element.
/// Returns one line per difference.
pub fn json_superset_diffs(restic: &Value, cairn: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    superset_rec(restic, cairn, "$", &mut diffs);
    diffs
}

fn superset_rec(r: &Value, c: &Value, at: &str, diffs: &mut Vec<String>) {
    match (r, c) {
        (Value::Object(ro), Value::Object(co)) => {
            for (k, rv) in ro {
                match co.get(k) {
                    None => diffs.push(format!("{at}.{k}: missing in cairn (restic: {rv})")),
                    Some(cv) => superset_rec(rv, cv, &format!("{at}.{k}"), diffs),
                }
            }
        }
        (Value::Array(ra), Value::Array(ca)) => {
            if ra.len() != ca.len() {
                diffs.push(format!(
                    "{at}: restic has {} elements, cairn {}",
                    ra.len(),
                    ca.len()
                ));
            }
            for (i, (rv, cv)) in ra.iter().zip(ca).enumerate() {
                superset_rec(rv, cv, &format!("{at}[{i}]"), diffs);
            }
        }
        (Value::Number(rn), Value::Number(cn)) => {
            // 1 and 1.0 are the same number to a JSON reader
            if rn != cn && rn.as_f64() != cn.as_f64() {
                diffs.push(format!("{at}: restic {rn}, cairn {cn}"));
            }
        }
        _ => {
            if r != c {
                diffs.push(format!("{at}: restic {r}, cairn {c}"));
            }
        }
    }
}

/// Panic with every difference if Cairn's JSON is not a superset of restic's.
pub fn assert_json_superset(what: &str, restic: &Value, cairn: &Value) {
    let diffs = json_superset_diffs(restic, cairn);
    assert!(
        diffs.is_empty(),
        "{what}: cairn's JSON differs from restic's in {} place(s):\n  {}\nrestic: {}\ncairn:  {}",
        diffs.len(),
        diffs
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  "),
        truncate(&restic.to_string(), 3000),
        truncate(&cairn.to_string(), 3000)
    );
}

/// Line-by-line superset comparison of two JSON-lines outputs.
pub fn assert_json_lines_superset(what: &str, restic: &[Value], cairn: &[Value]) {
    let mut diffs = Vec::new();
    if restic.len() != cairn.len() {
        diffs.push(format!(
            "restic printed {} lines, cairn {}",
            restic.len(),
            cairn.len()
        ));
    }
    for (i, (r, c)) in restic.iter().zip(cairn).enumerate() {
        for d in json_superset_diffs(r, c) {
            diffs.push(format!("line {}: {d}", i + 1));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} difference(s):\n  {}",
        diffs.len(),
        diffs
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// A snapshot-table text as restic 0.14 prints it: restic 0.19 (and cairn)
/// name the time zone above each table's snapshot count, 0.14 does not.
/// Fails if a table's count line has no zone line above it.
pub fn without_zone_footer(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    for (i, l) in lines.iter().enumerate() {
        let count = l.strip_suffix(" snapshots").or(l.strip_suffix(" snapshot"));
        if count.is_some_and(|n| n.parse::<usize>().is_ok()) {
            assert!(
                i > 0 && lines[i - 1].starts_with("Timestamps shown in "),
                "no time zone line above {l:?} in:\n{text}"
            );
        }
    }
    lines
        .into_iter()
        .filter(|l| !l.starts_with("Timestamps shown in "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// restic 0.19's compression lines, which restic 0.14 does not print.
pub const STATS_COMPRESSION_LINES: [&str; 4] = [
    " Total Uncompressed Size:",
    "    Compression Progress:",
    "       Compression Ratio:",
    "Compression Space Saving:",
];

/// Cairn's (restic 0.19's) `stats` output in restic 0.14's words: 0.19 widened the
/// labels, added the compression lines and fields, leaves out a zero
/// `total_file_count` in JSON, and words the "Ignoring" warnings
/// differently.
pub fn stats_as_restic_014(out: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(out);
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(&text) {
        // restic 0.14's fields, in its order.
        let mut fields = vec![format!("\"total_size\":{}", o["total_size"])];
        let files = o.get("total_file_count").cloned().unwrap_or(0.into());
        fields.push(format!("\"total_file_count\":{files}"));
        if let Some(b) = o.get("total_blob_count") {
            fields.push(format!("\"total_blob_count\":{b}"));
        }
        fields.push(format!("\"snapshots_count\":{}", o["snapshots_count"]));
        return format!("{{{}}}\n", fields.join(",")).into_bytes();
    }
    let mut lines = Vec::new();
    for line in text.split_inclusive('\n') {
        if STATS_COMPRESSION_LINES.iter().any(|p| line.starts_with(p)) {
            continue;
        }
        let line = line
            .replace("     Snapshots processed:  ", "Snapshots processed:   ")
            .replace("        Total Blob Count:  ", "   Total Blob Count:   ")
            .replace("        Total File Count:  ", "   Total File Count:   ")
            .replace("              Total Size:  ", "         Total Size:   ")
            .replace("\": no snapshot matched", "\", no snapshot matched")
            .replace(
                "Ignoring \"filters\": explicit snapshot ids are given",
                "Ignoring filters as there are explicit snapshot ids given",
            );
        lines.push(line);
    }
    lines.concat().into_bytes()
}

/// Exact byte comparison of two outputs, reporting the first differing line.
pub fn assert_same_text(what: &str, restic: &[u8], cairn: &[u8]) {
    if restic == cairn {
        return;
    }
    let rl: Vec<&[u8]> = restic.split(|&b| b == b'\n').collect();
    let cl: Vec<&[u8]> = cairn.split(|&b| b == b'\n').collect();
    let mut msg = format!(
        "{what}: output differs (restic {} bytes / {} lines, cairn {} bytes / {} lines)\n",
        restic.len(),
        rl.len(),
        cairn.len(),
        cl.len()
    );
    let mut shown = 0;
    for i in 0..rl.len().max(cl.len()) {
        let r = rl.get(i).copied();
        let c = cl.get(i).copied();
        if r != c {
            msg.push_str(&format!(
                "line {}:\n  restic: {}\n  cairn:  {}\n",
                i + 1,
                r.map_or("<none>".into(), |b| format!(
                    "{:?}",
                    String::from_utf8_lossy(b)
                )),
                c.map_or("<none>".into(), |b| format!(
                    "{:?}",
                    String::from_utf8_lossy(b)
                ))
            ));
            shown += 1;
            if shown == 20 {
                msg.push_str("...\n");
                break;
            }
        }
    }
    panic!("{msg}");
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Printable form of raw path bytes: valid UTF-8 as is (with control
/// characters escaped), everything else as \xNN.
pub fn show_bytes(b: &[u8]) -> String {
    let mut s = String::new();
    for chunk in b.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch.is_control() {
                s.extend(ch.escape_default());
            } else {
                s.push(ch);
            }
        }
        for x in chunk.invalid() {
            s.push_str(&format!("\\x{x:02x}"));
        }
    }
    s
}

pub fn show_path(p: &Path) -> String {
    show_bytes(p.as_os_str().as_bytes())
}

/// Path inside the source tree, e.g. `src("files/small.txt")`.
pub fn src(rel: &str) -> String {
    if rel.is_empty() {
        SRC.to_owned()
    } else {
        format!("{SRC}/{rel}")
    }
}

/// Same as `src` but for raw bytes (non-UTF-8 names).
pub fn src_bytes(rel: &[u8]) -> OsString {
    let mut v = SRC.as_bytes().to_vec();
    v.push(b'/');
    v.extend_from_slice(rel);
    OsStr::from_bytes(&v).to_owned()
}

/// Group JSON objects by a string key (e.g. find results by "snapshot").
pub fn by_key(values: &[Value], key: &str) -> BTreeMap<String, Value> {
    values
        .iter()
        .map(|v| {
            (
                v[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("no {key} in {v}"))
                    .to_owned(),
                v.clone(),
            )
        })
        .collect()
}

/// Generate one `#[test]` per fixture repository:
/// `per_repo!(name, |fx: &Fixture| { ... });` makes `name_v1`, `name_v2`, `name_v2_uncompressed`.
#[macro_export]
macro_rules! per_repo {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn v1() {
                let f: fn(&$crate::common::Fixture) = $body;
                f(&$crate::common::Fixture::new("v1"));
            }
            #[test]
            fn v2() {
                let f: fn(&$crate::common::Fixture) = $body;
                f(&$crate::common::Fixture::new("v2"));
            }
            #[test]
            fn v2_uncompressed() {
                let f: fn(&$crate::common::Fixture) = $body;
                f(&$crate::common::Fixture::new("v2-uncompressed"));
            }
        }
    };
}

/// Runs `cairn ARGS` and plays another process that locks the repository
/// at the same moment: waits until a lock file (or its temporary upload)
/// appears, which happens after cairn's first look for other locks, then
/// writes a lock of "other-host" through the library (the repository is
/// opened beforehand: its key derivation takes longer than the 200 ms
/// window). Asserts that cairn stopped with restic's lock-conflict exit
/// code 11, naming the other lock, and left only that lock behind.
pub fn assert_stopped_by_a_lock_taken_meanwhile(f: &Fixture, args: &[&OsStr], exclusive: bool) {
    let repo = open_fixture_repo(f);
    let child = f
        .command(Tool::Cairn)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let locks = f.repo.join("locks");
    let started = std::time::Instant::now();
    while fs::read_dir(&locks).unwrap().next().is_none() {
        assert!(started.elapsed().as_secs() < 30, "cairn wrote no lock");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let theirs = cairn::format::Lock {
        time: cairn::format::GoTime::now_local(),
        exclusive,
        hostname: "other-host".into(),
        username: "someone".into(),
        pid: 4242,
        uid: 1,
        gid: 1,
    };
    let theirs = repo
        .save_unpacked(cairn::FileType::Lock, &theirs.to_json())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "stderr: {stderr}");
    assert!(
        stderr.contains("unable to create lock in backend"),
        "{stderr}"
    );
    assert!(stderr.contains("other-host"), "{stderr}");
    assert_eq!(f.repo_files("locks"), vec![locks.join(theirs.to_hex())]);
}

/// The fixture's repository opened through the library.
pub fn open_fixture_repo(f: &Fixture) -> cairn::Repository {
    let password = fs::read_to_string(&f.password_file).unwrap();
    let backend = std::sync::Arc::new(cairn::LocalBackend::new(f.repo.clone()));
    cairn::Repository::open(backend, password.trim_end_matches('\n')).unwrap()
}
