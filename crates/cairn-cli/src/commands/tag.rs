//! `cairn tag`: set, add or remove snapshot tags.

use super::{select_snapshots, FilterArgs};
use crate::global::GlobalOptions;
use crate::output::JsonObject;
use anyhow::{bail, Result};
use cairn::TagChange;

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
/// skipping) those that cannot be changed. Prints restic 0.19's lines: the
/// old and new ID of each changed snapshot with `-v`, and the count; with
/// `--json`, a `changed` message per snapshot and a `summary`.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    if args.set.is_empty() && args.add.is_empty() && args.remove.is_empty() {
        bail!("nothing to do!");
    }
    if !args.set.is_empty() && (!args.add.is_empty() || !args.remove.is_empty()) {
        bail!("--set and --add/--remove cannot be given at the same time");
    }
    let verbose = !global.quiet && !global.json;
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
            Ok(Some(new_id)) => {
                changed += 1;
                if global.json {
                    let mut o = JsonObject::default();
                    o.set("message_type", "changed")
                        .set("old_snapshot_id", snap.id.to_hex())
                        .set("new_snapshot_id", new_id.to_hex());
                    println!("{}", o.to_json());
                } else if verbose && global.verbose >= 1 {
                    println!("old snapshot ID: {} -> new snapshot ID: {new_id}", snap.id);
                }
            }
            Ok(None) => {}
            Err(cairn::Error::Interrupted) => return Err(cairn::Error::Interrupted.into()),
            Err(e) => eprintln!(
                "unable to modify the tags for snapshot ID \"{}\", ignoring: {e}",
                snap.id
            ),
        }
    }
    if global.json {
        let mut o = JsonObject::default();
        o.set("message_type", "summary")
            .set("changed_snapshots", changed);
        println!("{}", o.to_json());
    } else if verbose {
        if changed == 0 {
            println!("no snapshots were modified");
        } else {
            println!("modified {changed} snapshots");
        }
    }
    Ok(())
}

// forget prints the same warnings.
pub use super::{warn_filters_ignored, warn_ignored};
