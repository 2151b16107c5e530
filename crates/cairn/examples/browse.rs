//! Browse a snapshot: list snapshots, walk the newest one's tree, and
//! print one file's content.
//!
//! ```sh
//! cargo run -p cairn --example browse                    # makes a demo repository first
//! RESTIC_PASSWORD=... cargo run -p cairn --example browse -- REPOSITORY [PATH-IN-SNAPSHOT]
//! ```
use cairn::backup::BackupOptions;
use cairn::walk::Visit;
use cairn::{BackendOptions, InitOptions, NoProgress, NodeType, Repository, SnapshotFilter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut repo, file) = match args.as_slice() {
        [] => demo_repository(scratch.path())?,
        [repository, rest @ ..] => {
            let password = std::env::var("RESTIC_PASSWORD")?;
            let repo =
                Repository::open_location(repository, &password, &BackendOptions::default())?;
            (repo, rest.first().cloned())
        }
    };
    repo.load_index()?;

    let (snapshots, _unreadable) = repo.snapshots()?;
    for s in &snapshots {
        println!(
            "{}  {}  {}  {}",
            s.id.short(),
            s.snapshot.time.to_rfc3339_nano(),
            s.snapshot.hostname,
            s.snapshot.paths.join(", ")
        );
    }
    let latest = repo.find_snapshot("latest", &SnapshotFilter::default())?;

    // Walk the tree without recursion; paths are raw bytes as stored.
    cairn::walk::walk(
        &repo,
        &latest.snapshot.tree,
        &mut |path, node| {
            let kind = match node.node_type {
                NodeType::Dir => "dir ",
                NodeType::File => "file",
                NodeType::Symlink => "link",
                _ => "other",
            };
            println!("{kind} {:>8}  {}", node.size, String::from_utf8_lossy(path));
            Ok(Visit::Continue)
        },
        &mut |path, err| {
            eprintln!("cannot read {}: {err}", String::from_utf8_lossy(path));
            Ok(())
        },
    )?;

    // One file's content, without choosing an archive format.
    if let Some(file) = file {
        let mut out = Vec::new();
        let n = repo.dump_file(&latest.snapshot.tree, file.as_bytes(), &mut out)?;
        println!("--- {file} ({n} bytes)\n{}", String::from_utf8_lossy(&out));
    }
    Ok(())
}

/// A repository with one snapshot of a small tree, and a file in it.
fn demo_repository(
    dir: &std::path::Path,
) -> Result<(Repository, Option<String>), Box<dyn std::error::Error>> {
    let source = dir.join("etc");
    std::fs::create_dir_all(source.join("nginx"))?;
    std::fs::write(source.join("nginx/nginx.conf"), "worker_processes 2;\n")?;
    std::fs::write(source.join("hostname"), "web1\n")?;
    let backend = cairn::open_backend(&dir.join("repo").to_string_lossy(), &Default::default())?;
    let mut repo = Repository::init(backend, "example password", &InitOptions::default())?;
    repo.load_index()?;
    let lock = repo.lock(false, None)?;
    let opts = BackupOptions {
        paths: vec![source.clone()],
        ..Default::default()
    };
    repo.backup(&lock, opts, &NoProgress)?;
    // Where the backup put the file inside the snapshot (restic's rule).
    let inside = cairn::backup::snapshot_path(&source.join("nginx/nginx.conf"))?;
    Ok((repo, Some(inside)))
}
