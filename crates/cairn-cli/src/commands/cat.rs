//! `cairn cat`: print repository objects.

use super::split_snapshot_spec;
use crate::global::GlobalOptions;
use crate::output::indent_json;
use anyhow::{bail, Context, Result};
use cairn::format::{go_quote, to_go_json, IndexFile, KeyFile, Lock};
use cairn::{BlobType, FileType, SnapshotFilter};
use std::io::Write;

/// Arguments of `cat`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// One of config, masterkey, key, lock, snapshot, index, pack, blob, tree
    #[arg(value_name = "type")]
    pub kind: String,
    /// The object's ID (for tree: a snapshot, optionally with :subfolder)
    #[arg(value_name = "ID")]
    pub id: Option<String>,
}

/// Prints one object: JSON indented as restic prints it, raw bytes for
/// packs and blobs.
pub fn run(global: &GlobalOptions, args: Args) -> Result<()> {
    let need_id = !matches!(args.kind.as_str(), "config" | "masterkey");
    let id = match (&args.id, need_id) {
        (Some(id), true) => id.clone(),
        (None, true) => bail!("type {:?} needs an ID", args.kind),
        (_, false) => String::new(),
    };
    let (mut repo, _lock) = global.open_shared()?;
    let out = &mut std::io::stdout().lock();
    match args.kind.as_str() {
        "config" => {
            let json = repo.config().to_json();
            writeln!(out, "{}", indent_json(&json))?;
        }
        "masterkey" => {
            use base64::Engine as _;
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let key = repo.key();
            let v = serde_json::json!({
                "mac": {"k": b64(key.mac_k()), "r": b64(key.mac_r())},
                "encrypt": b64(key.encrypt_key()),
            });
            writeln!(out, "{}", indent_json(&to_go_json(&v)))?;
        }
        "key" => {
            let id = repo.find_id(FileType::Key, &id)?;
            let raw = repo.read_verified(FileType::Key, &id)?;
            let key = KeyFile::from_json(&raw).with_context(|| format!("keys/{id}"))?;
            writeln!(out, "{}", indent_json(&key.to_json()))?;
        }
        "lock" => {
            let id = repo.find_id(FileType::Lock, &id)?;
            let lock = Lock::from_json(&repo.load_unpacked(FileType::Lock, &id)?)
                .with_context(|| format!("locks/{id}"))?;
            writeln!(out, "{}", indent_json(&lock.to_json()))?;
        }
        "snapshot" => {
            let sn = repo.find_snapshot(&id, &SnapshotFilter::default())?;
            // restic prints the fields it knows, not the file's bytes.
            let known = sn.snapshot.without_unknown().to_json();
            writeln!(out, "{}", indent_json(&known))?;
        }
        "index" => {
            let id = repo.find_id(FileType::Index, &id)?;
            let plain = repo.load_unpacked(FileType::Index, &id)?;
            IndexFile::from_json(&plain).with_context(|| format!("index/{id}"))?;
            writeln!(out, "{}", String::from_utf8_lossy(&plain).trim_end())?;
        }
        "pack" => {
            let id = repo.find_id(FileType::Pack, &id)?;
            out.write_all(&repo.read_verified(FileType::Pack, &id)?)?;
        }
        "blob" => {
            repo.load_index()?;
            let id = cairn::Id::from_hex(&id).context("blob needs a full ID")?;
            let data = [BlobType::Tree, BlobType::Data]
                .into_iter()
                .find(|t| repo.index().contains(*t, &id))
                .map(|t| repo.load_blob(t, &id))
                .transpose()?
                .with_context(|| format!("blob {id} not found"))?;
            out.write_all(&data)?;
        }
        "tree" => {
            repo.load_index()?;
            let (snap, sub) = split_snapshot_spec(&id);
            let sn = repo.find_snapshot(snap, &SnapshotFilter::default())?;
            let path = sub.unwrap_or("/");
            let (node, tree) = cairn::walk::find_node(&repo, &sn.snapshot.tree, path.as_bytes())?;
            if node.as_ref().is_some_and(|n| n.subtree.is_none()) {
                bail!("path {} is not a directory", go_quote(path.as_bytes()));
            }
            writeln!(out, "{}", indent_json(&tree.to_json()))?;
        }
        other => bail!("invalid type {other:?}"),
    }
    Ok(())
}
