//! An embedder's program, written from the public API alone (what
//! `cargo doc -p cairn` shows): open a repository from its restic string,
//! back up twice and read back through one `Repository` value, dump one
//! file found by its source path, forget and prune under the lock they
//! need, check, cancel one job, and do all of it again from tokio tasks,
//! against a local folder and against a REST server.

use cairn::backup::BackupOptions;
use cairn::{
    BackendOptions, Cancel, CheckOptions, Error, ForgetOptions, InitOptions, KeepPolicy,
    NoProgress, PruneOptions, ReadDataSubset, Repository,
};
use std::path::Path;

const PASSWORD: &str = "embedder password";

/// The whole program against `repository` (a restic repository string),
/// backing up `source`.
fn program(repository: &str, source: &Path) -> cairn::Result<()> {
    std::fs::create_dir_all(source.join("www")).unwrap();
    std::fs::write(source.join("www/index.html"), "<h1>v1</h1>\n").unwrap();
    let dump: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(source.join("db.sql"), &dump).unwrap();

    // Point 3: any repository string, one call.
    let backend = cairn::open_backend(repository, &BackendOptions::default())?;
    Repository::init(backend, PASSWORD, &InitOptions::default())?;
    let mut repo = Repository::open_location(repository, PASSWORD, &BackendOptions::default())?;
    repo.load_index()?;

    // Point 2: a writer needs a lock; a shared one does for a backup.
    let shared = repo.lock(false, None)?;
    let backup = |repo: &mut Repository, cancel: Cancel| {
        let opts = BackupOptions {
            paths: vec![source.to_path_buf()],
            cancel,
            ..Default::default()
        };
        repo.backup(&shared, opts, &NoProgress)
    };
    let first = backup(&mut repo, Cancel::new())?;
    let first_id = first.snapshot_id.expect("a snapshot");

    // Point 1: the same value reads what it just wrote ...
    let tree = repo.load_snapshot(&first_id)?.tree;
    let inside = cairn::backup::snapshot_path(&source.join("db.sql"))?;
    let mut out = Vec::new();
    // Point 4: one file, found by its source path, no archive format.
    assert_eq!(
        repo.dump_file(&tree, inside.as_bytes(), &mut out)?,
        dump.len() as u64
    );
    assert!(out == dump, "dumped content differs");
    let dir = cairn::backup::snapshot_path(&source.join("www"))?;
    assert!(matches!(
        repo.dump_file(&tree, dir.as_bytes(), &mut Vec::new()),
        Err(Error::InvalidArgument(_))
    ));

    // ... and a second backup through it stores nothing twice.
    std::fs::write(source.join("www/index.html"), "<h1>v2</h1>\n").unwrap();
    let second = backup(&mut repo, Cancel::new())?;
    assert_eq!(second.stats.data_blobs, 1, "only the changed page is new");
    assert_no_duplicate_blobs(&repo);

    // Point 5: a cancelled job stops with Interrupted and saves nothing.
    let cancel = Cancel::new();
    cancel.cancel();
    assert!(matches!(backup(&mut repo, cancel), Err(Error::Interrupted)));
    assert_eq!(repo.snapshots()?.0.len(), 2);

    // Point 2: forget and prune refuse the shared lock.
    let keep_one = ForgetOptions {
        policy: KeepPolicy {
            last: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(matches!(
        repo.forget(&shared, &keep_one),
        Err(Error::LockNotSuitable { .. })
    ));
    assert!(matches!(
        repo.prune(&shared, &PruneOptions::default(), &NoProgress),
        Err(Error::LockNotSuitable { .. })
    ));
    shared.release()?;

    let exclusive = repo.lock(true, None)?;
    let forgotten = repo.forget(&exclusive, &keep_one)?;
    assert_eq!(forgotten.remove, vec![first_id]);
    repo.prune(&exclusive, &PruneOptions::default(), &NoProgress)?;
    exclusive.release()?;

    // After prune, the same value still reads the kept snapshot.
    let latest = repo.find_snapshot("latest", &Default::default())?;
    let mut page = Vec::new();
    let index = cairn::backup::snapshot_path(&source.join("www/index.html"))?;
    repo.dump_file(&latest.snapshot.tree, index.as_bytes(), &mut page)?;
    assert_eq!(page, b"<h1>v2</h1>\n");
    assert_no_duplicate_blobs(&repo);

    let opts = CheckOptions {
        read_data: Some(ReadDataSubset::All),
        ..Default::default()
    };
    let report = repo.check(&opts, &NoProgress)?;
    assert!(report.is_ok(), "check found problems: {report:?}");
    Ok(())
}

fn assert_no_duplicate_blobs(repo: &Repository) {
    let mut ids: Vec<_> = repo.index().iter().map(|b| (b.blob_type, b.id)).collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "the in-memory index lists a blob twice");
}

#[test]
fn local_folder_from_a_plain_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    program(repo.to_str().unwrap(), &tmp.path().join("src")).unwrap();
}

#[test]
fn local_folder_from_tokio_tasks() {
    for rt in runtimes() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = format!("local:{}", tmp.path().join("repo").display());
        let source = tmp.path().join("src");
        rt.block_on(async move {
            tokio::spawn(async move { program(&repo, &source) })
                .await
                .unwrap()
        })
        .unwrap();
    }
}

#[test]
fn rest_server_from_a_tokio_task() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = cairn_server::ServerConfig::with_path(tmp.path().join("served"));
    config.no_auth = true;
    config.listen = "127.0.0.1:0".into();
    let source = tmp.path().join("src");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // The server runs on the same runtime as the embedder's task.
        let server = cairn_server::Server::bind(config).await.unwrap();
        let repo = format!("rest:http://{}/web1", server.local_addr());
        tokio::spawn(server.run());
        tokio::spawn(async move { program(&repo, &source) })
            .await
            .unwrap()
    })
    .unwrap();
}

fn runtimes() -> [tokio::runtime::Runtime; 2] {
    [
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    ]
}
