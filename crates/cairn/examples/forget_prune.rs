//! Rotate a repository with a keep policy, then prune and check it, the
//! nightly routine of a web host.
//!
//! ```sh
//! cargo run -p cairn --example forget_prune
//! ```
use cairn::backup::BackupOptions;
use cairn::format::GoTime;
use cairn::{
    CheckOptions, Error, ForgetOptions, InitOptions, KeepPolicy, LocalBackend, NoProgress,
    PruneOptions, Repository,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let source = scratch.path().join("www");
    std::fs::create_dir_all(&source)?;
    let backend = Arc::new(LocalBackend::new(scratch.path().join("repo")));
    let mut repo = Repository::init(backend, "example password", &InitOptions::default())?;
    repo.load_index()?;

    // Sixty nightly backups of a changing site, one per day.
    let lock = repo.lock(false, None)?;
    let start = SystemTime::now() - Duration::from_secs(60 * 86_400);
    for day in 0..60u64 {
        std::fs::write(source.join("index.html"), format!("<p>day {day}</p>\n"))?;
        let when = start + Duration::from_secs(day * 86_400);
        let opts = BackupOptions {
            paths: vec![source.clone()],
            time: Some(GoTime::from_system_time(when, 0)),
            ..Default::default()
        };
        repo.backup(&lock, opts, &NoProgress)?;
    }

    // forget needs an exclusive lock: the shared one is refused.
    let policy = KeepPolicy {
        last: 7,
        daily: 14,
        weekly: 8,
        monthly: 12,
        ..Default::default()
    };
    let opts = ForgetOptions {
        policy,
        ..Default::default()
    };
    match repo.forget(&lock, &opts) {
        Err(e @ Error::LockNotSuitable { .. }) => println!("as expected: {e}"),
        other => return Err(format!("forget under a shared lock: {other:?}").into()),
    }
    lock.release()?;

    let lock = repo.lock(true, None)?;
    let forgotten = repo.forget(&lock, &opts)?;
    println!("forgot {} of 60 snapshots", forgotten.remove.len());
    let report = repo.prune(&lock, &PruneOptions::default(), &NoProgress)?;
    println!(
        "prune removed {} packs, wrote {}",
        report.packs_deleted.len(),
        report.packs_written.len()
    );
    lock.release()?;

    let (left, _) = repo.snapshots()?;
    let check = repo.check(&CheckOptions::default(), &NoProgress)?;
    println!("{} snapshots left; check ok: {}", left.len(), check.is_ok());
    assert!(check.is_ok());
    Ok(())
}
