//! When the blob writer writes index files: at its blob threshold, at its
//! age threshold, and once more at flush; never before the packs they name.

use cairn::write::{BlobWriter, Compression, WriteOptions};
use cairn::{BlobType, FileType, InitOptions, LocalBackend, Repository};
use cairn_crypto::ScryptParams;
use std::sync::Arc;
use std::time::Duration;

fn repo(dir: &std::path::Path) -> Repository {
    let opts = InitOptions {
        scrypt: Some(ScryptParams {
            n: 1024,
            r: 8,
            p: 1,
        }),
        ..Default::default()
    };
    Repository::init(Arc::new(LocalBackend::new(dir)), "pw", &opts).unwrap()
}

/// Saves `packs` uncompressed 4 MiB blobs with a 4 MiB pack size, so each
/// blob fills a pack of its own, and returns the index files written.
fn save(repo: &Repository, opts: WriteOptions, packs: u8) -> Vec<cairn::Id> {
    let writer = BlobWriter::new(repo, opts).unwrap();
    for i in 0..packs {
        let blob = vec![i; 4 << 20];
        assert!(writer.save_blob(BlobType::Data, &blob).unwrap().new);
        // Let the upload thread finish this pack before the next one.
        std::thread::sleep(Duration::from_millis(200));
    }
    writer.flush().unwrap().1
}

#[test]
fn an_old_pending_index_is_written_before_the_blob_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let mut repo = repo(dir.path());
    let opts = WriteOptions {
        pack_size: 4 << 20,
        compression: Compression::Off,
        index_max_age: Duration::ZERO,
        upload_threads: 1,
        ..Default::default()
    };
    let written = save(&repo, opts, 3);
    assert_eq!(
        written.len(),
        3,
        "one index file per pack when every pending pack is old"
    );
    repo.load_index().unwrap();
    assert_eq!(repo.index().packs().len(), 3);
    assert_eq!(repo.list_ids(FileType::Index).unwrap().len(), 3);
}

#[test]
fn young_pending_packs_share_one_index_file_at_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut repo = repo(dir.path());
    let opts = WriteOptions {
        pack_size: 4 << 20,
        compression: Compression::Off,
        upload_threads: 1,
        ..Default::default()
    };
    let written = save(&repo, opts, 3);
    assert_eq!(written.len(), 1);
    repo.load_index().unwrap();
    assert_eq!(repo.index().packs().len(), 3);
}

#[test]
fn the_blob_threshold_splits_index_files() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let opts = WriteOptions {
        pack_size: 4 << 20,
        compression: Compression::Off,
        index_blobs: 2,
        upload_threads: 1,
        ..Default::default()
    };
    let written = save(&repo, opts, 5);
    assert_eq!(
        written.len(),
        3,
        "2 + 2 blobs at the threshold, the last at flush"
    );
}
