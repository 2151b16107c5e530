//! `cairn find`: search snapshots for files by pattern, or for blobs,
//! trees and packs by ID (`--blob`, `--tree`, `--pack`), as restic 0.19
//! does: newest snapshot first (`--reverse`: oldest first).

mod ids;

use super::FilterArgs;
use crate::global::GlobalOptions;
use crate::output::{local_time, mode_string, node_fields};
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
    /// Pattern is a blob-ID
    #[arg(long)]
    pub blob: bool,
    /// Pattern is a tree-ID
    #[arg(long)]
    pub tree: bool,
    /// Pattern is a pack-ID
    #[arg(long)]
    pub pack: bool,
    /// Display the pack-ID the blobs belong to (with --blob or --tree)
    #[arg(long)]
    pub show_pack_id: bool,
    /// Reverse sort order oldest to newest
    #[arg(short = 'R', long)]
    pub reverse: bool,
    /// Print sizes in human readable format
    #[arg(long)]
    pub human_readable: bool,
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

/// Parses `--oldest`/`--newest` as restic 0.19's `find` does: besides
/// [`parse_local_time`]'s forms, `02.01.2006` (with ` 15:04` or
/// ` 15:04:05`) in local time, and `2006-01-02 15:04:05 -0700` or
/// `02.01.2006 15:04:05 -0700` with an explicit offset.
fn parse_find_time(s: &str) -> Result<i64> {
    use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone};
    if let Ok(t) = parse_local_time(s) {
        return Ok(t);
    }
    for format in ["%Y-%m-%d %H:%M:%S %z", "%d.%m.%Y %H:%M:%S %z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Ok(t.timestamp());
        }
    }
    let naive = NaiveDateTime::parse_from_str(s, "%d.%m.%Y %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%d.%m.%Y %H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%d.%m.%Y")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
        })
        .map_err(|_| anyhow::anyhow!("unable to parse time: {s:?}"))?;
    let local = Local
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| anyhow::anyhow!("unable to parse time: {s:?}"))?;
    Ok(local.timestamp())
}

/// Orders snapshots as restic 0.19's `find` does: newest first, or oldest
/// first with `--reverse` (snapshots of equal time keep their order).
pub(crate) fn sort_for_find(snaps: &mut [StoredSnapshot], reverse: bool) {
    let key = |s: &StoredSnapshot| (s.snapshot.time.unix_secs, s.snapshot.time.nanos);
    if reverse {
        snaps.sort_by_key(key);
    } else {
        snaps.sort_by_key(|s| std::cmp::Reverse(key(s)));
    }
}

/// Prints every node whose path matches one of the patterns, per snapshot.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let (repo, _lock) = global.open_with_index()?;
    let patterns = PatternList::new(args.patterns.iter().map(|p| p.as_bytes()), args.ignore_case)?;
    let filter = args.filter.filter();
    let oldest = args.oldest.as_deref().map(parse_find_time).transpose()?;
    let newest = args.newest.as_deref().map(parse_find_time).transpose()?;
    let in_time = |n: &cairn::Node| {
        let t = (n.mtime.unix_secs, n.mtime.nanos);
        oldest.is_none_or(|o| t >= (o, 0)) && newest.is_none_or(|o| t <= (o, 0))
    };
    if let (Some(o), Some(n)) = (oldest, newest) {
        if o > n {
            anyhow::bail!("--oldest must specify a time before --newest");
        }
    }
    if [args.blob, args.tree, args.pack]
        .iter()
        .filter(|b| **b)
        .count()
        > 1
    {
        anyhow::bail!("cannot have several ID types");
    }
    let mut wanted = ids::Wanted::default();
    if args.blob {
        wanted.blobs = Some(args.patterns.iter().cloned().collect());
    }
    if args.tree {
        wanted.trees = Some(args.patterns.iter().cloned().collect());
    }
    if args.pack {
        wanted = ids::Wanted::of_packs(&repo, &args.patterns)?;
    }
    let mut snaps: Vec<StoredSnapshot> = super::select_snapshots(&repo, &args.snapshots, &filter)?;
    sort_for_find(&mut snaps, args.reverse);
    if args.blob || args.tree || args.pack {
        return ids::run(global, &repo, &snaps, wanted, args.show_pack_id);
    }
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
                        // restic prints the headers at normal verbosity only.
                        if !global.quiet {
                            if !first_text_group {
                                let _ = writeln!(out);
                            }
                            let _ = writeln!(
                                out,
                                "Found matching entries in snapshot {} from {}",
                                sn.id.short(),
                                local_time(&sn.snapshot.time)
                            );
                        }
                        first_text_group = false;
                        header_done = true;
                    }
                    let mut line = super::ls::node_line(path, node, args.long, args.human_readable);
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
