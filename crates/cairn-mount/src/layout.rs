//! The virtual directories above the snapshots: `ids/`, `snapshots/`,
//! `hosts/HOST/`, `tags/TAG/` (or whatever `--path-template` asks for),
//! with restic's names and `latest` links, rebuilt when the repository's
//! snapshots change.
//!
//! Each path template is expanded per snapshot (`%i` short ID, `%I` full
//! ID, `%u` user, `%h` host, `%t` each tag, `%T` the time through the time
//! template); a template ending in `%T` also gets a `latest` symlink to
//! the newest snapshot's name. A name taken twice gets `-1`, `-2`, … as in
//! restic. Host, user and tag values are made safe as one file name (`/`
//! becomes `_`, `""` and `.` become `_`, `..` becomes `__`).

use crate::time_template;
use cairn::format::Snapshot;
use cairn::{FileType, Id, Repository, SnapshotFilter};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// restic's default `--path-template`s.
pub const DEFAULT_PATH_TEMPLATES: [&str; 4] =
    ["ids/%i", "snapshots/%T", "hosts/%h/%T", "tags/%t/%T"];

/// How old the snapshot list may be before a lookup or listing of a
/// virtual directory reads it again.
pub const RESCAN_AFTER: Duration = Duration::from_secs(1);

/// A snapshot with its file ID.
#[derive(Debug)]
pub struct SnapshotEntry {
    /// The snapshot file's ID.
    pub id: Id,
    /// Its content.
    pub snapshot: Snapshot,
}

/// One path of the virtual tree.
#[derive(Debug, Default, Clone)]
pub struct MetaEntry {
    /// The snapshot this path shows (a snapshot directory or a link).
    pub snapshot: Option<Arc<SnapshotEntry>>,
    /// Set for a `latest` link: its target.
    pub link_target: Option<String>,
    /// Children of a virtual directory.
    pub names: BTreeSet<String>,
}

/// The virtual tree: paths (`""` the root, `/ids`, `/ids/1a2b3c4d`, …)
/// to entries.
#[derive(Debug, Default)]
pub struct Tree {
    entries: HashMap<String, MetaEntry>,
}

impl Tree {
    /// The entry at `path` (`""` is the root).
    pub fn get(&self, path: &str) -> Option<&MetaEntry> {
        self.entries.get(path)
    }

    fn mount(&mut self, path: &str, snapshot: Option<Arc<SnapshotEntry>>, link: Option<String>) {
        let entry = self.entries.entry(path.to_string()).or_default();
        if snapshot.is_some() {
            entry.snapshot = snapshot;
            entry.link_target = link;
        }
        let mut child = path;
        while let Some(slash) = child.rfind('/') {
            let (parent, name) = (&child[..slash], &child[slash + 1..]);
            let entry = self.entries.entry(parent.to_string()).or_default();
            entry.names.insert(name.to_string());
            child = parent;
        }
    }

    /// Builds the tree for `snapshots` (sorted oldest first).
    pub fn build(
        snapshots: &[Arc<SnapshotEntry>],
        path_templates: &[String],
        time_template: &str,
    ) -> Tree {
        let mut tree = Tree::default();
        tree.mount("", None, None);
        for template in path_templates {
            let prefix = static_prefix(template);
            if !prefix.is_empty() {
                tree.mount(&clean(&format!("/{prefix}")), None, None);
            }
        }
        let mut latest: HashMap<String, cairn::format::GoTime> = HashMap::new();
        for sn in snapshots {
            for template in path_templates {
                let (paths, time_suffix) = expand(template, time_template, sn);
                for p in paths {
                    let p = if p.is_empty() { p } else { format!("/{p}") };
                    let suffix = unique_name(&tree, &p, &time_suffix);
                    tree.mount(&clean(&format!("{p}{suffix}")), Some(sn.clone()), None);
                    if time_suffix.is_empty() {
                        continue;
                    }
                    let newer = latest.get(&p).is_none_or(|t| !before(&sn.snapshot.time, t));
                    if newer {
                        tree.mount(
                            &clean(&format!("{p}/latest")),
                            Some(sn.clone()),
                            Some(suffix),
                        );
                        latest.insert(p, sn.snapshot.time);
                    }
                }
            }
        }
        tree
    }
}

fn before(a: &cairn::format::GoTime, b: &cairn::format::GoTime) -> bool {
    (a.unix_secs, a.nanos) < (b.unix_secs, b.nanos)
}

/// `name`, or `name-1`, `name-2`, … whichever is free after `prefix`.
fn unique_name(tree: &Tree, prefix: &str, name: &str) -> String {
    let mut candidate = name.to_string();
    let mut i = 1;
    while tree.entries.contains_key(&format!("{prefix}{candidate}")) {
        candidate = format!("{name}-{i}");
        i += 1;
    }
    candidate
}

/// A tag, host or user as one file name.
fn safe_name(value: &str) -> String {
    match value {
        "" | "." => "_".into(),
        ".." => "__".into(),
        v => v.replace('/', "_"),
    }
}

/// The paths a template gives for a snapshot, and the time that ends them
/// when the template ends in `%T` (else `""`). A template with `%t` gives
/// one path per tag, none for a snapshot without tags.
fn expand(template: &str, time_template: &str, sn: &SnapshotEntry) -> (Vec<String>, String) {
    let time = time_template::format(&sn.snapshot.time, time_template);
    let mut out = vec![String::new()];
    let mut chars = template.chars().peekable();
    let mut time_pending = false;
    while let Some(c) = chars.next() {
        if time_pending {
            out.iter_mut().for_each(|o| o.push_str(&time));
            time_pending = false;
        }
        if c != '%' {
            out.iter_mut().for_each(|o| o.push(c));
            continue;
        }
        let Some(verb) = chars.next() else { break };
        let value = match verb {
            'T' => {
                time_pending = true;
                continue;
            }
            't' => {
                let tags = &sn.snapshot.tags;
                if tags.is_empty() {
                    return (Vec::new(), String::new());
                }
                out = tags
                    .iter()
                    .flat_map(|tag| out.iter().map(move |o| format!("{o}{}", safe_name(tag))))
                    .collect();
                continue;
            }
            'i' => sn.id.to_hex()[..8].to_string(),
            'I' => sn.id.to_hex(),
            'u' => safe_name(&sn.snapshot.username),
            'h' => safe_name(&sn.snapshot.hostname),
            other => other.to_string(),
        };
        out.iter_mut().for_each(|o| o.push_str(&value));
    }
    let suffix = if time_pending { time } else { String::new() };
    (out, suffix)
}

/// The directories before a template's first variable (`hosts` for
/// `hosts/%h/%T`); `""` for a template without variables.
fn static_prefix(template: &str) -> &str {
    let mut in_verb = false;
    for (i, c) in template.char_indices() {
        if in_verb {
            in_verb = false;
            if "iIuhtT".contains(c) {
                let before = &template[..i - 1];
                return before.rfind('/').map_or("", |slash| &before[..slash]);
            }
        } else if c == '%' {
            in_verb = true;
        }
    }
    ""
}

/// Go's `path.Clean` for absolute paths, with `/` itself as `""`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.iter().map(|p| format!("/{p}")).collect()
}

/// The snapshot list and the tree built from it, read again when older
/// than [`RESCAN_AFTER`].
#[derive(Debug)]
pub struct Layout {
    path_templates: Vec<String>,
    time_template: String,
    filter: SnapshotFilter,
    tree: Arc<Tree>,
    /// Sorted IDs of the snapshots the tree shows.
    shown: Vec<Id>,
    loaded: HashMap<Id, Arc<SnapshotEntry>>,
    last_check: Option<Instant>,
}

impl Layout {
    /// An empty layout; [`Layout::refresh`] fills it.
    pub fn new(path_templates: Vec<String>, time_template: String, filter: SnapshotFilter) -> Self {
        let path_templates = if path_templates.is_empty() {
            DEFAULT_PATH_TEMPLATES
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            path_templates
        };
        Layout {
            path_templates,
            time_template,
            filter,
            tree: Arc::new(Tree::default()),
            shown: Vec::new(),
            loaded: HashMap::new(),
            last_check: None,
        }
    }

    /// The current tree.
    pub fn tree(&self) -> Arc<Tree> {
        self.tree.clone()
    }

    /// Reads the snapshot list again if it is older than [`RESCAN_AFTER`]
    /// (or `force`); returns true if the shown snapshots changed. Snapshot
    /// files that cannot be loaded are reported on stderr and left out.
    pub fn refresh(&mut self, repo: &Repository, force: bool) -> cairn::Result<bool> {
        if !force && self.last_check.is_some_and(|t| t.elapsed() < RESCAN_AFTER) {
            return Ok(false);
        }
        let ids = repo.list_ids(FileType::Snapshot)?;
        let mut snapshots = Vec::with_capacity(ids.len());
        for (id, _) in ids {
            let entry = match self.loaded.get(&id) {
                Some(e) => e.clone(),
                None => match repo.load_snapshot(&id) {
                    Ok(snapshot) => {
                        let e = Arc::new(SnapshotEntry { id, snapshot });
                        self.loaded.insert(id, e.clone());
                        e
                    }
                    Err(e) => {
                        eprintln!("unable to load snapshot {}: {e}", id.short());
                        continue;
                    }
                },
            };
            if self.filter.matches(&entry.snapshot) {
                snapshots.push(entry);
            }
        }
        snapshots.sort_by(|a, b| {
            let (ta, tb) = (&a.snapshot.time, &b.snapshot.time);
            (ta.unix_secs, ta.nanos, a.id).cmp(&(tb.unix_secs, tb.nanos, b.id))
        });
        self.last_check = Some(Instant::now());
        let shown: Vec<Id> = snapshots.iter().map(|s| s.id).collect();
        if shown == self.shown && !self.shown.is_empty() {
            return Ok(false);
        }
        let first = self.shown.is_empty() && self.tree.entries.is_empty();
        self.tree = Arc::new(Tree::build(
            &snapshots,
            &self.path_templates,
            &self.time_template,
        ));
        let changed = shown != self.shown || first;
        self.shown = shown;
        Ok(changed)
    }
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
