//! `cairn forget`: remove snapshots by a keep policy or by ID.

use super::snapshots::print_table_with_reasons;
use super::tag::{warn_filters_ignored, warn_ignored};
use crate::confirming_lock::ConfirmingLock;
use crate::global::GlobalOptions;
use crate::output::{go_json, snapshot_json};
use anyhow::{bail, Result};
use cairn::forget::{ForgetGroup, GroupBy, KeepDuration};
use cairn::{ForgetOptions, KeepPolicy, SnapshotFilter, StoredSnapshot};
use serde_json::Value;

/// A `--keep-<unit>` count: a number, or `unlimited` (-1).
fn parse_count(s: &str) -> std::result::Result<i64, String> {
    if s == "unlimited" {
        return Ok(-1);
    }
    s.parse::<i64>().map_err(|e| e.to_string())
}

fn parse_duration(s: &str) -> std::result::Result<KeepDuration, String> {
    KeepDuration::parse(s).map_err(|e| e.to_string())
}

/// Arguments of `forget`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshots to remove (instead of applying a policy)
    #[arg(value_name = "snapshot ID")]
    pub ids: Vec<String>,
    /// Keep the last n snapshots (use 'unlimited' to keep all snapshots)
    #[arg(short = 'l', long = "keep-last", value_name = "n", value_parser = parse_count, allow_negative_numbers = true, default_value = "0")]
    pub last: i64,
    /// Keep the last n hourly snapshots (use 'unlimited' to keep all hourly snapshots)
    #[arg(short = 'H', long = "keep-hourly", value_name = "n", value_parser = parse_count, allow_negative_numbers = true, default_value = "0")]
    pub hourly: i64,
    /// Keep the last n daily snapshots (use 'unlimited' to keep all daily snapshots)
    #[arg(short = 'd', long = "keep-daily", value_name = "n", value_parser = parse_count, allow_negative_numbers = true, default_value = "0")]
    pub daily: i64,
    /// Keep the last n weekly snapshots (use 'unlimited' to keep all weekly snapshots)
    #[arg(short = 'w', long = "keep-weekly", value_name = "n", value_parser = parse_count, allow_negative_numbers = true, default_value = "0")]
    pub weekly: i64,
    /// Keep the last n monthly snapshots (use 'unlimited' to keep all monthly snapshots)
    #[arg(short = 'm', long = "keep-monthly", value_name = "n", value_parser = parse_count, allow_negative_numbers = true, default_value = "0")]
    pub monthly: i64,
    /// Keep the last n yearly snapshots (use 'unlimited' to keep all yearly snapshots)
    #[arg(short = 'y', long = "keep-yearly", value_name = "n", value_parser = parse_count, allow_negative_numbers = true, default_value = "0")]
    pub yearly: i64,
    /// Keep snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot
    #[arg(long = "keep-within", value_name = "duration", value_parser = parse_duration, default_value = "")]
    pub within: KeepDuration,
    /// Keep hourly snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot
    #[arg(long = "keep-within-hourly", value_name = "duration", value_parser = parse_duration, default_value = "")]
    pub within_hourly: KeepDuration,
    /// Keep daily snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot
    #[arg(long = "keep-within-daily", value_name = "duration", value_parser = parse_duration, default_value = "")]
    pub within_daily: KeepDuration,
    /// Keep weekly snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot
    #[arg(long = "keep-within-weekly", value_name = "duration", value_parser = parse_duration, default_value = "")]
    pub within_weekly: KeepDuration,
    /// Keep monthly snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot
    #[arg(long = "keep-within-monthly", value_name = "duration", value_parser = parse_duration, default_value = "")]
    pub within_monthly: KeepDuration,
    /// Keep yearly snapshots that are newer than duration (eg. 1y5m7d2h) relative to the latest snapshot
    #[arg(long = "keep-within-yearly", value_name = "duration", value_parser = parse_duration, default_value = "")]
    pub within_yearly: KeepDuration,
    /// Keep snapshots with this taglist (can be specified multiple times)
    #[arg(long = "keep-tag", value_name = "taglist")]
    pub keep_tags: Vec<String>,
    /// Allow deleting all snapshots of a snapshot group
    #[arg(long)]
    pub unsafe_allow_remove_all: bool,
    /// Only consider snapshots with the given host (can be specified multiple times)
    #[arg(
        long = "host",
        visible_alias = "hostname",
        env = "RESTIC_HOST",
        value_name = "host"
    )]
    pub hosts: Vec<String>,
    /// Only consider snapshots which include this taglist in the format tag[,tag,...] (can be specified multiple times)
    #[arg(long = "tag", value_name = "taglist")]
    pub tags: Vec<String>,
    /// Only consider snapshots which include this (absolute) path (can be specified multiple times)
    #[arg(long = "path", value_name = "path")]
    pub paths: Vec<String>,
    /// Use compact output format
    #[arg(short = 'c', long)]
    pub compact: bool,
    /// Group snapshots by host, paths and/or tags, separated by comma (disable grouping with '')
    #[arg(
        short = 'g',
        long = "group-by",
        value_name = "group",
        default_value = "host,paths"
    )]
    pub group_by: String,
    /// Do not delete anything, just print what would be done
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Automatically run the 'prune' command if snapshots have been removed
    #[arg(long)]
    pub prune: bool,
    /// Options for --prune
    #[command(flatten)]
    pub repack: super::prune::RepackFlags,
}

impl Args {
    fn policy(&self) -> KeepPolicy {
        KeepPolicy {
            last: self.last,
            hourly: self.hourly,
            daily: self.daily,
            weekly: self.weekly,
            monthly: self.monthly,
            yearly: self.yearly,
            within: self.within,
            within_hourly: self.within_hourly,
            within_daily: self.within_daily,
            within_weekly: self.within_weekly,
            within_monthly: self.within_monthly,
            within_yearly: self.within_yearly,
            // restic's TagList: split at commas, trimmed, empty names kept.
            tags: self
                .keep_tags
                .iter()
                .map(|l| l.split(',').map(|t| t.trim().to_string()).collect())
                .collect(),
        }
    }

    /// The `prune` arguments the prune options describe.
    fn prune_args(&self) -> super::prune::Args {
        super::prune::Args {
            dry_run: self.dry_run,
            repack: self.repack.clone(),
            // A prune-only flag: `forget --prune` never recovers unsafely.
            unsafe_recover_no_free_space: String::new(),
        }
    }

    /// forget declares its own filter flags (it also takes `--hostname`);
    /// they mean what the shared ones mean.
    fn filter(&self) -> SnapshotFilter {
        super::FilterArgs {
            hosts: self.hosts.clone(),
            tags: self.tags.clone(),
            paths: self.paths.clone(),
        }
        .filter()
    }
}

/// Applies the policy (or takes the given IDs), prints restic's report and
/// removes the snapshots unless `--dry-run`.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    if global.no_lock && !args.dry_run {
        bail!("--no-lock is only applicable in combination with --dry-run for forget command");
    }
    let opts = ForgetOptions {
        policy: args.policy(),
        group_by: GroupBy::parse(&args.group_by)?,
        filter: args.filter(),
        ids: args.ids.clone(),
        dry_run: args.dry_run,
        unsafe_allow_remove_all: args.unsafe_allow_remove_all,
        now: None,
        cancel: cairn::Cancel::new(),
    };
    opts.policy.validate()?;
    // As restic, the prune options are checked before anything is done.
    let prune_opts = args.prune_args().options(global)?;
    let mut repo = global.open_repository()?;
    let lock = if args.dry_run && global.no_lock {
        None
    } else {
        // The second look for other locks runs while the policy applies.
        Some(ConfirmingLock::start(global, &repo, true)?)
    };
    let verbose = !global.quiet && !global.json;
    let plan = repo.plan_forget(&opts);
    // The prune that follows is planned now too, while the lock is being
    // confirmed, as if the snapshots to remove were gone (the library
    // refuses to carry it out until they are); what it prints is held.
    let mut prune_opts = prune_opts;
    let pending_prune = match &plan {
        Ok(plan) if args.prune && !plan.remove.is_empty() => {
            prune_opts.forgotten = plan.remove.iter().copied().collect();
            Some(super::prune::plan(global, &mut repo, &prune_opts, true)?)
        }
        _ => None,
    };
    // A conflicting lock interrupts the planning: report the lock first.
    if let Some(lock) = &lock {
        lock.confirmed()?;
    }
    let plan = plan?;
    crate::metrics::add(cairn::metrics::forget_figures(&plan));
    if opts.ids.is_empty() && verbose {
        println!("Applying Policy: {}", opts.policy.describe());
    }
    for p in &plan.problems {
        eprintln!("could not load snapshot: {p}");
    }
    for (spec, err) in &plan.ignored {
        warn_ignored(spec, err, &opts.filter);
    }
    if !opts.ids.is_empty() {
        warn_filters_ignored(&opts.ids, &opts.filter);
        // Only rustic-written snapshots can be protected; restic has no
        // such field, so this never prints for restic's repositories.
        for id in &plan.protected {
            eprintln!(
                "Ignoring {}: rustic protects this snapshot from deletion (delete field)",
                id.short()
            );
        }
    }
    if !global.json {
        for group in &plan.groups {
            print_group(global, group, args.compact);
        }
    }
    if !plan.remove.is_empty() {
        if args.dry_run {
            if !global.json {
                let short: Vec<String> = plan.remove.iter().map(|id| id.short()).collect();
                println!(
                    "Would have removed the following snapshots:\n{{{}}}\n",
                    short.join(" ")
                );
            }
        } else {
            let start = std::time::Instant::now();
            let lock = lock.as_ref().expect("locked unless a dry run");
            repo.remove_snapshots(lock.guard(), &plan.remove)?;
            if verbose {
                let n = plan.remove.len();
                println!(
                    "[{}] 100.00%  {n} / {n} files deleted\n",
                    elapsed(start.elapsed().as_secs())
                );
            }
        }
    }
    if global.json && !plan.groups.is_empty() {
        let groups: Vec<String> = plan.groups.iter().map(group_json).collect();
        println!("[{}]", groups.join(","));
    }
    if let Some(pending) = pending_prune {
        if verbose {
            let n = plan.remove.len();
            if args.dry_run {
                println!("{n} snapshots would be removed, running prune dry run");
            } else {
                println!("{n} snapshots have been removed, running prune");
            }
        }
        // As restic, prune runs under forget's exclusive lock: no other
        // process can slip in between the two.
        let unlocked;
        let guard = match &lock {
            Some(lock) => lock.guard(),
            // `--dry-run --no-lock`: the prune only plans.
            None => {
                unlocked = cairn::LockGuard::unlocked(&repo);
                &unlocked
            }
        };
        // Confirmed above.
        super::prune::finish(global, &mut repo, guard, pending, &prune_opts)?;
        if let Some(lock) = lock {
            lock.release()?;
        }
        return Ok(());
    }
    drop(lock);
    Ok(())
}

/// restic's progress clock: `m:ss`, or `h:mm:ss` past an hour.
fn elapsed(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// One group's heading (with `-v`) and its keep and remove tables.
fn print_group(global: &GlobalOptions, group: &ForgetGroup, compact: bool) {
    if global.verbose >= 1 {
        if let Some(h) = group.key.heading() {
            println!("{h}:");
        }
    }
    if global.quiet {
        return;
    }
    if !group.keep.is_empty() {
        println!("keep {} snapshots:", group.keep.len());
        let rows: Vec<(&StoredSnapshot, &[String])> = group
            .keep
            .iter()
            .map(|(s, r)| (s, r.matches.as_slice()))
            .collect();
        print_table_with_reasons(&rows, true, compact);
        println!();
    }
    if !group.remove.is_empty() {
        println!("remove {} snapshots:", group.remove.len());
        let rows: Vec<(&StoredSnapshot, &[String])> =
            group.remove.iter().map(|s| (s, &[][..])).collect();
        print_table_with_reasons(&rows, false, compact);
        println!();
    }
}

/// A JSON list of strings, or `null` when empty (Go's nil slice).
fn string_list(v: &[String]) -> String {
    if v.is_empty() {
        "null".into()
    } else {
        go_json(&Value::from(v.to_vec()))
    }
}

/// A JSON array of already encoded items, or `null` when empty.
fn array(items: Vec<String>) -> String {
    if items.is_empty() {
        "null".into()
    } else {
        format!("[{}]", items.join(","))
    }
}

/// One group as restic 0.14's `forget --json` prints it.
fn group_json(group: &ForgetGroup) -> String {
    let keep = group
        .keep
        .iter()
        .map(|(s, _)| snapshot_json(&s.id, &s.snapshot).to_json())
        .collect();
    let remove = group
        .remove
        .iter()
        .map(|s| snapshot_json(&s.id, &s.snapshot).to_json())
        .collect();
    let reasons = group
        .keep
        .iter()
        .map(|(s, r)| {
            let c = &r.counters;
            let counters: Vec<String> = [
                ("last", c.last),
                ("hourly", c.hourly),
                ("daily", c.daily),
                ("weekly", c.weekly),
                ("monthly", c.monthly),
                ("yearly", c.yearly),
            ]
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
            format!(
                "{{\"snapshot\":{},\"matches\":{},\"counters\":{{{}}}}}",
                String::from_utf8_lossy(&s.snapshot.to_json()),
                string_list(&r.matches),
                counters.join(",")
            )
        })
        .collect();
    format!(
        "{{\"tags\":{},\"host\":{},\"paths\":{},\"keep\":{},\"remove\":{},\"reasons\":{}}}",
        string_list(&group.key.tags),
        go_json(&Value::from(group.key.hostname.clone())),
        string_list(&group.key.paths),
        array(keep),
        array(remove),
        array(reasons)
    )
}
