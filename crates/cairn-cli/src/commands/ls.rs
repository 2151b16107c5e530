//! `cairn ls`.

use super::FilterArgs;
use crate::global::GlobalOptions;
use crate::output::{format_node, go_time_string, node_json, snapshot_json};
use anyhow::Result;
use cairn::clean_path;
use cairn::walk::{walk, Visit};
use cairn::NodeType;
use std::io::Write;

/// Arguments of `ls`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshot ID or "latest"
    #[arg(value_name = "snapshotID")]
    pub snapshot: String,
    /// Only list these directories
    #[arg(value_name = "dir")]
    pub dirs: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Use a long listing format showing size and mode
    #[arg(short = 'l', long)]
    pub long: bool,
    /// Include files in subfolders of the listed directories
    #[arg(long)]
    pub recursive: bool,
}

/// True if `path` is `base` or lies below it (both cleaned, absolute).
fn has_prefix(base: &[u8], path: &[u8]) -> bool {
    if base == b"/" {
        return true;
    }
    path.starts_with(base) && (path.len() == base.len() || path[base.len()] == b'/')
}

/// Lists a snapshot's nodes, restricted to `dirs` as restic does.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let (repo, _lock) = global.open_with_index()?;
    let sn = repo.find_snapshot(&args.snapshot, &args.filter.filter())?;
    let dirs: Vec<Vec<u8>> = args
        .dirs
        .iter()
        .map(|d| clean_path(d).into_bytes())
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if global.json {
        let mut o = snapshot_json(&sn.id, &sn.snapshot);
        o.set("struct_type", "snapshot")
            .set("message_type", "snapshot");
        writeln!(out, "{}", o.to_json())?;
    } else if !global.quiet {
        let paths = format!("[{}]", sn.snapshot.paths.join(" "));
        let filtered = format!("[{}]", args.dirs.join(" "));
        writeln!(
            out,
            "snapshot {} of {} filtered by {} at {}):",
            sn.id.short(),
            paths,
            filtered,
            go_time_string(&sn.snapshot.time)
        )?;
    }
    let mut write_error = None;
    let mut unreadable = 0usize;
    walk(
        &repo,
        &sn.snapshot.tree,
        &mut |path, node| {
            let within = dirs.is_empty() || dirs.iter().any(|d| has_prefix(d, path));
            if within {
                let mut line = if global.json {
                    node_json(path, node).to_json().into_bytes()
                } else {
                    format_node(path, node, args.long)
                };
                line.push(b'\n');
                if let Err(e) = out.write_all(&line) {
                    write_error = Some(e);
                    return Ok(Visit::Stop);
                }
                if args.recursive {
                    return Ok(Visit::Continue);
                }
            }
            let approaching = dirs.is_empty() || dirs.iter().any(|d| has_prefix(path, d));
            if approaching || node.node_type != NodeType::Dir {
                Ok(Visit::Continue)
            } else {
                Ok(Visit::SkipSubtree)
            }
        },
        &mut |path, e| {
            eprintln!("error for tree {}: {e}", String::from_utf8_lossy(path));
            unreadable += 1;
            Ok(())
        },
    )?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    out.flush()?;
    unreadable_trees(unreadable)
}

/// After a walk that reported `count` unreadable trees on stderr: exit 1,
/// as restic does when a tree fails to load or verify, once everything
/// readable was printed.
pub(crate) fn unreadable_trees(count: usize) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    let s = if count == 1 { "" } else { "s" };
    Err(crate::exit::ExitCode(
        crate::exit::FATAL,
        format!("Fatal: {count} tree{s} could not be read"),
    )
    .into())
}
