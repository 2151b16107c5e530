//! restic's (pflag's) flag syntax on top of clap.
//!
//! pflag accepts forms clap does not: a value on a boolean flag
//! (`--no-lock=true`, `--json=false`, `-q=1`) and a level on the count
//! flag (`--verbose=2`, `-v=2`). Before clap parses, [`normalize`] turns
//! those into what clap understands, reading the command tree itself
//! (which flags are booleans, which are counts, which take a value), so
//! no command needs to know about it. Everything after `--` is left alone.

use clap::{Arg, ArgAction, Command};
use std::ffi::OsString;

/// Go's `strconv.ParseBool`: the only spellings pflag accepts.
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// What a flag does with a value.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// `SetTrue`/`SetFalse`: no value on the command line.
    Bool,
    /// `Count` (`--verbose`).
    Count,
    /// Takes a value (the next argument unless attached with `=`).
    Value,
    /// Help and other actions: left to clap.
    Other,
}

fn kind_of(action: &ArgAction) -> Kind {
    match action {
        ArgAction::SetTrue | ArgAction::SetFalse => Kind::Bool,
        ArgAction::Count => Kind::Count,
        ArgAction::Set | ArgAction::Append => Kind::Value,
        _ => Kind::Other,
    }
}

fn long_arg<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
    })
}

fn short_arg(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| {
        a.get_short() == Some(c) || a.get_all_short_aliases().is_some_and(|al| al.contains(&c))
    })
}

/// A boolean or count flag written with a value, in clap's spelling
/// (`flag` is how it was written); pflag's error for a value it would
/// refuse.
fn expand(arg: &Arg, flag: &str, value: &str) -> Result<Vec<OsString>, String> {
    let name = match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => format!("-{s}, --{l}"),
        (None, Some(l)) => format!("--{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, None) => flag.to_string(),
    };
    let invalid = |func: &str| {
        format!("invalid argument {value:?} for {name:?} flag: strconv.{func}: parsing {value:?}: invalid syntax")
    };
    let times = match kind_of(arg.get_action()) {
        Kind::Bool => usize::from(parse_go_bool(value).ok_or_else(|| invalid("ParseBool"))?),
        Kind::Count => {
            let n = value.parse::<i64>().map_err(|_| invalid("ParseInt"))?;
            usize::try_from(n.clamp(0, 64)).unwrap_or(0)
        }
        _ => return Ok(vec![OsString::from(format!("{flag}={value}"))]),
    };
    Ok(vec![OsString::from(flag); times])
}

/// Rewrites restic-style arguments (`args[0]` is the program) for clap.
///
/// A boolean or count flag with a value pflag would refuse is an error
/// with pflag's message.
pub fn normalize(root: &Command, args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let mut root = root.clone();
    root.build();
    let mut cmd = &root;
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    out.extend(iter.next());
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str().map(str::to_owned) else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            out.push(arg);
            out.extend(iter);
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let found = long_arg(cmd, name);
            match (found.map(|a| (a, kind_of(a.get_action()))), value) {
                (Some((a, Kind::Bool | Kind::Count)), Some(v)) => {
                    let long = a.get_long().unwrap_or(name);
                    out.extend(expand(a, &format!("--{long}"), v)?);
                }
                (Some((_, Kind::Value)), None) => {
                    out.push(arg);
                    out.extend(iter.next());
                }
                _ => out.push(arg),
            }
            continue;
        }
        if let Some(cluster) = text.strip_prefix('-').filter(|c| !c.is_empty()) {
            out.extend(short_cluster(cmd, cluster, &mut iter)?);
            continue;
        }
        if let Some(sub) = cmd.find_subcommand(&text) {
            cmd = sub;
        }
        out.push(arg);
    }
    Ok(out)
}

/// One `-abc` argument as pflag reads it: boolean and count letters in a
/// row, then a letter that takes a value (the rest, or the next argument);
/// `-x=v` gives a boolean or count letter a value.
fn short_cluster(
    cmd: &Command,
    cluster: &str,
    rest: &mut impl Iterator<Item = OsString>,
) -> Result<Vec<OsString>, String> {
    let whole = || Ok(vec![OsString::from(format!("-{cluster}"))]);
    let chars: Vec<char> = cluster.chars().collect();
    let mut out = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        let Some(arg) = short_arg(cmd, c) else {
            return whole();
        };
        let after: String = chars[i + 1..].iter().collect();
        match kind_of(arg.get_action()) {
            Kind::Value => {
                out.push(OsString::from(format!("-{c}")));
                if after.is_empty() {
                    out.extend(rest.next());
                } else {
                    out.push(OsString::from(after.strip_prefix('=').unwrap_or(&after)));
                }
                return Ok(out);
            }
            Kind::Bool | Kind::Count => {
                if let Some(value) = after.strip_prefix('=') {
                    out.extend(expand(arg, &format!("-{c}"), value)?);
                    return Ok(out);
                }
                out.push(OsString::from(format!("-{c}")));
            }
            Kind::Other => return whole(),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cli() -> Command {
        Command::new("cairn")
            .arg(
                Arg::new("json")
                    .long("json")
                    .global(true)
                    .action(ArgAction::SetTrue),
            )
            .arg(
                Arg::new("verbose")
                    .short('v')
                    .long("verbose")
                    .global(true)
                    .action(ArgAction::Count),
            )
            .arg(
                Arg::new("quiet")
                    .short('q')
                    .long("quiet")
                    .global(true)
                    .action(ArgAction::SetTrue),
            )
            .arg(Arg::new("repo").short('r').long("repo").global(true))
            .subcommand(
                Command::new("backup")
                    .arg(Arg::new("tag").long("tag").action(ArgAction::Append))
                    .arg(Arg::new("host").short('H').long("host").alias("hostname"))
                    .arg(
                        Arg::new("dry")
                            .short('n')
                            .long("dry-run")
                            .action(ArgAction::SetTrue),
                    )
                    .arg(Arg::new("paths").num_args(0..)),
            )
            .subcommand(
                Command::new("check").arg(
                    Arg::new("read-data")
                        .long("read-data")
                        .action(ArgAction::SetTrue),
                ),
            )
    }

    fn norm(args: &[&str]) -> Vec<String> {
        let args = std::iter::once("cairn")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        normalize(&cli(), args)
            .unwrap()
            .into_iter()
            .skip(1)
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn go_bools() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false), "{f}");
        }
        for bad in ["yes", "tRUE", "", "2"] {
            assert_eq!(parse_go_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn bool_flags_take_a_go_bool_value() {
        assert_eq!(norm(&["--json=true", "backup"]), ["--json", "backup"]);
        assert_eq!(norm(&["--json=false", "backup"]), ["backup"]);
        assert_eq!(
            norm(&["backup", "--dry-run=T", "/x"]),
            ["backup", "--dry-run", "/x"]
        );
        assert_eq!(norm(&["backup", "--json=0"]), ["backup"]);
        assert_eq!(
            norm(&["check", "--read-data=TRUE"]),
            ["check", "--read-data"]
        );
        // Not a Go bool: pflag's error.
        assert_eq!(
            normalize(&cli(), vec!["cairn".into(), "--json=yes".into()]).unwrap_err(),
            "invalid argument \"yes\" for \"--json\" flag: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(
            normalize(&cli(), vec!["cairn".into(), "-q=maybe".into()]).unwrap_err(),
            "invalid argument \"maybe\" for \"-q, --quiet\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
    }

    #[test]
    fn short_bools_and_counts_take_a_value_after_equals() {
        assert_eq!(norm(&["backup", "-n=true"]), ["backup", "-n"]);
        assert_eq!(norm(&["backup", "-n=f"]), ["backup"]);
        assert_eq!(norm(&["-v=2", "backup"]), ["-v", "-v", "backup"]);
        assert_eq!(norm(&["-qv=3"]), ["-q", "-v", "-v", "-v"]);
        assert_eq!(norm(&["-vv"]), ["-v", "-v"]);
    }

    #[test]
    fn verbose_takes_a_level() {
        assert_eq!(
            norm(&["--verbose=2", "backup"]),
            ["--verbose", "--verbose", "backup"]
        );
        assert_eq!(norm(&["backup", "--verbose=0"]), ["backup"]);
        assert_eq!(norm(&["--verbose", "backup"]), ["--verbose", "backup"]);
        assert!(
            normalize(&cli(), vec!["cairn".into(), "--verbose=x".into()])
                .unwrap_err()
                .contains("for \"-v, --verbose\" flag: strconv.ParseInt")
        );
    }

    #[test]
    fn values_are_never_read_as_flags() {
        // A flag that takes a value consumes the next argument, whatever it is.
        assert_eq!(
            norm(&["backup", "--tag", "--json=true", "/x"]),
            ["backup", "--tag", "--json=true", "/x"]
        );
        assert_eq!(
            norm(&["-r", "--json=1", "backup"]),
            ["-r", "--json=1", "backup"]
        );
        assert_eq!(norm(&["backup", "-H", "-n=1"]), ["backup", "-H", "-n=1"]);
        assert_eq!(
            norm(&["backup", "-nH", "--json=1"]),
            ["backup", "-n", "-H", "--json=1"]
        );
        assert_eq!(
            norm(&["backup", "--hostname", "-n=1"]),
            ["backup", "--hostname", "-n=1"]
        );
        assert_eq!(
            norm(&["backup", "--tag=--json=true"]),
            ["backup", "--tag=--json=true"]
        );
    }

    #[test]
    fn nothing_after_double_dash_changes() {
        assert_eq!(
            norm(&["backup", "--", "--json=true", "-v=2"]),
            ["backup", "--", "--json=true", "-v=2"]
        );
    }

    #[test]
    fn flags_are_looked_up_in_the_current_subcommand() {
        // --read-data belongs to check only.
        assert_eq!(
            norm(&["backup", "--read-data=true"]),
            ["backup", "--read-data=true"]
        );
        // Unknown flags and positionals pass through.
        assert_eq!(
            norm(&["backup", "--nope=1", "a=b"]),
            ["backup", "--nope=1", "a=b"]
        );
    }
}
