//! Every flag of restic 0.19.1's linux release build parses in `cairn`:
//! walks `testdata/restic-0.19/flags.tsv` (made from restic's source, see
//! its header) and runs `cairn <command> --flag[=value] --help` for the
//! long name and the shorthand of each row, expecting exit 0. Rows of
//! other builds (debug, profiling, windows, darwin) are skipped; `mount`'s
//! (linux among its builds) are checked. Failures are collected and
//! reported together.

use std::path::Path;
use std::process::{Command, Stdio};

struct Row {
    command: String,
    long: String,
    short: Option<String>,
    kind: String,
    default: String,
}

/// The rows of the linux release build (default tags plus `selfupdate`).
fn rows() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/restic-0.19/flags.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 7, "bad row {l:?}");
            let condition = f.get(7).copied().unwrap_or("");
            let linux = matches!(
                condition,
                "" | "build: selfupdate"
                    | "runtime.GOOS != \"windows\""
                    | "build: (darwin || freebsd || linux)"
            );
            linux.then(|| Row {
                command: f[0].to_string(),
                long: f[1].to_string(),
                short: (f[2] != "-").then(|| f[2].to_string()),
                kind: f[3].to_string(),
                default: f[4].trim_matches('"').to_string(),
            })
        })
        .collect()
}

/// A value restic would take for a flag of this type.
fn sample_value(row: &Row) -> Option<String> {
    let kind = row.kind.split(' ').next().unwrap_or("");
    let value = match kind {
        "bool" => return None,
        "count" => "2",
        "duration" if row.kind.contains("[Duration]") => "1y2m3d",
        "duration" => "5m",
        "int" | "uint" | "n" => "1",
        "TagLists" => "a,b",
        "group" => "host,paths",
        "mode" if row.kind.contains("Compression") => "max",
        "mode" => "name",
        "behavior" => "always",
        _ if !row.default.is_empty() && row.default != "[]" => &row.default,
        _ => "x",
    };
    Some(value.to_string())
}

/// The command words (`key add` is two), `snapshots` for global flags.
fn command_words(row: &Row) -> Vec<String> {
    match row.command.as_str() {
        "global" => vec!["snapshots".into()],
        c => c.split(' ').map(str::to_owned).collect(),
    }
}

fn parses(args: &[String]) -> Result<(), String> {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .arg("--help")
        .env("RESTIC_REPOSITORY", "/nonexistent/cairn-flags-test")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "cairn {} --help: exit {:?}: {}",
            args.join(" "),
            out.status.code(),
            err.lines().next().unwrap_or("")
        ))
    }
}

#[test]
fn every_restic_flag_parses() {
    let rows = rows();
    assert!(rows.len() > 200, "only {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let base = command_words(row);
        let value = sample_value(row);
        let mut forms = Vec::new();
        // --flag=value, and for a value flag also --flag value.
        let mut long = base.clone();
        match &value {
            Some(v) => long.push(format!("--{}={v}", row.long)),
            None => long.push(format!("--{}", row.long)),
        }
        forms.push(long);
        if let Some(v) = &value {
            let mut spaced = base.clone();
            spaced.extend([format!("--{}", row.long), v.clone()]);
            forms.push(spaced);
        } else {
            let mut explicit = base.clone();
            explicit.push(format!("--{}=true", row.long));
            forms.push(explicit);
        }
        if let Some(s) = &row.short {
            let mut short = base.clone();
            short.push(format!("-{s}"));
            if let Some(v) = value.as_ref().filter(|_| row.kind != "count") {
                short.push(v.clone());
            }
            forms.push(short);
        }
        for args in forms {
            if let Err(e) = parses(&args) {
                failures.push(format!("{} --{}: {e}", row.command, row.long));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of restic 0.19's flag forms do not parse:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn restic_release_commands_exist() {
    for command in [
        "self-update",
        "features",
        "options",
        "version",
        "rebuild-index",
    ] {
        parses(&[command.to_string()]).unwrap();
    }
}
