//! The local cache from the command line: a REST repository (`cairn
//! serve`, whose access log shows what is downloaded) is not downloaded
//! twice; `--no-cache`, `--cache-dir`, `RESTIC_CACHE_DIR`, the XDG default,
//! `--cleanup-cache` and `cairn cache` behave as restic's; damaged cached
//! files are replaced; prune leaves no removed file in the cache; and
//! restic 0.14 and Cairn share one cache directory without trouble.

mod common;

use common::{copy_tree, fixtures_dir, restic_bin, Run, Tool};
use std::collections::BTreeSet;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "cache test password";

/// A temporary directory with a password file, a source tree and, when
/// asked for, a `cairn serve` child process logging every request.
struct Env {
    dir: tempfile::TempDir,
    server: Option<(Child, u16)>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some((child, _)) = &mut self.server {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Env {
    fn new() -> Env {
        restic_bin();
        let dir = tempfile::Builder::new()
            .prefix("cairn-cache-")
            .tempdir()
            .unwrap();
        fs::write(dir.path().join("password"), PASSWORD).unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("a/b")).unwrap();
        for i in 0..30 {
            fs::write(
                src.join(format!("a/f{i}")),
                format!("file {i}\n").repeat(i + 1),
            )
            .unwrap();
        }
        fs::write(src.join("a/b/big"), pseudo_random(3 << 20, 7)).unwrap();
        Env { dir, server: None }
    }

    /// Starts `cairn serve` on a free port; the repository is `/repo/`.
    fn serve(&mut self) {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = self.path("served");
        fs::create_dir_all(&data).unwrap();
        let child = Command::new(Tool::Cairn.program())
            .arg("serve")
            .arg("--path")
            .arg(&data)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--no-auth",
                "--log",
            ])
            .arg(self.path("access.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "cairn serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.server = Some((child, port));
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn repo(&self) -> String {
        match &self.server {
            Some((_, port)) => format!("rest:http://127.0.0.1:{port}/repo/"),
            None => self.path("repo").to_str().unwrap().to_string(),
        }
    }

    /// A command with the repository and password set, every other
    /// `RESTIC_*` variable, `XDG_CACHE_HOME` removed and `HOME` pointing
    /// into the temporary directory.
    fn command(&self, tool: Tool) -> Command {
        let mut c = Command::new(tool.program());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RESTIC_") {
                c.env_remove(&k);
            }
        }
        c.env_remove("XDG_CACHE_HOME")
            .env("HOME", self.path("home"))
            .env("RESTIC_REPOSITORY", self.repo())
            .env("RESTIC_PASSWORD_FILE", self.path("password"))
            .env("TZ", "UTC")
            .stdin(Stdio::null());
        c
    }

    fn run_cmd(&self, tool: Tool, mut cmd: Command, args: &[&str]) -> Run {
        let out = cmd.args(args).output().unwrap();
        Run {
            tool,
            args: args.iter().map(Into::into).collect(),
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `tool --cache-dir <cache> args…`.
    fn with_cache(&self, tool: Tool, cache: &str, args: &[&str]) -> Run {
        let mut cmd = self.command(tool);
        cmd.arg("--cache-dir").arg(self.path(cache));
        self.run_cmd(tool, cmd, args)
    }

    fn cairn(&self, cache: &str, args: &[&str]) -> Run {
        self.with_cache(Tool::Cairn, cache, args)
    }

    fn restic(&self, cache: &str, args: &[&str]) -> Run {
        self.with_cache(Tool::Restic, cache, args)
    }

    fn src(&self) -> String {
        self.path("src").to_str().unwrap().to_string()
    }

    /// The repository ID (the name of its cache folder).
    fn repo_id(&self) -> String {
        let out = self.cairn("id-cache", &["cat", "config"]).ok().json();
        out["id"].as_str().unwrap().to_string()
    }

    /// Access log lines written since `from` lines.
    fn requests_since(&self, from: usize) -> Vec<String> {
        let log = fs::read_to_string(self.path("access.log")).unwrap_or_default();
        log.lines().skip(from).map(str::to_string).collect()
    }

    fn request_count(&self) -> usize {
        self.requests_since(0).len()
    }
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// The files of one type in a repository's cache folder, as
/// (name, path): `index`, `snapshots` or `data`.
fn cached(cache_repo: &Path, sub: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(dirs) = fs::read_dir(cache_repo.join(sub)) else {
        return out;
    };
    for d in dirs {
        for f in fs::read_dir(d.unwrap().path()).unwrap() {
            let f = f.unwrap();
            out.push((f.file_name().to_str().unwrap().to_string(), f.path()));
        }
    }
    out.sort();
    out
}

fn names(files: &[(String, PathBuf)]) -> BTreeSet<String> {
    files.iter().map(|(n, _)| n.clone()).collect()
}

/// Names of the repository files of one kind in a local repository.
fn repo_names(repo: &Path, sub: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![repo.join(sub)];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.file_name().to_str().unwrap().to_string());
            }
        }
    }
    out
}

/// Every cached file is named by its SHA-256 and no temporary file is left.
fn assert_cache_intact(cache_repo: &Path) {
    let mut n = 0;
    for sub in ["index", "snapshots", "data"] {
        for (name, path) in cached(cache_repo, sub) {
            assert!(!name.starts_with("tmp-"), "leftover {}", path.display());
            let out = Command::new("sha256sum").arg(&path).output().unwrap();
            let sum = String::from_utf8_lossy(&out.stdout);
            assert!(sum.starts_with(&name), "{} is damaged", path.display());
            n += 1;
        }
    }
    assert!(n > 0, "nothing cached in {}", cache_repo.display());
}

/// GET requests for single files (not listings) of a folder: `index`,
/// `snapshots` or `data`; returns the file names.
fn file_gets(lines: &[String], folder: &str) -> Vec<String> {
    let prefix = format!("\"GET /repo/{folder}/");
    lines
        .iter()
        .filter_map(|l| {
            let rest = &l[l.find(&prefix)? + prefix.len()..];
            let name = rest.split([' ', '?']).next()?;
            (name.len() == 64).then(|| name.to_string())
        })
        .collect()
}

/// `snapshots`, `ls`, `restore` and `check --with-cache` with one cache.
fn read_everything(env: &Env, cache: &str, target: &str) {
    let snaps = env.cairn(cache, &["snapshots", "--json"]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 1);
    let ls = env.cairn(cache, &["ls", "latest"]).ok().stdout_str();
    assert!(ls.contains("/a/b/big"), "{ls}");
    let t = env.path(target);
    env.cairn(
        cache,
        &["restore", "latest", "--target", t.to_str().unwrap()],
    )
    .ok();
    let restored = t.join(env.path("src").strip_prefix("/").unwrap());
    assert_eq!(
        fs::read(restored.join("a/b/big")).unwrap(),
        fs::read(env.path("src/a/b/big")).unwrap()
    );
    env.cairn(cache, &["check", "--with-cache"]).ok();
}

#[test]
fn a_rest_repository_is_not_downloaded_twice() {
    let mut env = Env::new();
    env.serve();
    env.cairn("c1", &["init"]).ok();
    env.cairn("c1", &["backup", &env.src()]).ok();
    let id = env.repo_id();
    // The backup kept what it wrote: index, snapshot and tree packs.
    let c1 = env.path("c1").join(&id);
    assert_eq!(cached(&c1, "index").len(), 1);
    assert_eq!(cached(&c1, "snapshots").len(), 1);
    assert!(!cached(&c1, "data").is_empty());

    // A cold cache downloads the metadata once …
    let mark = env.request_count();
    read_everything(&env, "c2", "t1");
    let first = env.requests_since(mark);
    assert!(!file_gets(&first, "index").is_empty(), "{first:#?}");
    assert!(!file_gets(&first, "snapshots").is_empty());
    let c2 = env.path("c2").join(&id);
    let tree_packs = names(&cached(&c2, "data"));
    assert_eq!(tree_packs, names(&cached(&c1, "data")));
    assert!(file_gets(&first, "data")
        .iter()
        .any(|p| tree_packs.contains(p)));

    // … and a warm one not at all: only data packs are read again.
    let mark = env.request_count();
    read_everything(&env, "c2", "t2");
    let second = env.requests_since(mark);
    assert_eq!(file_gets(&second, "index"), Vec::<String>::new());
    assert_eq!(file_gets(&second, "snapshots"), Vec::<String>::new());
    let packs = file_gets(&second, "data");
    assert!(!packs.is_empty(), "restore reads data packs");
    assert!(
        packs.iter().all(|p| !tree_packs.contains(p)),
        "tree packs read again: {packs:?}"
    );
    assert_cache_intact(&c2);

    // A plain check uses a temporary cache below the cache folder, and
    // removes it.
    let mark = env.request_count();
    env.cairn("c2", &["check"]).ok();
    assert!(!file_gets(&env.requests_since(mark), "index").is_empty());
    let left: Vec<_> = fs::read_dir(env.path("c2"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with("restic-check-cache-")),
        "{left:?}"
    );
}

#[test]
fn cache_location_flags_and_environment() {
    let env = Env::new();
    env.run_cmd(
        Tool::Cairn,
        env.command(Tool::Cairn),
        &["--no-cache", "init"],
    )
    .ok();
    let id = env.repo_id();
    let home = env.path("home");

    // --no-cache: no cache folder anywhere.
    let mut cmd = env.command(Tool::Cairn);
    cmd.env("RESTIC_CACHE_DIR", env.path("by-env"));
    env.run_cmd(Tool::Cairn, cmd, &["--no-cache", "snapshots"])
        .ok();
    assert!(!env.path("by-env").exists());
    assert!(!home.exists());

    // RESTIC_CACHE_DIR.
    let mut cmd = env.command(Tool::Cairn);
    cmd.env("RESTIC_CACHE_DIR", env.path("by-env"));
    env.run_cmd(Tool::Cairn, cmd, &["snapshots"]).ok();
    assert!(env.path("by-env").join(&id).join("version").is_file());
    assert!(env.path("by-env/CACHEDIR.TAG").is_file());

    // --cache-dir wins over the variable.
    let mut cmd = env.command(Tool::Cairn);
    cmd.env("RESTIC_CACHE_DIR", env.path("by-env2"))
        .arg("--cache-dir")
        .arg(env.path("by-flag"));
    env.run_cmd(Tool::Cairn, cmd, &["snapshots"]).ok();
    assert!(env.path("by-flag").join(&id).is_dir());
    assert!(!env.path("by-env2").exists());

    // Else $XDG_CACHE_HOME/restic, else ~/.cache/restic.
    let mut cmd = env.command(Tool::Cairn);
    cmd.env("XDG_CACHE_HOME", env.path("xdg"));
    env.run_cmd(Tool::Cairn, cmd, &["snapshots"]).ok();
    assert!(env.path("xdg/restic").join(&id).is_dir());
    assert!(!home.exists());
    env.run_cmd(Tool::Cairn, env.command(Tool::Cairn), &["snapshots"])
        .ok();
    assert!(home.join(".cache/restic").join(&id).is_dir());
    // restic agrees on the default place: it finds Cairn's cache folder.
    let before = fs::metadata(home.join(".cache/restic").join(&id))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    env.run_cmd(Tool::Restic, env.command(Tool::Restic), &["snapshots"])
        .ok();
    let after = fs::metadata(home.join(".cache/restic").join(&id))
        .unwrap()
        .modified()
        .unwrap();
    assert!(after > before, "restic used the same folder");
}

/// Makes a folder look unused for 40 days.
fn age(dir: &Path) {
    let ok = Command::new("touch")
        .args(["-d", "40 days ago"])
        .arg(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn old_cache_folders_are_listed_and_cleaned_like_restic() {
    let env = Env::new();
    env.cairn("c", &["init"]).ok();
    let base = env.path("c");
    let (old, young, other) = ("a".repeat(64), "b".repeat(64), "not-a-cache".to_string());
    for name in [&old, &young, &other] {
        fs::create_dir_all(base.join(name).join("index")).unwrap();
        fs::write(base.join(name).join("index/x"), vec![0u8; 2000]).unwrap();
    }
    age(&base.join(&old));
    age(&base.join(&other));

    // The listing is restic's, byte for byte, with and without sizes.
    for extra in [&[][..], &["--no-size"][..]] {
        let args: Vec<&str> = [&["cache"][..], extra].concat();
        let r = env.restic("c", &args).ok().stdout_str();
        let c = env.cairn("c", &args).ok().stdout_str();
        assert_eq!(c, r);
        assert!(c.contains("aaaaaaaaaa  40 days ago  yes"), "{c}");
        assert!(c.contains("2 cache dirs in"), "{c}");
    }
    let empty = env.cairn("nothing-here", &["cache"]).ok().stdout_str();
    assert!(
        empty.starts_with("no cache dirs found, basedir is "),
        "{empty}"
    );
    let e = env.cairn("c", &["--no-cache", "cache"]);
    assert_eq!(e.code, Some(1));
    assert!(e.stderr.contains("the cache is disabled"), "{}", e.stderr);
    assert_eq!(env.cairn("c", &["cache", "extra"]).code, Some(1));

    // Opening a repository leaves old folders alone without --cleanup-cache …
    env.cairn("c", &["snapshots"]).ok();
    assert!(base.join(&old).exists());
    // … and removes them with it.
    env.cairn("c", &["--cleanup-cache", "snapshots"]).ok();
    assert!(!base.join(&old).exists());
    assert!(base.join(&young).exists() && base.join(&other).exists());
    assert!(base.join(env.repo_id()).exists());

    // `cache --cleanup` with --max-age.
    age(&base.join(&young));
    let out = env
        .cairn("c", &["cache", "--cleanup", "--max-age", "50"])
        .ok()
        .stdout_str();
    assert_eq!(out, "no old cache dirs found\n");
    let out = env.cairn("c", &["cache", "--cleanup"]).ok().stdout_str();
    assert_eq!(out, "remove 1 old cache directories\n");
    assert!(!base.join(&young).exists() && base.join(&other).exists());
}

#[test]
fn damaged_cached_files_are_replaced() {
    let env = Env::new();
    copy_tree(&fixtures_dir().join("v2"), &env.path("repo"));
    fs::copy(fixtures_dir().join("password"), env.path("password")).unwrap();
    for d in ["keys", "locks", "snapshots", "index", "data"] {
        fs::create_dir_all(env.path("repo").join(d)).unwrap();
    }
    let expected = env.cairn("c", &["ls", "latest"]).ok().stdout;
    let cache = env.path("c").join(env.repo_id());
    let mut damaged = Vec::new();
    for sub in ["index", "snapshots", "data"] {
        for (_, path) in cached(&cache, sub) {
            let good = fs::read(&path).unwrap();
            let mut bad = good.clone();
            bad[good.len() / 3] ^= 1;
            if sub == "snapshots" {
                bad.truncate(20);
            }
            fs::write(&path, bad).unwrap();
            damaged.push((path, good));
        }
    }
    assert!(damaged.len() > 5);
    assert_eq!(env.cairn("c", &["ls", "latest"]).ok().stdout, expected);
    for (path, good) in &damaged {
        assert_eq!(
            &fs::read(path).unwrap(),
            good,
            "{} replaced",
            path.display()
        );
    }
    // restic reads the repaired cache.
    env.restic("c", &["check", "--with-cache"]).ok();
}

#[test]
fn forget_and_prune_leave_no_removed_file_in_the_cache() {
    let env = Env::new();
    env.cairn("c", &["init"]).ok();
    for i in 0..3 {
        fs::write(env.path("src/a/changing"), pseudo_random(200_000, i)).unwrap();
        env.cairn("c", &["backup", &env.src()]).ok();
    }
    let cache = env.path("c").join(env.repo_id());
    env.cairn("c", &["ls", "latest"]).ok();
    let before = names(&cached(&cache, "snapshots"));
    assert_eq!(before.len(), 3);
    env.cairn("c", &["forget", "--keep-last", "1", "--prune"])
        .ok();
    let repo = env.path("repo");
    for (sub, repo_sub) in [
        ("index", "index"),
        ("snapshots", "snapshots"),
        ("data", "data"),
    ] {
        let in_cache = names(&cached(&cache, sub));
        let in_repo = repo_names(&repo, repo_sub);
        assert!(
            in_cache.is_subset(&in_repo),
            "{sub}: {in_cache:?} not in {in_repo:?}"
        );
    }
    assert_eq!(names(&cached(&cache, "snapshots")).len(), 1);
    assert_cache_intact(&cache);

    // Files another program removed leave the cache at the next listing.
    env.cairn("c", &["backup", &env.src()]).ok();
    env.restic("r", &["forget", "--keep-last", "1", "--prune"])
        .ok();
    env.cairn("c", &["snapshots"]).ok();
    assert_eq!(
        names(&cached(&cache, "snapshots")),
        repo_names(&repo, "snapshots")
    );
    env.cairn("c", &["ls", "latest"]).ok();
    assert!(names(&cached(&cache, "index")).is_subset(&repo_names(&repo, "index")));
    assert!(names(&cached(&cache, "data")).is_subset(&repo_names(&repo, "data")));
    env.cairn("c", &["check", "--with-cache"]).ok();
}

/// The listed paths of an `ls`, without its header line.
fn paths(run: &Run) -> Vec<String> {
    let out = run.stdout_str();
    out.lines()
        .filter(|l| l.starts_with('/'))
        .map(str::to_string)
        .collect()
}

#[test]
fn restic_and_cairn_share_a_cache_directory() {
    let mut env = Env::new();
    env.serve();
    env.cairn("shared", &["init"]).ok();
    env.cairn("shared", &["backup", &env.src()]).ok();
    let cache = env.path("shared").join(env.repo_id());

    // restic works from the cache Cairn filled …
    env.restic("shared", &["check", "--with-cache"]).ok();
    let ls_restic = paths(&env.restic("shared", &["ls", "latest"]).ok());
    let t = env.path("t-restic");
    env.restic(
        "shared",
        &["restore", "latest", "--target", t.to_str().unwrap()],
    )
    .ok();
    fs::write(env.path("src/a/new"), b"written by restic's backup\n").unwrap();
    env.restic("shared", &["backup", &env.src()]).ok();
    assert_cache_intact(&cache);

    // … and Cairn from the cache restic extended.
    let snaps = env.cairn("shared", &["snapshots", "--json"]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 2);
    let ls_cairn = env.cairn("shared", &["ls", snaps[0]["short_id"].as_str().unwrap()]);
    assert_eq!(paths(&ls_cairn.ok()), ls_restic);
    let mark = env.request_count();
    env.cairn("shared", &["ls", "latest"]).ok();
    env.cairn("shared", &["check", "--with-cache"]).ok();
    let lines = env.requests_since(mark);
    assert_eq!(file_gets(&lines, "snapshots"), Vec::<String>::new());
    assert_eq!(file_gets(&lines, "index"), Vec::<String>::new());
    let t = env.path("t-cairn");
    env.cairn(
        "shared",
        &["restore", "latest", "--target", t.to_str().unwrap()],
    )
    .ok();
    assert!(t
        .join(env.path("src/a/new").strip_prefix("/").unwrap())
        .is_file());
    env.restic("shared", &["snapshots"]).ok();
    env.restic("shared", &["check", "--with-cache"]).ok();
    assert_cache_intact(&cache);
}
