//! Back up a directory into a new repository, then restore the snapshot
//! elsewhere, through one `Repository` value.
//!
//! ```sh
//! cargo run -p cairn --example backup_restore                      # a demo tree in a temp dir
//! cargo run -p cairn --example backup_restore -- SOURCE REPO TARGET
//! ```
use cairn::backup::BackupOptions;
use cairn::restore::RestoreOptions;
use cairn::{BackendOptions, InitOptions, NoProgress, Repository};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (source, repo_dir, target) = match args.as_slice() {
        [s, r, t] => (s.into(), r.into(), t.into()),
        [] => {
            let source = scratch.path().join("www");
            std::fs::create_dir_all(source.join("img"))?;
            std::fs::write(source.join("index.html"), "<h1>hello</h1>\n")?;
            std::fs::write(source.join("img/logo.svg"), "<svg/>\n")?;
            (
                source,
                scratch.path().join("repo"),
                scratch.path().join("restored"),
            )
        }
        _ => return Err("usage: backup_restore [SOURCE REPO TARGET]".into()),
    };

    // Any restic repository string works here: a path, rest:, s3:, sftp:...
    let backend = cairn::open_backend(&repo_dir.to_string_lossy(), &BackendOptions::default())?;
    let mut repo = Repository::init(backend, "example password", &InitOptions::default())?;
    repo.load_index()?;

    // Writers take the lock they need: a shared one for a backup.
    let lock = repo.lock(false, None)?;
    let opts = BackupOptions {
        paths: vec![source.clone()],
        ..Default::default()
    };
    let summary = repo.backup(&lock, opts, &NoProgress)?;
    let id = summary.snapshot_id.expect("not a dry run");
    println!(
        "snapshot {} saved, {} new files",
        id.short(),
        summary.snapshot.summary.as_ref().map_or(0, |s| s.files_new)
    );

    // The same value already knows the new blobs: restore right away.
    let snapshot = repo.load_snapshot(&id)?;
    let opts = RestoreOptions {
        target: target.clone(),
        ..Default::default()
    };
    let restored = cairn::restore::restore(&repo, &snapshot.tree, None, &opts, &NoProgress)?;
    println!(
        "restored {} files into {}",
        restored.files,
        target.display()
    );

    // Restore keeps the source's path below the target (restic's rule).
    let inside = cairn::backup::snapshot_path(&source)?;
    let back = target.join(inside.trim_start_matches('/'));
    assert!(back.is_dir(), "{} was not restored", back.display());
    lock.release()?;
    Ok(())
}
