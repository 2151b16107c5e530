//! `cairn tag`: set, add or remove snapshot tags.

use super::FilterArgs;
use crate::global::GlobalOptions;
use anyhow::{bail, Result};
use cairn::{Repository, SnapshotFilter, StoredSnapshot, TagChange};

/// Arguments of `tag`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshots to change (default: all matching the filters)
    #[arg(value_name = "snapshot-ID")]
    pub ids: Vec<String>,
    /// Tags which will replace the existing tags in the format tag[,tag,...] (can be given multiple times)
    #[arg(long = "set", value_name = "tags")]
    pub set: Vec<String>,
    /// Tags which will be added to the existing tags in the format tag[,tag,...] (can be given multiple times)
    #[arg(long = "add", value_name = "tags")]
    pub add: Vec<String>,
    /// Tags which will be removed from the existing tags in the format tag[,tag,...] (can be given multiple times)
    #[arg(long = "remove", value_name = "tags")]
    pub remove: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// restic's flattening of repeated `tag[,tag,...]` options: split at
/// commas, spaces trimmed, empty names dropped.
fn flatten(lists: &[String]) -> Vec<String> {
    lists
        .iter()
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// Changes the tags of the selected snapshots, warning about (and
/// skipping) those that cannot be changed.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    if args.set.is_empty() && args.add.is_empty() && args.remove.is_empty() {
        bail!("nothing to do!");
    }
    if !args.set.is_empty() && (!args.add.is_empty() || !args.remove.is_empty()) {
        bail!("--set and --add/--remove cannot be given at the same time");
    }
    let verbose = !global.quiet;
    let mut repo = global.open_repository()?;
    // Tag replaces snapshot files: every listing must be complete.
    repo.set_strict_listings(true);
    if verbose && !global.no_lock {
        println!("create exclusive lock for repository");
    }
    // `--no-lock` runs without one, as restic 0.14 does.
    let held = global.lock(&repo, true)?;
    let unlocked;
    let lock = match &held {
        Some(lock) => lock,
        None => {
            unlocked = cairn::LockGuard::unlocked(&repo);
            &unlocked
        }
    };
    // As restic: `--set ""` flattens to nothing and so changes nothing.
    let set = flatten(&args.set);
    let change = if set.is_empty() {
        TagChange::Modify {
            add: flatten(&args.add),
            remove: flatten(&args.remove),
        }
    } else {
        TagChange::Set(set)
    };
    let snaps = select_snapshots(&repo, &args.ids, &args.filter.filter())?;
    let mut changed = 0usize;
    for snap in &snaps {
        match repo.change_snapshot_tags(lock, snap, &change) {
            Ok(Some(_)) => changed += 1,
            Ok(None) => {}
            Err(cairn::Error::Interrupted) => return Err(cairn::Error::Interrupted.into()),
            Err(e) => eprintln!(
                "unable to modify the tags for snapshot ID \"{}\", ignoring: {e}",
                snap.id
            ),
        }
    }
    if verbose {
        if changed == 0 {
            println!("no snapshots were modified");
        } else {
            println!("modified tags on {changed} snapshots");
        }
    }
    Ok(())
}

/// The snapshots a command names: the explicit IDs (warning about and
/// skipping those that match nothing, as restic does), or every snapshot
/// passing the filter.
pub fn select_snapshots(
    repo: &Repository,
    ids: &[String],
    filter: &SnapshotFilter,
) -> Result<Vec<StoredSnapshot>> {
    if ids.is_empty() {
        let (snaps, problems) = repo.snapshots()?;
        for p in problems {
            eprintln!("could not load snapshot: {p}");
        }
        return Ok(snaps
            .into_iter()
            .filter(|s| filter.matches(&s.snapshot))
            .collect());
    }
    let mut found: Vec<StoredSnapshot> = Vec::new();
    for spec in ids {
        match repo.find_snapshot(spec, filter) {
            Ok(s) => {
                if !found.iter().any(|f| f.id == s.id) {
                    found.push(s);
                }
            }
            Err(e) => warn_ignored(spec, &e, filter),
        }
    }
    warn_filters_ignored(ids, filter);
    Ok(found)
}

/// restic's warning for an explicit snapshot argument that matched nothing.
pub fn warn_ignored(spec: &str, err: &cairn::Error, filter: &SnapshotFilter) {
    if spec == "latest" {
        let tags: Vec<String> = filter
            .tags
            .iter()
            .map(|l| format!("[{}]", l.join(", ")))
            .collect();
        eprintln!(
            "Ignoring \"latest\", no snapshot matched given filter (Paths:[{}] Tags:[{}] Hosts:[{}])",
            filter.paths.join(" "),
            tags.join(" "),
            filter.hosts.join(" ")
        );
    } else {
        eprintln!("Ignoring {spec:?}: {err}");
    }
}

/// restic's hint that filters do nothing next to explicit IDs (unless
/// `latest` used them).
pub fn warn_filters_ignored(ids: &[String], filter: &SnapshotFilter) {
    if !ids.iter().any(|i| i == "latest") && *filter != SnapshotFilter::default() {
        eprintln!("Ignoring filters as there are explicit snapshot ids given");
    }
}
