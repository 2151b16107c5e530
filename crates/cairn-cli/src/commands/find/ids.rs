//! `find --blob/--tree/--pack`: where blobs and trees are used, in restic
//! 0.19's text and JSON (`object_type`, `id`, `path`, `parent_tree`,
//! `snapshot`, `time`), and with `--show-pack-id` the pack holding each.

use crate::global::GlobalOptions;
use crate::output::{local_time, JsonObject};
use anyhow::Result;
use cairn::pack_contents::id_matches;
use cairn::tree_walk::{walk_tree, TreeVisitor};
use cairn::walk::Visit;
use cairn::{BlobType, Id, Node, NodeType, Repository, StoredSnapshot};
use std::collections::BTreeSet;
use std::io::Write;

/// The IDs searched for, as given (full or 8-character short form). A set
/// that was not asked for is `None` (restic's nil map: with `--tree` alone
/// the walk of a snapshot ends once every tree was found).
#[derive(Debug, Default)]
pub struct Wanted {
    /// Data blobs (`--blob`, or the data blobs of `--pack`).
    pub blobs: Option<BTreeSet<String>>,
    /// Trees (`--tree`, or the tree blobs of `--pack`).
    pub trees: Option<BTreeSet<String>>,
}

impl Wanted {
    /// The blobs of the packs named, as restic's `find --pack` finds them;
    /// warns on standard error about packs only the index knows.
    pub fn of_packs(repo: &Repository, packs: &[String]) -> Result<Wanted> {
        let contents = repo.pack_contents(packs)?;
        if !contents.from_index.is_empty() {
            let list: Vec<String> = contents.from_index.iter().map(Id::to_hex).collect();
            eprintln!(
                "some pack files are missing from the repository, getting their blobs from the repository index: [{}]\n\n",
                list.join(" ")
            );
        }
        let hex = |s: &BTreeSet<Id>| s.iter().map(Id::to_hex).collect();
        Ok(Wanted {
            blobs: Some(hex(&contents.data)),
            trees: Some(hex(&contents.trees)),
        })
    }
}

/// Prints found objects, text or one JSON array.
struct Output<'a> {
    json: bool,
    out: std::io::BufWriter<std::io::StdoutLock<'a>>,
    hits: usize,
}

impl Output<'_> {
    fn object(
        &mut self,
        kind: &str,
        id: &Id,
        path: &[u8],
        parent: Option<&Id>,
        sn: &StoredSnapshot,
    ) {
        let path = String::from_utf8_lossy(path);
        if self.json {
            let mut o = JsonObject::default();
            o.set("object_type", kind)
                .set("id", id.to_hex())
                .set("path", path.into_owned());
            if let Some(p) = parent {
                o.set("parent_tree", p.to_hex());
            }
            o.set("snapshot", sn.id.to_hex())
                .set("time", sn.snapshot.time.to_rfc3339_nano());
            let sep = if self.hits == 0 { "[" } else { "," };
            let _ = write!(self.out, "{sep}{}", o.to_json());
        } else {
            let _ = writeln!(self.out, "Found {kind} {id}");
            if let Some(p) = parent {
                let _ = writeln!(self.out, " ... in file {path}");
                let _ = writeln!(self.out, "     (tree {p})");
            } else {
                let _ = writeln!(self.out, " ... path {path}");
            }
            let _ = writeln!(
                self.out,
                " ... in snapshot {} ({})",
                sn.id.short(),
                local_time(&sn.snapshot.time)
            );
        }
        self.hits += 1;
    }
}

/// Walks one snapshot for the wanted IDs (restic's `findIDs`).
struct Finder<'a, 'o> {
    wanted: &'a mut Wanted,
    out: &'a mut Output<'o>,
    /// Trees found so far, over all snapshots (restic counts this way).
    items_found: &'a mut usize,
    sn: &'a StoredSnapshot,
}

impl Finder<'_, '_> {
    fn find_tree(&mut self, tree: &Id, path: &[u8]) -> Visit {
        let Some(trees) = &self.wanted.trees else {
            return Visit::Continue;
        };
        if !trees.iter().any(|w| id_matches(w, tree)) {
            return Visit::Continue;
        }
        let count = trees.len();
        self.out.object("tree", tree, path, None, self.sn);
        *self.items_found += 1;
        if *self.items_found >= count && self.wanted.blobs.is_none() {
            return Visit::Stop;
        }
        Visit::Continue
    }
}

impl TreeVisitor for Finder<'_, '_> {
    fn node(&mut self, parent: &Id, path: &[u8], node: &Node) -> cairn::Result<Visit> {
        if node.node_type != NodeType::File {
            return Ok(Visit::Continue);
        }
        let Some(blobs) = &mut self.wanted.blobs else {
            return Ok(Visit::Continue);
        };
        for id in node.content.iter().flatten() {
            let full = id.to_hex();
            if !blobs.contains(&full) {
                if !blobs.remove(&id.short()) {
                    continue;
                }
                // A short ID found is looked for by its full form from now on.
                blobs.insert(full);
            }
            self.out.object("blob", id, path, Some(parent), self.sn);
        }
        Ok(Visit::Continue)
    }

    fn enter_dir(&mut self, tree: &Id, path: &[u8]) -> cairn::Result<Visit> {
        Ok(self.find_tree(tree, path))
    }

    fn unreadable(&mut self, parent: &Id, _path: &[u8], _e: cairn::Error) -> cairn::Result<()> {
        let _ = writeln!(self.out.out, "Unable to load tree {parent}");
        let _ = writeln!(
            self.out.out,
            " ... which belongs to snapshot {}",
            self.sn.id
        );
        Ok(())
    }
}

/// restic's `findObjectPack`: the pack holding `id` of type `blob_type`.
fn print_pack(out: &mut impl Write, repo: &Repository, wanted: &str, blob_type: BlobType) {
    let problem = if wanted.len() != 64 {
        Some(format!("invalid length for ID: {wanted:?}"))
    } else {
        wanted.chars().find(|c| !c.is_ascii_hexdigit()).map(|c| {
            format!(
                "invalid ID: encoding/hex: invalid byte: U+{:04X} {c:?}",
                c as u32
            )
        })
    };
    let id = match (problem, Id::from_hex(wanted)) {
        (None, Ok(id)) => id,
        (problem, _) => {
            let why = problem.unwrap_or_else(|| "invalid ID".to_string());
            let _ = writeln!(
                out,
                "Note: cannot find pack for object '{wanted}', unable to parse ID: {why}"
            );
            return;
        }
    };
    let kind = match blob_type {
        BlobType::Data => "data",
        BlobType::Tree => "tree",
    };
    let Some(loc) = repo.index().lookup(blob_type, &id) else {
        // restic's message names the type and the ID the other way round.
        let _ = writeln!(
            out,
            "Object {kind} with type {} not found in the index",
            id.short()
        );
        return;
    };
    let _ = writeln!(out, "Object belongs to pack {}", loc.pack);
    let _ = writeln!(
        out,
        " ... Pack {}: <Blob ({kind}) {}, offset {}, length {}, uncompressed length {}>",
        loc.pack.short(),
        id.short(),
        loc.offset,
        loc.length,
        loc.uncompressed_length.unwrap_or(0)
    );
}

/// Searches `snaps` (in the order given) for the wanted IDs.
pub fn run(
    global: &GlobalOptions,
    repo: &Repository,
    snaps: &[StoredSnapshot],
    mut wanted: Wanted,
    show_pack_id: bool,
) -> Result<()> {
    let mut out = Output {
        json: global.json,
        out: std::io::BufWriter::new(std::io::stdout().lock()),
        hits: 0,
    };
    let mut items_found = 0;
    for sn in snaps {
        let mut finder = Finder {
            wanted: &mut wanted,
            out: &mut out,
            items_found: &mut items_found,
            sn,
        };
        walk_tree(repo, &sn.snapshot.tree, &mut finder)?;
    }
    if out.json {
        let end = if out.hits == 0 { "[]" } else { "]" };
        writeln!(out.out, "{end}")?;
    }
    if show_pack_id {
        for (set, blob_type) in [
            (&wanted.blobs, BlobType::Data),
            (&wanted.trees, BlobType::Tree),
        ] {
            for w in set.iter().flatten() {
                print_pack(&mut out.out, repo, w, blob_type);
            }
        }
    }
    out.out.flush()?;
    Ok(())
}
