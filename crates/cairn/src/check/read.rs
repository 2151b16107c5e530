//! Stage 5: reading packs and verifying every byte of them.

use super::{CheckIssue, Sink, Stage};
use crate::blob::DecodeBuffers;
use crate::index::{BlobLocation, Index};
use crate::repository::Repository;
use crate::Result;
use cairn_backend::FileType;
use cairn_format::pack::MAX_HEADER_SIZE;
use cairn_format::{check_pack_layout, header_length, parse_header, Id, HEADER_LENGTH_SIZE};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};

/// Reads every selected pack once, in parallel, and verifies it. Packs
/// that are not present were already reported as missing and are skipped.
/// Returns the packs read, sorted.
pub(crate) fn read_packs(
    repo: &Repository,
    index: &Index,
    selected: &[(Id, u64)],
    present: &HashMap<Id, u64>,
    sink: &Sink,
) -> Result<Vec<Id>> {
    let wanted: HashSet<Id> = selected.iter().map(|(id, _)| *id).collect();
    let mut blobs: HashMap<Id, Vec<BlobLocation>> = HashMap::with_capacity(wanted.len());
    for loc in index.iter().filter(|l| wanted.contains(&l.pack)) {
        blobs.entry(loc.pack).or_default().push(loc);
    }
    // Largest packs first: the last pack a worker takes is then a small
    // one, and the other core does not sit idle while it finishes.
    let mut by_size: Vec<&(Id, u64)> = selected.iter().collect();
    by_size.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    let jobs: Vec<(Id, Vec<BlobLocation>)> = by_size
        .into_iter()
        .map(|(id, _)| (*id, blobs.remove(id).unwrap_or_default()))
        .collect();
    drop(blobs);
    // `par_bridge` hands the packs out in this order as workers become
    // free (largest first), where splitting the list would not.
    let read: Vec<Option<Id>> = jobs
        .into_iter()
        .par_bridge()
        .map(|(id, blobs)| {
            if sink.cancel.is_cancelled() || !present.contains_key(&id) {
                sink.progress.advance();
                return None;
            }
            for issue in check_pack(repo, id, blobs) {
                sink.error(issue);
            }
            sink.progress.pack_read(&id);
            sink.progress.advance();
            Some(id)
        })
        .collect();
    sink.cancel.check()?;
    let mut read: Vec<Id> = read.into_iter().flatten().collect();
    read.sort();
    Ok(read)
}

/// Reads one pack and checks it: SHA-256 against its name, every blob the
/// index lists (decrypted, decompressed, hashed), the header (decrypted,
/// parsed, its layout against the file size) and header against index.
/// The whole pack is held in memory while it is checked.
pub(crate) fn check_pack(
    repo: &Repository,
    id: Id,
    mut blobs: Vec<BlobLocation>,
) -> Vec<CheckIssue> {
    let mut issues = Vec::new();
    let issue = |msg: String| {
        CheckIssue::new(Stage::ReadData, format!("pack {id}: {msg}")).file(FileType::Pack, id)
    };
    blobs.sort_by_key(|b| (b.offset, b.length));
    let mut end = 0u64;
    let mut contiguous = true;
    for b in &blobs {
        contiguous &= b.offset == end;
        end = b.offset + u64::from(b.length);
    }
    if !contiguous {
        issues.push(issue(
            "index for pack contains gaps / overlapping blobs".into(),
        ));
    }
    // A pack whose bytes do not hash to its name may have been damaged
    // in transit: read it again before reporting (see `crate::reread`).
    let mut reads = 0;
    let data = loop {
        reads += 1;
        let data = match repo.backend().read(FileType::Pack, &id.to_hex()) {
            Ok(d) => d,
            Err(e) => {
                issues.push(issue(format!("failed to download: {e}")));
                return issues;
            }
        };
        if Id::hash(&data) == id || reads > crate::reread::EXTRA_READS {
            break data;
        }
    };
    let actual = Id::hash(&data);
    if actual != id {
        issues.push(issue(format!(
            "pack ID does not match, want {id}, got {actual}{}",
            crate::reread::note(reads)
        )));
    }
    let mut bufs = DecodeBuffers::default();
    for b in &blobs {
        let blob_issue = |msg: String| issue(msg).blob(b.blob_type, b.id);
        let start = b.offset as usize;
        let Some(stored) = data.get(start..start + b.length as usize) else {
            issues.push(blob_issue(format!(
                "blob {}: offset {} length {} lies beyond the end of the file ({} bytes)",
                b.id,
                b.offset,
                b.length,
                data.len()
            )));
            continue;
        };
        if let Err(e) = repo.verify_blob_in(b, stored, &mut bufs) {
            let reason = match e {
                crate::Error::BadBlob { reason, .. } => reason,
                other => other.to_string(),
            };
            issues.push(blob_issue(format!("blob {}: {reason}", b.id)));
        }
    }
    if let Err(msg) = check_header(repo, &data, &blobs) {
        issues.push(issue(msg));
    }
    issues
}

/// Decrypts and parses the header at the end of `data` and compares it
/// with the file size and the index entries of the pack.
fn check_header(
    repo: &Repository,
    data: &[u8],
    indexed: &[BlobLocation],
) -> std::result::Result<(), String> {
    let size = data.len();
    let Some(last4) = size.checked_sub(HEADER_LENGTH_SIZE).map(|at| &data[at..]) else {
        return Err(format!("file of {size} bytes is too short to be a pack"));
    };
    let hlen = header_length(last4.try_into().expect("four bytes")) as usize;
    if hlen + HEADER_LENGTH_SIZE > MAX_HEADER_SIZE {
        return Err(format!("header length {hlen} is larger than allowed"));
    }
    let Some(start) = size.checked_sub(hlen + HEADER_LENGTH_SIZE) else {
        return Err(format!(
            "header length {hlen} is larger than the file ({size} bytes)"
        ));
    };
    let plain = repo
        .key()
        .open(&data[start..size - HEADER_LENGTH_SIZE])
        .map_err(|e| format!("pack header: {e}"))?;
    let entries = parse_header(&plain).map_err(|e| format!("pack header: {e}"))?;
    if repo.config().version < 2 {
        if let Some(b) = entries.iter().find(|b| b.uncompressed_length.is_some()) {
            return Err(format!(
                "blob {} is compressed, but the repository is version 1",
                b.id
            ));
        }
    }
    check_pack_layout(&entries, hlen as u32, size as u64).map_err(|e| e.to_string())?;
    type Key = (cairn_format::BlobType, Id, u64, u32, Option<u32>);
    let from_index: HashSet<Key> = indexed
        .iter()
        .map(|b| (b.blob_type, b.id, b.offset, b.length, b.uncompressed_length))
        .collect();
    let from_header: HashSet<Key> = entries
        .iter()
        .map(|b| {
            (
                b.blob_type,
                b.id,
                b.offset,
                b.length,
                b.uncompressed_length.filter(|&n| n != 0),
            )
        })
        .collect();
    let mut problems = Vec::new();
    for b in &entries {
        let key = (
            b.blob_type,
            b.id,
            b.offset,
            b.length,
            b.uncompressed_length.filter(|&n| n != 0),
        );
        if !from_index.contains(&key) {
            problems.push(format!(
                "blob {} is not contained in index or position is incorrect",
                b.id
            ));
        }
    }
    for b in indexed {
        if !from_header.contains(&(b.blob_type, b.id, b.offset, b.length, b.uncompressed_length)) {
            problems.push(format!(
                "blob {} is listed in the index but not in the pack header",
                b.id
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
