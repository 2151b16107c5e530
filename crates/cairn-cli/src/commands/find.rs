//! `cairn find`: search snapshots for files by pattern.

use super::FilterArgs;
use crate::global::GlobalOptions;
use crate::output::{format_node, local_time, mode_string, node_fields};
use anyhow::Result;
use cairn::filter::PatternList;
use cairn::walk::{walk, Visit};
use cairn::{NodeType, StoredSnapshot};
use std::io::Write;

/// Arguments of `find`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Patterns to search for
    #[arg(value_name = "PATTERN", required = true)]
    pub patterns: Vec<String>,
    /// Snapshot ID to search in (can be given multiple times)
    #[arg(short = 's', long = "snapshot")]
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Use a long listing format showing size and mode
    #[arg(short = 'l', long)]
    pub long: bool,
    /// Ignore case for pattern
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    /// Oldest modification date/time
    #[arg(short = 'O', long)]
    pub oldest: Option<String>,
    /// Newest modification date/time
    #[arg(short = 'N', long)]
    pub newest: Option<String>,
}

/// Parses restic's time arguments: `2006-01-02`, `2006-01-02 15:04`
/// or `2006-01-02 15:04:05`, in local time, to Unix seconds.
pub fn parse_local_time(s: &str) -> Result<i64> {
    use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
        })
        .map_err(|_| anyhow::anyhow!("unable to parse time: {s:?}"))?;
    let local = Local
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| anyhow::anyhow!("time {s:?} does not exist in the local time zone"))?;
    Ok(local.timestamp())
}

/// Prints every node whose path matches one of the patterns, per snapshot.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let (repo, _lock) = global.open_with_index()?;
    let patterns = PatternList::new(args.patterns.iter().map(|p| p.as_bytes()), args.ignore_case)?;
    let filter = args.filter.filter();
    let oldest = args.oldest.as_deref().map(parse_local_time).transpose()?;
    let newest = args.newest.as_deref().map(parse_local_time).transpose()?;
    let in_time = |n: &cairn::Node| {
        let t = (n.mtime.unix_secs, n.mtime.nanos);
        oldest.is_none_or(|o| t >= (o, 0)) && newest.is_none_or(|o| t <= (o, 0))
    };
    let snaps: Vec<StoredSnapshot> = super::select_snapshots(&repo, &args.snapshots, &filter)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut groups: Vec<String> = Vec::new();
    let mut first_text_group = true;
    let mut unreadable = 0usize;
    for sn in &snaps {
        let mut matches: Vec<String> = Vec::new();
        let mut header_done = false;
        walk(
            &repo,
            &sn.snapshot.tree,
            &mut |path, node| {
                let found = patterns.matches(path);
                if !found || !in_time(node) {
                    let descend = node.node_type != NodeType::Dir || patterns.child_may_match(path);
                    return Ok(if descend {
                        Visit::Continue
                    } else {
                        Visit::SkipSubtree
                    });
                }
                if global.json {
                    let mut fields = node_fields(node);
                    for hidden in [
                        "name",
                        "extended_attributes",
                        "device",
                        "content",
                        "subtree",
                    ] {
                        fields.remove(hidden);
                    }
                    let mut o = crate::output::JsonObject::default();
                    o.set("path", String::from_utf8_lossy(path).into_owned());
                    o.set("permissions", mode_string(node.mode));
                    o.0.extend(fields.0);
                    matches.push(o.to_json());
                } else {
                    if !header_done {
                        if !first_text_group {
                            let _ = writeln!(out);
                        }
                        first_text_group = false;
                        header_done = true;
                        let _ = writeln!(
                            out,
                            "Found matching entries in snapshot {} from {}",
                            sn.id.short(),
                            local_time(&sn.snapshot.time)
                        );
                    }
                    let mut line = format_node(path, node, args.long);
                    line.push(b'\n');
                    let _ = out.write_all(&line);
                }
                Ok(Visit::Continue)
            },
            &mut |path, e| {
                eprintln!("Unable to load tree {}: {e}", String::from_utf8_lossy(path));
                unreadable += 1;
                Ok(())
            },
        )?;
        if global.json && !matches.is_empty() {
            groups.push(format!(
                "{{\"matches\":[{}],\"hits\":{},\"snapshot\":\"{}\"}}",
                matches.join(","),
                matches.len(),
                sn.id
            ));
        }
    }
    if global.json {
        writeln!(out, "[{}]", groups.join(","))?;
    }
    out.flush()?;
    super::ls::unreadable_trees(unreadable)
}
