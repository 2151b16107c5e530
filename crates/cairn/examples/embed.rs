//! Embedding Cairn: back up a directory into a new repository, then
//! restore the snapshot elsewhere.
//!
//! `cargo run -p cairn --example embed -- SOURCE_DIR REPO_DIR TARGET_DIR`
use cairn::backup::{BackupOptions, NoProgress as NoBackupProgress};
use cairn::restore::{NoProgress, RestoreOptions};
use cairn::{InitOptions, LocalBackend, Repository};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, repo_dir, target] = args.as_slice() else {
        return Err("usage: embed SOURCE_DIR REPO_DIR TARGET_DIR".into());
    };
    let backend = Arc::new(LocalBackend::new(repo_dir));
    let mut repo = Repository::init(backend, "example password", &InitOptions::default())?;
    repo.load_index()?;
    let lock = repo.lock(false, None)?;
    let opts = BackupOptions {
        paths: vec![source.into()],
        ..Default::default()
    };
    let summary = repo.backup(&lock, opts, &NoBackupProgress)?;
    let id = summary.snapshot_id.expect("not a dry run");
    println!(
        "snapshot {} saved, {} new files",
        id.short(),
        summary.snapshot.summary.as_ref().map_or(0, |s| s.files_new)
    );

    // The same value reads what it has just written.
    let snapshot = repo.load_snapshot(&id)?;
    let opts = RestoreOptions {
        target: target.into(),
        ..Default::default()
    };
    let restored = cairn::restore::restore(&repo, &snapshot.tree, None, &opts, &NoProgress)?;
    println!("restored {} files into {target}", restored.files);
    Ok(())
}
