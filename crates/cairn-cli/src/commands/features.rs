//! `cairn features`, and restic's `RESTIC_FEATURES` variable.
//!
//! restic 0.19 has seven feature flags. Cairn behaves as one fixed setting
//! of each; the table says which. `RESTIC_FEATURES` is read as restic reads
//! it (comma-separated `name[=bool]`, Go's boolean spellings, unknown names
//! refused). Setting a flag to what Cairn does is accepted (a flag restic
//! itself fixes gets restic's warning); asking for the other behaviour is
//! an error, since Cairn cannot provide it.

use anyhow::{bail, Result};

/// restic's stability levels, which decide what setting a flag does
/// (restic 0.19 also knows "deprecated", always off; no flag has it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Alpha,
    Beta,
    Stable,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Alpha => "alpha",
            Stage::Beta => "beta",
            Stage::Stable => "stable",
        }
    }

    /// True if restic cannot switch the flag off.
    fn always_on_in_restic(self) -> bool {
        self == Stage::Stable
    }
}

/// One of restic 0.19's feature flags and Cairn's behaviour for it.
struct Feature {
    name: &'static str,
    stage: Stage,
    /// Whether Cairn behaves as if the flag were on (always).
    cairn_enabled: bool,
    description: &'static str,
}

/// restic 0.19.1's feature flags, sorted by name bytewise, as restic
/// lists them.
const FEATURES: &[Feature] = &[
    Feature {
        name: "backend-error-redesign",
        stage: Stage::Beta,
        cairn_enabled: true,
        description: "time out stuck backend requests and retry transient errors. Cairn: always enabled.",
    },
    Feature {
        name: "deprecate-legacy-index",
        stage: Stage::Stable,
        cairn_enabled: false,
        description: "refuse the index format of restic 0.1.0. Cairn: always disabled, that format is still read.",
    },
    Feature {
        name: "deprecate-s3-legacy-layout",
        stage: Stage::Stable,
        cairn_enabled: true,
        description: "refuse the S3 layout of restic up to 0.7.0. Cairn: always enabled, only the default layout is supported.",
    },
    Feature {
        name: "device-id-for-hardlinks",
        stage: Stage::Alpha,
        cairn_enabled: false,
        description: "store the device ID only for hard links. Cairn: always disabled, it is stored for every file.",
    },
    Feature {
        name: "explicit-s3-anonymous-auth",
        stage: Stage::Stable,
        cairn_enabled: false,
        description: "refuse anonymous S3 access unless asked for. Cairn: always disabled, S3 without credentials is accessed anonymously.",
    },
    Feature {
        name: "s3-restore",
        stage: Stage::Alpha,
        cairn_enabled: false,
        description: "restore S3 objects from cold storage classes. Cairn: always disabled, not implemented.",
    },
    Feature {
        name: "safe-forget-keep-tags",
        stage: Stage::Stable,
        cairn_enabled: true,
        description: "refuse to delete every snapshot when no snapshot has the tags `forget --keep-tag` names. Cairn: always enabled.",
    },
];

/// `cairn features`: no arguments (restic refuses any).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(hide = true)]
    args: Vec<String>,
}

/// Prints the feature flags as restic's table.
pub fn run(args: Args) -> Result<()> {
    if !args.args.is_empty() {
        bail!("the feature command expects no arguments");
    }
    let rows: Vec<[String; 4]> = FEATURES
        .iter()
        .map(|f| {
            [
                f.name.to_string(),
                f.stage.name().to_string(),
                f.cairn_enabled.to_string(),
                f.description.to_string(),
            ]
        })
        .collect();
    let header = ["Name", "Type", "Default", "Description"].map(String::from);
    print!("All Feature Flags:\n{}", table(&header, &rows));
    Ok(())
}

/// restic's plain table: columns two spaces apart, padded to the widest
/// cell, trailing blanks cut, a dashed line under the header and at the end.
fn table(header: &[String; 4], rows: &[[String; 4]]) -> String {
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    let line = |cells: &[String; 4]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let dashes = format!("{}\n", "-".repeat(total));
    let mut out = line(header) + &dashes;
    for row in rows {
        out += &line(row);
    }
    out + &dashes
}

/// Reads `RESTIC_FEATURES` as restic does before any command; returns the
/// warnings to print, or the error that ends the program (exit 1).
pub fn apply(spec: &str) -> Result<Vec<String>> {
    if spec.is_empty() {
        return Ok(Vec::new());
    }
    // Every value is parsed first, then the names are looked up; a name
    // given twice takes its last value.
    let mut selection: Vec<(&str, bool)> = Vec::new();
    for item in spec.split(',') {
        let (name, value) = item.split_once('=').unwrap_or((item, "true"));
        let Some(enabled) = go_parse_bool(value) else {
            bail!(
                "failed to parse value {} for feature flag {name}: strconv.ParseBool: parsing {}: invalid syntax",
                go_quoted(value),
                go_quoted(value)
            );
        };
        selection.retain(|(n, _)| *n != name);
        selection.push((name, enabled));
    }
    let mut warnings = Vec::new();
    for (name, enabled) in selection {
        let Some(f) = FEATURES.iter().find(|f| f.name == name) else {
            bail!("unknown feature flag {}", go_quoted(name));
        };
        let quoted = go_quoted(name);
        match () {
            _ if f.stage.always_on_in_restic() && f.cairn_enabled => warnings.push(format!(
                "feature flag {quoted} is always enabled and will be removed in a future release"
            )),
            _ if enabled == f.cairn_enabled => {}
            _ => {
                let state = if f.cairn_enabled {
                    "enabled"
                } else {
                    "disabled"
                };
                bail!("feature flag {quoted} is always {state} in cairn and cannot be changed");
            }
        }
    }
    Ok(warnings)
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `%q`.
fn go_quoted(s: &str) -> String {
    format!("\"{}\"", cairn::format::go_quote(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_sorted_by_name() {
        assert!(FEATURES.windows(2).all(|w| w[0].name < w[1].name));
    }

    #[test]
    fn restic_features_is_read_as_restic_reads_it() {
        assert!(apply("").unwrap().is_empty());
        assert!(apply("s3-restore=false,device-id-for-hardlinks=F")
            .unwrap()
            .is_empty());
        assert!(apply("backend-error-redesign").unwrap().is_empty());
        assert_eq!(
            apply("safe-forget-keep-tags=false").unwrap(),
            ["feature flag \"safe-forget-keep-tags\" is always enabled and will be removed in a future release"]
        );
        let err = |s| apply(s).unwrap_err().to_string();
        assert_eq!(err("nope=true"), "unknown feature flag \"nope\"");
        assert_eq!(
            err("nope=yes"),
            "failed to parse value \"yes\" for feature flag nope: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(
            err("s3-restore=true"),
            "feature flag \"s3-restore\" is always disabled in cairn and cannot be changed"
        );
        assert_eq!(
            err("backend-error-redesign=0"),
            "feature flag \"backend-error-redesign\" is always enabled in cairn and cannot be changed"
        );
    }
}
