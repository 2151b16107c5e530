//! Programs written for restic run unchanged with `cairn` in its place.
//!
//! Two real wrappers, installed from PyPI by `scripts/install-deps.sh`:
//! - resticpy (a Python library that adds `--json` to every call and parses
//!   the answers): `wrappers/resticpy_flow.py` goes through a typical
//!   session (init, backups, find, grouped snapshots, restore, stats,
//!   check, rewrite, keys, forget --prune, copy) with `cairn` as its binary,
//!   comparing stats and groups with what restic 0.14 answers for the same
//!   repository;
//! - runrestic (a cron runner that parses restic's *text* output into
//!   Prometheus metrics): the same configuration is run once with restic
//!   and once with `cairn` found as `restic` on `PATH`, and the metrics that
//!   count things must be equal.
//!
//! resticpy also reads `cairn version` (JSON and, as for restic before
//! 0.17, the plain text with its regex) as restic 0.19.1.
//!
//! Both wrappers missing is a failure, not a skip: the install script puts
//! them on every machine that runs the tests.

mod common;

use common::{restic_bin, Tool};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Fails loudly when a wrapper the tests need is not installed.
fn require_python_module(module: &str) {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 cannot import {module}; run scripts/install-deps.sh (it installs resticpy and runrestic)"
    );
}

/// A command with no `RESTIC_*` variables from the caller.
fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RESTIC_") {
            c.env_remove(&k);
        }
    }
    c.env("TZ", "UTC").env("LC_ALL", "C");
    c
}

#[test]
fn resticpy_session_runs_against_cairn() {
    require_python_module("restic");
    let work = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wrappers/resticpy_flow.py");
    let out = clean_command("python3")
        .arg(&script)
        .arg(Tool::Cairn.program())
        .arg(work.path())
        .arg(restic_bin())
        .env("RESTIC_CACHE_DIR", work.path().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ALL STEPS PASSED"),
        "resticpy flow failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // What the session left behind is a repository restic accepts.
    for repo in ["repo", "copy"] {
        let password = if repo == "repo" { "pw1" } else { "pw2" };
        let check = clean_command(restic_bin())
            .args(["--no-cache", "check", "--read-data", "-r"])
            .arg(work.path().join(repo))
            .arg("--password-file")
            .arg(work.path().join(password))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "restic check of {repo}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

/// Runs runrestic's `init`, then two rounds of `backup prune check stats`
/// with `program` as `restic`; returns the metrics of the last round.
fn runrestic_metrics(program: &Path, work: &Path) -> BTreeMap<String, f64> {
    let bin = work.join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(program, bin.join("restic")).unwrap();
    let src = work.join("src");
    fs::create_dir_all(src.join("www/img")).unwrap();
    fs::write(src.join("www/index.html"), "<h1>hello</h1>").unwrap();
    fs::write(src.join("www/img/logo.svg"), "<svg/>".repeat(500)).unwrap();
    fs::write(src.join("www/cache.tmp"), "skipped").unwrap();
    fs::write(
        src.join("db.sql"),
        "insert into t values (1);\n".repeat(2000),
    )
    .unwrap();
    let password = work.join("password");
    fs::write(&password, "runrestic secret").unwrap();
    let metrics = work.join("metrics.prom");
    let config = work.join("cairn.toml");
    fs::write(
        &config,
        format!(
            r#"name = "nightly"
repositories = ["{repo}"]

[environment]
RESTIC_PASSWORD_FILE = "{password}"
RESTIC_CACHE_DIR = "{cache}"

[backup]
sources = ["{src}"]
exclude_patterns = ["*.tmp"]

[prune]
keep-last = 1

[check]
checks = ["check-unused", "read-data"]

[metrics.prometheus]
path = "{metrics}"
"#,
            repo = work.join("repo").display(),
            password = password.display(),
            cache = work.join("cache").display(),
            src = src.display(),
            metrics = metrics.display(),
        ),
    )
    .unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |actions: &[&str]| {
        let out = clean_command("runrestic")
            .arg("-c")
            .arg(&config)
            .args(actions)
            .env("PATH", &path)
            .output()
            .expect("runrestic is installed by scripts/install-deps.sh");
        assert!(
            out.status.success(),
            "runrestic {actions:?} with {} failed ({}):\n{}{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init"]);
    run(&["backup"]);
    fs::write(src.join("www/index.html"), "<h1>hello again</h1>").unwrap();
    fs::write(src.join("www/new.html"), "new page").unwrap();
    run(&["backup", "prune", "check", "stats"]);
    let text = fs::read_to_string(&metrics).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').unwrap();
            // Drop the labels: the repository path differs between the runs.
            let name = key.split('{').next().unwrap().to_string();
            (name, value.parse().unwrap())
        })
        .collect()
}

#[test]
fn runrestic_parses_cairn_output_like_restic_output() {
    require_python_module("runrestic");
    let (ours_dir, theirs_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cairn: PathBuf = Tool::Cairn.program();
    let ours = runrestic_metrics(&cairn, ours_dir.path());
    let theirs = runrestic_metrics(restic_bin(), theirs_dir.path());
    // Counts must agree; durations, sizes of packed data and pack-level
    // prune decisions legitimately differ between the two programs.
    let counted = [
        "restic_total_errors",
        "restic_backup_files_new",
        "restic_backup_files_changed",
        "restic_backup_files_unmodified",
        "restic_backup_dirs_new",
        "restic_backup_dirs_changed",
        "restic_backup_dirs_unmodified",
        "restic_backup_processed_files",
        "restic_backup_processed_size_bytes",
        "restic_backup_rc",
        "restic_forget_removed_snapshots",
        "restic_forget_rc",
        "restic_prune_rc",
        "restic_check_errors",
        "restic_check_errors_data",
        "restic_check_errors_snapshots",
        "restic_check_rc",
        "restic_stats_total_file_count",
        "restic_stats_total_size_bytes",
        "restic_stats_rc",
    ];
    for name in counted {
        assert_eq!(
            ours.get(name),
            theirs.get(name),
            "{name}: cairn's output parsed by runrestic differs from restic's"
        );
    }
    // The round changed one file and added one: runrestic must have read
    // real numbers out of cairn's text, not its defaults of zero.
    assert_eq!(ours.get("restic_backup_files_changed"), Some(&1.0));
    assert_eq!(ours.get("restic_backup_files_new"), Some(&1.0));
    assert_eq!(ours.get("restic_forget_removed_snapshots"), Some(&1.0));
    assert!(
        ours.get("restic_prune_remaining_blobs")
            .is_some_and(|&n| n > 0.0),
        "runrestic read no prune figures from cairn: {ours:?}"
    );
}

/// resticpy's `version()` (JSON), then its plain-text regex on `cairn version`.
const VERSION_SCRIPT: &str = r#"
import json, sys
import restic
from restic.internal import version as v
restic.binary_path = sys.argv[1]
out = {"json": restic.version()}
import subprocess
text = subprocess.run([sys.argv[1], "version"], capture_output=True, text=True, check=True).stdout
out["plain"] = v._parse_plaintext(text)
print(json.dumps(out))
"#;

#[test]
fn resticpy_reads_restic_0_19_1_from_cairn_version() {
    require_python_module("restic");
    let out = Command::new("python3")
        .args(["-c", VERSION_SCRIPT, env!("CARGO_BIN_EXE_cairn")])
        .output()
        .expect("python3 is needed (with resticpy: scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "resticpy failed (is it installed? scripts/install-deps.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for form in ["json", "plain"] {
        assert_eq!(v[form]["restic_version"], "0.19.1", "{v}");
        assert_eq!(v[form]["platform_version"], std::env::consts::OS, "{v}");
    }
}
