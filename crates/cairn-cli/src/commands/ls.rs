//! `cairn ls`: list a snapshot's nodes, as restic 0.19 does: text, JSON
//! lines or ncdu's export format, optionally sorted.

mod print;

use super::FilterArgs;
use crate::global::GlobalOptions;
use crate::output::{go_time_string, snapshot_json};
use anyhow::{bail, Result};
use cairn::clean_path;
use cairn::tree_walk::{walk_tree, TreeVisitor};
use cairn::walk::Visit;
use cairn::{Id, Node, NodeType};
pub(crate) use print::node_line;
use print::{ncdu_header, parse_sort_mode, Printer, Sink, SortMode};
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
    /// Print sizes in human readable format
    #[arg(long)]
    pub human_readable: bool,
    /// Output NCDU export format (pipe into 'ncdu -f -')
    #[arg(long)]
    pub ncdu: bool,
    /// Sort output by (name|size|time=mtime|atime|ctime|extension)
    #[arg(short = 's', long, value_name = "mode", default_value = "name", value_parser = parse_sort_mode)]
    pub sort: SortMode,
    /// Reverse sorted output
    #[arg(long)]
    pub reverse: bool,
}

/// True if `path` is `base` or lies below it (both cleaned, absolute).
fn has_prefix(base: &[u8], path: &[u8]) -> bool {
    if base == b"/" {
        return true;
    }
    path.starts_with(base) && (path.len() == base.len() || path[base.len()] == b'/')
}

/// restic's `ls` walk: what lies in the listed directories is printed,
/// the directories leading to them are walked through.
struct Lister<W: Write> {
    dirs: Vec<Vec<u8>>,
    recursive: bool,
    printer: Printer<W>,
    write_error: Option<std::io::Error>,
    unreadable: usize,
}

impl<W: Write> Lister<W> {
    fn visit(&mut self, path: &[u8], node: &Node) -> std::io::Result<Visit> {
        let within = self.dirs.is_empty() || self.dirs.iter().any(|d| has_prefix(d, path));
        let mut printed = false;
        if within {
            self.printer.node(path, node, false)?;
            printed = true;
            if self.recursive {
                return Ok(Visit::Continue);
            }
        }
        let approaching = self.dirs.is_empty() || self.dirs.iter().any(|d| has_prefix(path, d));
        if approaching {
            if !printed {
                self.printer.node(path, node, true)?;
            }
            return Ok(Visit::Continue);
        }
        if node.node_type == NodeType::Dir {
            if printed {
                self.printer.leave_dir()?;
            }
            return Ok(Visit::SkipSubtree);
        }
        Ok(Visit::Continue)
    }
}

impl<W: Write> TreeVisitor for Lister<W> {
    fn node(&mut self, _parent: &Id, path: &[u8], node: &Node) -> cairn::Result<Visit> {
        match self.visit(path, node) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.write_error = Some(e);
                Ok(Visit::Stop)
            }
        }
    }

    fn leave_dir(&mut self, path: &[u8]) -> cairn::Result<()> {
        // The root has no node of its own: nothing to close.
        if path != b"/" {
            if let Err(e) = self.printer.leave_dir() {
                self.write_error.get_or_insert(e);
            }
        }
        Ok(())
    }

    fn unreadable(&mut self, _parent: &Id, path: &[u8], e: cairn::Error) -> cairn::Result<()> {
        eprintln!("error for tree {}: {e}", String::from_utf8_lossy(path));
        self.unreadable += 1;
        // The directory's node was printed; close it as if it were empty.
        self.leave_dir(path)
    }
}

/// Lists a snapshot's nodes, restricted to `dirs` as restic does.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    if args.ncdu && global.json {
        bail!("only either '--json' or '--ncdu' can be specified");
    }
    if args.sort != SortMode::Name && args.ncdu {
        bail!("--sort and --ncdu are mutually exclusive");
    }
    if args.reverse && args.ncdu {
        bail!("--reverse and --ncdu are mutually exclusive");
    }
    if args.dirs.iter().any(|d| !d.starts_with('/')) {
        bail!("All path filters must be absolute, starting with a forward slash '/'");
    }
    let (repo, _lock) = global.open_with_index()?;
    let sn = repo.find_snapshot(&args.snapshot, &args.filter.filter())?;
    let dirs: Vec<Vec<u8>> = args
        .dirs
        .iter()
        .map(|d| clean_path(d).into_bytes())
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let sink = if global.json {
        let mut o = snapshot_json(&sn.id, &sn.snapshot);
        o.set("struct_type", "snapshot")
            .set("message_type", "snapshot");
        writeln!(out, "{}", o.to_json())?;
        Sink::Json
    } else if args.ncdu {
        let json = String::from_utf8(sn.snapshot.without_unknown().to_json())?;
        write!(out, "{}", ncdu_header(json.trim_end()))?;
        Sink::Ncdu { depth: 1 }
    } else {
        if !global.quiet {
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
        Sink::Text {
            long: args.long,
            human: args.human_readable,
        }
    };
    let sorted = (args.sort != SortMode::Name || args.reverse)
        .then(|| (args.sort, args.reverse, Vec::new()));
    let mut lister = Lister {
        dirs,
        recursive: args.recursive,
        printer: Printer { sink, out, sorted },
        write_error: None,
        unreadable: 0,
    };
    walk_tree(&repo, &sn.snapshot.tree, &mut lister)?;
    if let Some(e) = lister.write_error {
        return Err(e.into());
    }
    lister.printer.close()?;
    unreadable_trees(lister.unreadable)
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
