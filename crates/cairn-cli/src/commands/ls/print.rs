//! How `ls` prints nodes: text, JSON lines, or ncdu's export format, each
//! optionally sorted (`--sort`, `--reverse`), as restic 0.19 does.

use crate::output::{format_long_node, format_node, node_json, JsonObject};
use cairn::{Node, NodeType};
use std::io::Write;

/// restic's `ls --sort` modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortMode {
    /// Walk order (by name within each directory).
    #[default]
    Name,
    /// File size, then path.
    Size,
    /// Access time, then path.
    Atime,
    /// Status change time, then path.
    Ctime,
    /// Modification time (`time` or `mtime`), then path.
    Mtime,
    /// File name extension, then path.
    Extension,
}

/// Parses a `--sort` value as restic does.
pub fn parse_sort_mode(s: &str) -> Result<SortMode, String> {
    Ok(match s {
        "name" => SortMode::Name,
        "size" => SortMode::Size,
        "atime" => SortMode::Atime,
        "ctime" => SortMode::Ctime,
        "mtime" | "time" => SortMode::Mtime,
        "extension" => SortMode::Extension,
        _ => {
            return Err(format!(
            "invalid sort mode {s:?}, must be one of (name|size|time=mtime|atime|ctime|extension)"
        ))
        }
    })
}

/// restic's `ui.FormatBytes` as of 0.19 (a unit from exactly 1024 on).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
    for (shift, unit) in UNITS {
        if n >= 1u64 << shift {
            return format!("{:.3} {unit}", n as f64 / (1u64 << shift) as f64);
        }
    }
    format!("{n} B")
}

/// A node's line in `ls` and `find` text output: the path, or with `long`
/// restic's long listing (sizes in human form with `human`).
pub fn node_line(path: &[u8], node: &Node, long: bool, human: bool) -> Vec<u8> {
    if !long || !human {
        return format_node(path, node, long);
    }
    format_long_node(path, node, &human_bytes(node.size))
}

/// Where nodes go.
pub enum Sink {
    /// Text lines.
    Text {
        /// `--long`.
        long: bool,
        /// `--human-readable`.
        human: bool,
    },
    /// restic's JSON lines.
    Json,
    /// ncdu's export format; `depth` is the nesting of open lists.
    Ncdu {
        /// Open lists.
        depth: usize,
    },
}

/// Nodes collected for sorting: path and node.
pub type Collected = Vec<(Vec<u8>, Node)>;

/// Prints nodes as the walk meets them, or collects and sorts them.
pub struct Printer<W: Write> {
    /// The output format.
    pub sink: Sink,
    /// Standard output.
    pub out: W,
    /// With `--sort`/`--reverse`: the mode, whether reversed, and the
    /// nodes collected so far.
    pub sorted: Option<(SortMode, bool, Collected)>,
}

fn indent(depth: usize) -> String {
    "  ".repeat(depth)
}

/// restic's NCDU node object.
fn ncdu_node(node: &Node) -> String {
    const BLOCK: u64 = 512;
    let mut mode = node.mode & 0o777;
    for (go_bit, unix_bit) in [(1u32 << 23, 0o4000), (1 << 22, 0o2000), (1 << 20, 0o1000)] {
        if node.mode & go_bit != 0 {
            mode |= unix_bit;
        }
    }
    let mut o = JsonObject::default();
    o.set("name", String::from_utf8_lossy(&node.name).into_owned())
        .set("asize", node.size)
        .set("dsize", node.size.div_ceil(BLOCK) * BLOCK)
        .set("dev", node.device_id)
        .set("ino", node.inode)
        .set("nlink", node.links)
        .set(
            "notreg",
            node.node_type != NodeType::Dir && node.node_type != NodeType::File,
        )
        .set("uid", node.uid)
        .set("gid", node.gid)
        .set("mode", mode)
        .set("mtime", node.mtime.unix_secs.max(0));
    o.to_json()
}

/// Opens ncdu's export: format version 1.2, the snapshot as metadata,
/// and the root directory's list.
pub fn ncdu_header(snapshot_json: &str) -> String {
    format!("[1, 2, {snapshot_json}, [{{\"name\":\"/\"}}")
}

impl<W: Write> Printer<W> {
    /// A node; `prefix` marks a directory on the way to the listed ones
    /// (printed by ncdu only).
    pub fn node(&mut self, path: &[u8], node: &Node, prefix: bool) -> std::io::Result<()> {
        if let Some((_, _, collected)) = &mut self.sorted {
            if !prefix {
                collected.push((path.to_vec(), node.clone()));
            }
            return Ok(());
        }
        self.emit(path, node, prefix)
    }

    fn emit(&mut self, path: &[u8], node: &Node, prefix: bool) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Text { long, human } => {
                if !prefix {
                    let mut line = node_line(path, node, *long, *human);
                    line.push(b'\n');
                    self.out.write_all(&line)?;
                }
            }
            Sink::Json => {
                if !prefix {
                    writeln!(self.out, "{}", node_json(path, node).to_json())?;
                }
            }
            Sink::Ncdu { depth } => {
                let json = ncdu_node(node);
                if node.node_type == NodeType::Dir {
                    write!(
                        self.out,
                        ",\n{}[\n{}{json}",
                        indent(*depth),
                        indent(*depth + 1)
                    )?;
                    *depth += 1;
                } else {
                    write!(self.out, ",\n{}{json}", indent(*depth))?;
                }
            }
        }
        Ok(())
    }

    /// The walk left a directory this printer was given.
    pub fn leave_dir(&mut self) -> std::io::Result<()> {
        if self.sorted.is_some() {
            return Ok(());
        }
        if let Sink::Ncdu { depth } = &mut self.sink {
            *depth = depth.saturating_sub(1);
            write!(self.out, "\n{}]", indent(*depth))?;
        }
        Ok(())
    }

    /// Prints what was collected (sorted) or closes ncdu's lists.
    pub fn close(&mut self) -> std::io::Result<()> {
        if let Some((mode, reverse, mut nodes)) = self.sorted.take() {
            sort_nodes(&mut nodes, mode);
            if reverse {
                nodes.reverse();
            }
            for (path, node) in &nodes {
                self.emit(path, node, false)?;
            }
            return self.out.flush();
        }
        if let Sink::Ncdu { .. } = self.sink {
            write!(self.out, "\n]\n]\n")?;
        }
        self.out.flush()
    }
}

/// Go's `filepath.Ext`: from the last dot of the last element on.
fn extension(path: &[u8]) -> &[u8] {
    for (i, &b) in path.iter().enumerate().rev() {
        match b {
            b'/' => return &[],
            b'.' => return &path[i..],
            _ => {}
        }
    }
    &[]
}

/// restic's stable sorts of `ls --sort`, each with the path as tiebreak.
fn sort_nodes(nodes: &mut [(Vec<u8>, Node)], mode: SortMode) {
    let time = |t: &cairn::format::GoTime| (t.unix_secs, t.nanos);
    match mode {
        SortMode::Name => {}
        SortMode::Size => nodes.sort_by(|a, b| (a.1.size, &a.0).cmp(&(b.1.size, &b.0))),
        SortMode::Mtime => {
            nodes.sort_by(|a, b| (time(&a.1.mtime), &a.0).cmp(&(time(&b.1.mtime), &b.0)))
        }
        SortMode::Atime => {
            nodes.sort_by(|a, b| (time(&a.1.atime), &a.0).cmp(&(time(&b.1.atime), &b.0)))
        }
        SortMode::Ctime => {
            nodes.sort_by(|a, b| (time(&a.1.ctime), &a.0).cmp(&(time(&b.1.ctime), &b.0)))
        }
        SortMode::Extension => {
            nodes.sort_by(|a, b| (extension(&a.0), &a.0).cmp(&(extension(&b.0), &b.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_is_go_filepath_ext() {
        assert_eq!(extension(b"/a/b.txt"), b".txt");
        assert_eq!(extension(b"/a.d/b"), b"");
        assert_eq!(extension(b"/a/.bashrc"), b".bashrc");
        assert_eq!(extension(b"/a/b.tar.gz"), b".gz");
    }

    #[test]
    fn human_bytes_switches_unit_at_1024() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.000 KiB");
        assert_eq!(human_bytes(1536), "1.500 KiB");
        assert_eq!(human_bytes(1 << 20), "1.000 MiB");
    }

    #[test]
    fn sort_modes_parse_as_restic() {
        assert_eq!(parse_sort_mode("time"), Ok(SortMode::Mtime));
        assert_eq!(parse_sort_mode("extension"), Ok(SortMode::Extension));
        assert!(parse_sort_mode("ext").is_err());
    }
}
