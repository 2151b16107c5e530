//! `cairn snapshots`: restic 0.19's listing, grouped or not.

use super::FilterArgs;
use crate::global::GlobalOptions;
use crate::output::{format_bytes, local_time, print_table, snapshot_json};
use anyhow::Result;
use cairn::forget::{group_snapshots, GroupBy, GroupKey};
use cairn::{latest_per_group, sort_by_time, StoredSnapshot};
use serde_json::Value;

/// Arguments of `snapshots`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshot IDs to show (default: all)
    pub ids: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only show the last n snapshots for each host and path
    #[arg(long, value_name = "n")]
    pub latest: Option<usize>,
    /// Deprecated: use --latest 1
    #[arg(long, hide = true)]
    pub last: bool,
    /// Group snapshots by host, paths and/or tags, separated by comma
    #[arg(
        short = 'g',
        long = "group-by",
        value_name = "group",
        default_value = "",
        hide_default_value = true,
        value_parser = super::parse_group_by
    )]
    pub group_by: GroupBy,
    /// Use compact output format
    #[arg(short = 'c', long)]
    pub compact: bool,
}

/// Lists snapshots as restic 0.19 does: one table (or, grouped, one
/// heading and table per group), or a JSON array of snapshots (grouped:
/// of `{group_key, snapshots}` objects). Nothing is printed as text when no
/// snapshot is selected.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let mut latest = args.latest.unwrap_or(0);
    if args.last {
        eprintln!("Flag --last has been deprecated, use --latest 1");
        if latest == 0 {
            latest = 1;
        }
    }
    let (repo, _lock) = global.open_shared()?;
    let filter = args.filter.filter();
    let snaps: Vec<StoredSnapshot> = super::select_snapshots(&repo, &args.ids, &filter)?;
    let grouped = args.group_by.is_grouping();
    let groups: Vec<(GroupKey, Vec<StoredSnapshot>)> = group_snapshots(&snaps, args.group_by)
        .into_iter()
        .map(|(key, mut list)| {
            if latest > 0 {
                list = if grouped {
                    let skip = list.len().saturating_sub(latest);
                    list.split_off(skip)
                } else {
                    latest_per_group(list, latest)
                };
            }
            sort_by_time(&mut list);
            (key, list)
        })
        .collect();
    if global.json {
        println!("{}", groups_json(&groups, grouped));
        return Ok(());
    }
    for (key, list) in &groups {
        if grouped {
            if let Some(heading) = key.heading() {
                println!("{heading}:");
            }
        }
        print_snapshot_table(list, args.compact);
    }
    Ok(())
}

/// restic's `snapshots --json`: the snapshots of every group in one array,
/// or (grouped) an array of `{"group_key":{...},"snapshots":[...]}`.
fn groups_json(groups: &[(GroupKey, Vec<StoredSnapshot>)], grouped: bool) -> String {
    let list = |snaps: &[StoredSnapshot]| -> Vec<String> {
        snaps
            .iter()
            .map(|s| snapshot_json(&s.id, &s.snapshot).to_json())
            .collect()
    };
    if !grouped {
        let all: Vec<String> = groups.iter().flat_map(|(_, s)| list(s)).collect();
        return format!("[{}]", all.join(","));
    }
    let items: Vec<String> = groups
        .iter()
        .map(|(key, snaps)| {
            format!(
                "{{\"group_key\":{},\"snapshots\":[{}]}}",
                group_key_json(key),
                list(snaps).join(",")
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// restic's `SnapshotGroupKey`: fields not grouped on (or empty) are `""`
/// and `null`.
fn group_key_json(key: &GroupKey) -> String {
    let strings = |v: &[String]| {
        if v.is_empty() {
            Value::Null
        } else {
            Value::from(v.to_vec())
        }
    };
    let value = serde_json::json!({
        "hostname": key.hostname,
        "paths": strings(&key.paths),
        "tags": strings(&key.tags),
    });
    // serde_json's map keeps keys sorted, which is restic's order here.
    crate::output::go_json(&value)
}

/// restic 0.19's snapshot table, oldest first: ID, Time, Host, Tags, Paths
/// and, when any snapshot has a summary, Size; the footer names the time
/// zone of the timestamps and counts the snapshots.
pub fn print_snapshot_table(list: &[StoredSnapshot], compact: bool) {
    let rows: Vec<(&StoredSnapshot, &[String])> = list.iter().map(|s| (s, &[][..])).collect();
    print_table_with_reasons(&rows, false, compact);
}

/// The same table with forget's Reasons column (why each snapshot is
/// kept) when `reasons` is set; restic shows it only in the long form.
pub fn print_table_with_reasons(
    list: &[(&StoredSnapshot, &[String])],
    reasons: bool,
    compact: bool,
) {
    let mut list = list.to_vec();
    // A stable sort, oldest first, as restic re-sorts before printing.
    list.sort_by_key(|(s, _)| (s.snapshot.time.unix_secs, s.snapshot.time.nanos));
    let reasons = reasons && !compact;
    let has_size = list.iter().any(|(s, _)| s.snapshot.summary.is_some());
    let multiline = !compact && list.iter().any(|(s, _)| s.snapshot.paths.len() > 1);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (i, (s, why)) in list.iter().enumerate() {
        let sn = &s.snapshot;
        let mut row = vec![s.id.short(), local_time(&sn.time), sn.hostname.clone()];
        if compact {
            row.push(sn.tags.join("\n"));
        } else {
            row.push(sn.tags.join(","));
            if reasons {
                row.push(why.join("\n"));
            }
            row.push(sn.paths.join("\n"));
        }
        if has_size {
            row.push(
                sn.summary
                    .as_ref()
                    .map(|m| format_bytes(m.total_bytes_processed))
                    .unwrap_or_default(),
            );
        }
        rows.push(row);
        // restic separates multi-line rows with an empty one.
        if multiline && i + 1 != list.len() {
            rows.push(Vec::new());
        }
    }
    // restic pads the Host and Tags headers so short values still get
    // room; the widths follow from the header text.
    let mut header: Vec<&str> = if compact {
        vec!["ID", "Time", "Host", "Tags  "]
    } else if reasons {
        vec!["ID", "Time", "Host      ", "Tags      ", "Reasons", "Paths"]
    } else {
        vec!["ID", "Time", "Host      ", "Tags      ", "Paths"]
    };
    if has_size {
        header.push("Size");
    }
    print_table(
        &header,
        &rows,
        Some(format!(
            "Timestamps shown in {}\n{} snapshots",
            zone_name(),
            list.len()
        )),
    );
}

/// The name Go gives the local time zone (`time.Local`), as restic 0.19
/// prints it under the table: "local time" when `TZ` is unset (or names
/// /etc/localtime), the `TZ` value when it names a zone file, else "UTC".
fn zone_name() -> String {
    let Some(tz) = std::env::var_os("TZ") else {
        return "local time".into();
    };
    let tz = tz.to_string_lossy();
    let tz = tz.strip_prefix(':').unwrap_or(&tz);
    if tz.is_empty() || tz == "UTC" {
        return "UTC".into();
    }
    if tz.starts_with('/') {
        if tz == "/etc/localtime" {
            return "local time".into();
        }
        return if std::path::Path::new(tz).is_file() {
            tz.to_string()
        } else {
            "UTC".into()
        };
    }
    let sources = [
        "/usr/share/zoneinfo/",
        "/usr/share/lib/zoneinfo/",
        "/usr/lib/locale/TZ/",
        "/etc/zoneinfo/",
    ];
    let valid = !tz.split('/').any(|c| c == "..")
        && sources
            .iter()
            .any(|dir| std::path::Path::new(&format!("{dir}{tz}")).is_file());
    if valid {
        tz.to_string()
    } else {
        "UTC".into()
    }
}
