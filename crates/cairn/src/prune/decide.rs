//! Deciding which packs to delete, repack or keep (restic's
//! `decidePackAction`).

use super::classify::{PackInfo, PackKind};
use super::{PruneOptions, PrunePlan, PruneProgress, PruneStats};
use crate::{Error, Result};
use cairn_format::Id;
use std::cmp::Ordering;
use std::collections::HashMap;

/// Fewer small packs than this are left alone: repacking them is not
/// worth it, and a single small pack would otherwise be repacked forever.
const MIN_SMALL_PACKS: usize = 10;

/// The size below which a fully used pack counts as small: 1/25 of the
/// target pack size by default, 80% of it with `--repack-small`, or the
/// `--repack-smaller-than` value.
pub fn small_pack_target(opts: &PruneOptions) -> u64 {
    match (opts.repack_smaller_than, opts.repack_small) {
        (Some(n), _) if n > 0 => n,
        (_, true) => opts.write.pack_size / 5 * 4,
        _ => opts.write.pack_size / 25,
    }
}

/// A pack that may be repacked.
struct Candidate {
    id: Id,
    info: PackInfo,
    must_compress: bool,
}

/// Decides the fate of every pack. `listed` is every pack file with its
/// size; `indexed` what the index says about each pack it names.
pub(crate) fn decide(
    opts: &PruneOptions,
    repo_version: u32,
    mut indexed: HashMap<Id, PackInfo>,
    listed: &[(Id, u64)],
    mut stats: PruneStats,
    progress: &dyn PruneProgress,
) -> Result<PrunePlan> {
    let mut plan = PrunePlan::default();
    let target = small_pack_target(opts);
    let mut candidates = Vec::new();
    let mut small = Vec::new();
    let mut listed: Vec<(Id, u64)> = listed.to_vec();
    listed.sort();
    for &(id, file_size) in &listed {
        let Some(info) = indexed.remove(&id) else {
            // No index names it, so nothing uses it.
            plan.remove_first.insert(id);
            stats.unreferenced_bytes += file_size;
            continue;
        };
        if info.size() != file_size && info.used_blobs != 0 {
            progress.warn(&format!(
                "pack {}: calculated size {} does not match real size {file_size}\nRun `repair index`.",
                id.short(),
                info.size()
            ));
            return Err(Error::Inconsistent(format!(
                "pack {id}: size {file_size} does not match calculated size {} from index",
                info.size()
            )));
        }
        match (info.used_blobs, info.unused_blobs) {
            (0, _) => stats.packs_unused += 1,
            (_, 0) => stats.packs_used += 1,
            _ => stats.packs_partly_used += 1,
        }
        if info.uncompressed {
            stats.uncompressed_bytes += info.size();
        }
        // Version 2: uncompressed tree packs are always recompressed, data
        // packs on request.
        let must_compress = repo_version >= 2
            && info.uncompressed
            && (info.kind == PackKind::Tree || opts.repack_uncompressed);
        let candidate = Candidate {
            id,
            info,
            must_compress,
        };
        if info.used_blobs == 0 {
            plan.remove.insert(id);
            stats.remove.blobs += info.unused_blobs;
            stats.remove.bytes += info.unused_size;
        } else if opts.repack_cacheable_only && info.kind == PackKind::Data {
            stats.packs_keep += 1;
        } else if info.unused_blobs == 0 && info.kind != PackKind::Mixed && !must_compress {
            if file_size >= target {
                stats.packs_keep += 1;
            } else {
                small.push(candidate);
            }
        } else {
            candidates.push(candidate);
        }
    }

    // What is left in `indexed` is named by the index but does not exist.
    let mut missing: Vec<Id> = Vec::new();
    for (id, info) in indexed {
        if info.used_blobs == 0 {
            plan.ignore.insert(id);
            stats.remove.blobs += info.unused_blobs;
            stats.remove.bytes += info.unused_size;
        } else {
            missing.push(id);
        }
    }
    if !missing.is_empty() {
        missing.sort();
        let list: Vec<String> = missing.iter().map(|id| format!("  {id}")).collect();
        progress.warn(&format!(
            "The index references {} needed pack files which are missing from the repository:\n{}\nRun `repair index` (then `check`).",
            missing.len(),
            list.join("\n")
        ));
        return Err(Error::Inconsistent(format!(
            "{} packs from index missing in repo",
            missing.len()
        )));
    }
    if !plan.ignore.is_empty() {
        let list: Vec<String> = plan
            .ignore
            .iter()
            .map(|id| format!("will forget missing pack file {id}"))
            .collect();
        progress.warn(&format!(
            "Missing but unneeded pack files are referenced in the index, will be repaired\n{}",
            list.join("\n")
        ));
    }

    if small.len() < MIN_SMALL_PACKS {
        stats.packs_keep += small.len() as u64;
    } else {
        candidates.append(&mut small);
    }
    // Tree and mixed packs first, then small packs, then by falling share
    // of unused space; the ID makes the order total.
    candidates.sort_by(|a, b| order(&a.info, &b.info, target).then(a.id.cmp(&b.id)));

    let max_unused_after = opts.max_unused.limit(stats.used.bytes);
    let max_repack = opts.max_repack_bytes.unwrap_or(u64::MAX);
    for c in candidates {
        let p = &c.info;
        let remaining_unused = (stats.duplicate.bytes + stats.unused.bytes)
            .saturating_sub(stats.remove.bytes + stats.repack_remove.bytes);
        let reached_unused = remaining_unused < max_unused_after;
        let reached_repack = stats.repack.bytes + p.size() >= max_repack;
        let large_enough = p.size() >= target;
        let repack = if reached_repack {
            false
        } else if p.kind != PackKind::Data || c.must_compress {
            // Only the repack limit holds tree packs and packs to compress.
            true
        } else {
            !(reached_unused && large_enough)
        };
        if !repack {
            stats.packs_keep += 1;
            continue;
        }
        plan.repack.insert(c.id);
        stats.repack.blobs += p.used_blobs + p.unused_blobs;
        stats.repack.bytes += p.size();
        stats.repack_remove.blobs += p.unused_blobs;
        stats.repack_remove.bytes += p.unused_size;
        if p.uncompressed {
            stats.uncompressed_bytes -= p.size();
        }
    }

    stats.packs_unreferenced = plan.remove_first.len() as u64;
    stats.packs_repack = plan.repack.len() as u64;
    stats.packs_remove = plan.remove.len() as u64;
    if repo_version < 2 {
        stats.uncompressed_bytes = 0;
    }
    plan.stats = stats;
    Ok(plan)
}

/// restic's repack order.
fn order(a: &PackInfo, b: &PackInfo, target: u64) -> Ordering {
    let a_data = a.kind == PackKind::Data;
    let b_data = b.kind == PackKind::Data;
    if a_data != b_data {
        return if a_data {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    let a_small = a.size() < target;
    let b_small = b.size() < target;
    if a_small != b_small {
        return if a_small {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    // a.unused / a.size > b.unused / b.size, without division.
    let lhs = u128::from(a.unused_size) * u128::from(b.used_size);
    let rhs = u128::from(b.unused_size) * u128::from(a.used_size);
    rhs.cmp(&lhs)
}
