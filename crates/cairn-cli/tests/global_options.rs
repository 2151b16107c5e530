//! restic 0.19's command-line conventions: usage errors exit 1 (one line,
//! `exit_error` JSON with `--json`), pflag's `--flag=value` syntax for
//! booleans and `--verbose=N`, the `--insecure-no-password` family, the
//! deprecated `--repo2` family, `version`, and `self-update`.
//!
//! Needs `restic` (0.14) for the fixture and the syntax comparison.

mod common;

use common::{Fixture, Run, Tool};
use serde_json::Value;
use std::path::Path;

/// `cairn` (or restic) with `args` and `env`, without the fixture's
/// password (so each test says where the password comes from).
fn run_without_password(f: &Fixture, tool: Tool, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = f.command(tool);
    cmd.env_remove("RESTIC_PASSWORD_FILE").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    common::run_from_output(tool, args.iter().map(Into::into).collect(), out)
}

fn stderr_json(run: &Run) -> Value {
    serde_json::from_str(run.stderr.trim_end())
        .unwrap_or_else(|e| panic!("stderr is not one JSON object ({e}):\n{}", run.describe()))
}

#[test]
fn usage_errors_exit_1_with_restics_one_line_message() {
    let f = Fixture::new("v2");
    let cases: [(&[&str], &str); 6] = [
        (&["snapshots", "--nope"], "unknown flag: --nope"),
        (&["--nope=3", "snapshots"], "unknown flag: --nope"),
        (&["snapshots", "-Z"], "unknown shorthand flag: 'Z' in -Z"),
        (&["bogus"], "unknown command \"bogus\" for \"cairn\""),
        (
            &["snapshots", "--json=maybe"],
            "invalid argument \"maybe\" for \"--json\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        (&["--pack-size", "lots", "snapshots"], ""),
    ];
    for (args, message) in cases {
        let run = f.cairn(args);
        assert_eq!(run.code, Some(1), "{}", run.describe());
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {}", run.describe());
        if !message.is_empty() {
            assert_eq!(lines[0], message, "{}", run.describe());
        }
        // restic 0.14 also says it in one line and exits 1.
        if message.starts_with("unknown flag") || message.starts_with("invalid argument") {
            let restic = f.restic(args);
            assert_eq!(restic.code, Some(1), "{}", restic.describe());
            assert!(restic.stderr.contains(message), "{}", restic.describe());
        }
    }
    // As restic checks before any command.
    for tool in [Tool::Restic, Tool::Cairn] {
        let run = f.run(tool, ["-q", "--verbose=1", "snapshots"]);
        assert_eq!(run.code, Some(1), "{}", run.describe());
        assert_eq!(
            run.stderr.trim_end(),
            "Fatal: --quiet and --verbose cannot be specified at the same time",
            "{}",
            run.describe()
        );
    }
    // A missing argument is a usage error too.
    let run = f.cairn(["key", "remove"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
}

#[test]
fn with_json_every_fatal_error_is_an_exit_error_object() {
    let f = Fixture::new("v2");
    let run = f.cairn(["--json", "snapshots", "--nope"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let v = stderr_json(&run);
    assert_eq!(
        v,
        serde_json::json!({"message_type": "exit_error", "code": 1, "message": "unknown flag: --nope"})
    );
    // Keys in restic's order.
    assert!(
        run.stderr
            .starts_with("{\"message_type\":\"exit_error\",\"code\":1,"),
        "{}",
        run.stderr
    );

    let missing = f.dir.path().join("no-such-repo");
    let run = f.cairn(["--json", "-r", missing.to_str().unwrap(), "snapshots"]);
    assert_eq!(run.code, Some(10), "{}", run.describe());
    let v = stderr_json(&run);
    assert_eq!(v["message_type"], "exit_error");
    assert_eq!(v["code"], 10);
    assert!(v["message"].as_str().unwrap().starts_with("Fatal: "), "{v}");

    // Without --json the same error is text.
    let run = f.cairn(["-r", missing.to_str().unwrap(), "snapshots"]);
    assert_eq!(run.code, Some(10));
    assert!(run.stderr.starts_with("Fatal: "), "{}", run.describe());
}

#[test]
fn boolean_flags_take_go_bool_values_and_verbose_takes_a_level() {
    let f = Fixture::new("v2");
    for tool in [Tool::Restic, Tool::Cairn] {
        let on = f
            .run(tool, ["snapshots", "--json=true", "--no-lock=1"])
            .ok();
        assert!(on.json().is_array(), "{}", on.describe());
        let on = f.run(tool, ["--json=T", "snapshots"]).ok();
        assert!(on.json().is_array(), "{}", on.describe());
        let off = f.run(tool, ["snapshots", "--json=false"]).ok();
        assert!(
            serde_json::from_slice::<Value>(&off.stdout).is_err(),
            "{}",
            off.describe()
        );
        f.run(tool, ["snapshots", "-q=true", "--verbose=0"]).ok();
    }
    // --verbose=N is N times -v: check names every pack it reads from -v.
    let plain = f.cairn(["check", "--read-data"]).ok();
    assert!(
        !plain.stdout_str().contains("read pack"),
        "{}",
        plain.describe()
    );
    let verbose = f.cairn(["check", "--read-data", "--verbose=1"]).ok();
    assert!(
        verbose.stdout_str().contains("read pack"),
        "{}",
        verbose.describe()
    );
    let verbose = f.cairn(["-v=2", "check", "--read-data"]).ok();
    assert!(
        verbose.stdout_str().contains("read pack"),
        "{}",
        verbose.describe()
    );
}

#[test]
fn an_empty_password_needs_insecure_no_password() {
    let f = Fixture::new("v2");
    let repo = f.scratch("empty-pw").join("repo");
    let r = repo.to_str().unwrap();
    let no_pw = |args: &[&str]| run_without_password(&f, Tool::Cairn, args, &[]);

    let refused = no_pw(&["-r", r, "init"]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert_eq!(
        refused.stderr.trim_end(),
        "Fatal: an empty password is not allowed by default. Pass the flag `--insecure-no-password` to restic to disable this check"
    );
    assert!(!repo.join("config").exists());

    no_pw(&["-r", r, "init", "--insecure-no-password"]).ok();
    let src = f.scratch("src");
    std::fs::write(src.join("file"), b"content").unwrap();
    let s = src.to_str().unwrap();
    no_pw(&["-r", r, "--insecure-no-password", "backup", s]).ok();
    let snaps = no_pw(&[
        "-r",
        r,
        "--insecure-no-password=true",
        "snapshots",
        "--json",
    ])
    .ok();
    assert_eq!(snaps.json().as_array().unwrap().len(), 1);
    // Without the flag, the empty password is refused again.
    assert_eq!(no_pw(&["-r", r, "snapshots"]).code, Some(1));

    // A password given as well is a contradiction.
    let both = run_without_password(
        &f,
        Tool::Cairn,
        &["-r", r, "--insecure-no-password", "snapshots"],
        &[("RESTIC_PASSWORD", "secret")],
    );
    assert_eq!(both.code, Some(1), "{}", both.describe());
    assert!(
        both.stderr.contains("--insecure-no-password must not be specified together with providing a password via a cli option or environment variable"),
        "{}",
        both.describe()
    );

    // key add --new-insecure-no-password on a normal repository.
    let pw_file = f.password_file.to_str().unwrap();
    f.cairn(["key", "add", "--new-insecure-no-password"]).ok();
    let opened = no_pw(&["--insecure-no-password", "snapshots", "--json"]).ok();
    assert!(opened.json().is_array());
    let conflict = f.cairn([
        "key",
        "add",
        "--new-insecure-no-password",
        "--new-password-file",
        pw_file,
    ]);
    assert_eq!(conflict.code, Some(1), "{}", conflict.describe());
    assert!(
        conflict.stderr.contains(
            "only either --new-password-file or --new-insecure-no-password may be specified"
        ),
        "{}",
        conflict.describe()
    );
}

#[test]
fn from_insecure_no_password_opens_an_empty_password_source() {
    let f = Fixture::new("v2");
    let src = f.scratch("src-repo").join("repo");
    let s = src.to_str().unwrap();
    run_without_password(
        &f,
        Tool::Cairn,
        &["-r", s, "init", "--insecure-no-password"],
        &[],
    )
    .ok();
    let dst = f.scratch("dst-repo").join("repo");
    let d = dst.to_str().unwrap();
    f.cairn([
        "-r",
        d,
        "init",
        "--copy-chunker-params",
        "--from-repo",
        s,
        "--from-insecure-no-password",
    ])
    .ok();
    let refused = f.cairn(["-r", d, "copy", "--from-repo", s]);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(
        refused.stderr.contains("`--from-insecure-no-password`"),
        "{}",
        refused.describe()
    );
    f.cairn([
        "-r",
        d,
        "copy",
        "--from-repo",
        s,
        "--from-insecure-no-password=true",
    ])
    .ok();
}

fn chunker_polynomial(f: &Fixture, repo: &Path) -> Value {
    let cfg = f
        .cairn(["-r", repo.to_str().unwrap(), "cat", "config"])
        .ok();
    cfg.json()["chunker_polynomial"].clone()
}

#[test]
fn repo2_flags_and_variables_still_work_with_restics_warnings() {
    let f = Fixture::new("v2");
    let pw = f.password_file.to_str().unwrap();
    let from = f.repo.to_str().unwrap();
    let want = chunker_polynomial(&f, &f.repo);

    // Flags: deprecated, with pflag's warning.
    let a = f.scratch("a").join("repo");
    let run = f
        .cairn([
            "-r",
            a.to_str().unwrap(),
            "init",
            "--copy-chunker-params",
            "--repo2",
            from,
            "--password-file2",
            pw,
        ])
        .ok();
    assert!(
        run.stderr
            .contains("Flag --repo2 has been deprecated, use --repo or --from-repo instead"),
        "{}",
        run.describe()
    );
    assert_eq!(chunker_polynomial(&f, &a), want);

    // Variables: no warning.
    let b = f.scratch("b").join("repo");
    let mut cmd = f.command(Tool::Cairn);
    cmd.args(["-r", b.to_str().unwrap(), "init", "--copy-chunker-params"])
        .env("RESTIC_REPOSITORY2", from)
        .env(
            "RESTIC_PASSWORD2",
            std::fs::read_to_string(&f.password_file).unwrap().trim(),
        );
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("deprecated"));
    assert_eq!(chunker_polynomial(&f, &b), want);

    // The two groups exclude each other.
    let c = f.scratch("c").join("repo");
    let run = f.cairn([
        "-r",
        c.to_str().unwrap(),
        "init",
        "--copy-chunker-params",
        "--repo2",
        from,
        "--from-repo",
        from,
    ]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stderr.contains(
            "Option groups repo2 and from-repo are mutually exclusive, please specify only one"
        ),
        "{}",
        run.describe()
    );

    // copy with --repo2: -r is the source, --repo2 the destination.
    let run = f
        .cairn([
            "copy",
            "--repo2",
            a.to_str().unwrap(),
            "--password-file2",
            pw,
        ])
        .ok();
    assert!(
        run.stderr.contains("Flag --repo2 has been deprecated"),
        "{}",
        run.describe()
    );
    let copied = f
        .cairn(["-r", a.to_str().unwrap(), "snapshots", "--json"])
        .ok();
    assert_eq!(
        copied.json().as_array().unwrap().len(),
        f.snapshots().len(),
        "{}",
        copied.describe()
    );
}

#[test]
fn version_names_the_restic_it_replaces_and_itself() {
    let f = Fixture::new("v2");
    let text = f.cairn(["version"]).ok().stdout_str();
    // resticpy's plaintext parser: r'restic ([0-9\.]+) compiled with go([0-9\.]+) on ([a-zA-Z0-9]+)/([a-zA-Z0-9]+)'
    let rest = text
        .strip_prefix("restic 0.19.1 compiled with go")
        .unwrap_or_else(|| panic!("{text}"));
    let go: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    assert!(!go.is_empty(), "{text}");
    let rest = rest[go.len()..]
        .strip_prefix(" on linux/")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        rest.chars().next().unwrap().is_ascii_alphanumeric(),
        "{text}"
    );
    assert!(
        text.contains(&format!("cairn {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );

    // resticpy's JSON parser reads version, go_version, go_os and go_arch.
    let v = f.cairn(["--json", "version"]).ok().json();
    assert_eq!(v["message_type"], "version");
    assert_eq!(v["version"], "0.19.1");
    assert!(
        v["go_version"].is_string() && v["go_os"] == "linux" && v["go_arch"].is_string(),
        "{v}"
    );
    assert_eq!(v["cairn_version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn self_update_refuses_in_one_line() {
    let f = Fixture::new("v2");
    let out = f.dir.path().join("new-binary");
    let run = f.cairn(["self-update", "--output", out.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.describe());
    assert!(run.stderr.contains("cairn"), "{}", run.describe());
    assert!(!out.exists());
    f.cairn(["self-update", "--help"]).ok();
}
