//! Fills an existing repository with index files naming `BLOBS` random
//! blobs in fake packs, for measuring how much memory a tool needs to hold
//! a large index (benches/index-memory-vs-restic.sh).
//!
//!     cargo run --release -p cairn-benches --example fake_index_repo -- REPO PASSWORD_FILE BLOBS [real]
//!
//! With `real`, the `BLOBS` blobs are real instead (benches/many-blobs.sh):
//! small data blobs of unique content (40 bytes each) in real packs of
//! 4 MiB (the smallest pack size restic allows), with their index written
//! as a backup writes it, so the repository passes `restic check`.
//!
//! One real blob is saved first (with the content [`REAL_BLOB`]; its ID is
//! printed on stdout), so that `cat blob ID` (which loads the whole index,
//! then reads this blob) succeeds; the other blobs are in packs that do
//! not exist. The blob mix is what a
//! backup of ordinary files gives: one blob in 16 a tree, 16 MiB packs of
//! about 150 blobs, index files of at most 50,000 blobs (where restic and
//! Cairn start a new one). IDs come from a fixed seed, so two runs give
//! the same repository.

use cairn::format::IndexFile;
use cairn::write::{BlobWriter, WriteOptions};
use cairn::{BlobType, FileType, LocalBackend, Repository};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

const BLOBS_PER_PACK: usize = 150;
/// The content of the one blob that really exists.
pub const REAL_BLOB: &[u8] = b"cairn index memory bench\n";
/// restic and Cairn start a new index file at 50,000 blobs.
const PACKS_PER_FILE: usize = 50_000 / BLOBS_PER_PACK;

#[path = "../src/fake_index.rs"]
mod fake_index;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (repo, password_file, blobs, real_blobs) = match args.as_slice() {
        [repo, password_file, blobs] => (repo, password_file, blobs, false),
        [repo, password_file, blobs, real] if real == "real" => (repo, password_file, blobs, true),
        _ => return Err("usage: fake_index_repo REPO PASSWORD_FILE BLOBS [real]".into()),
    };
    let mut left: usize = blobs.parse()?;
    let password = std::fs::read_to_string(password_file)?;
    let backend = Arc::new(LocalBackend::new(repo));
    let repo = Repository::open(backend, password.trim_end_matches(['\r', '\n']))?;
    let writer = BlobWriter::new(&repo, WriteOptions::default())?;
    let real = writer.save_blob(BlobType::Data, REAL_BLOB)?.id;
    writer.flush()?;
    if real_blobs {
        save_real_blobs(&repo, left)?;
        eprintln!("wrote {blobs} real blobs");
        println!("{real}");
        return Ok(());
    }
    let mut rng = StdRng::seed_from_u64(0x00ca_1a5e);
    let mut files = 0;
    while left > 0 {
        let mut file = IndexFile::default();
        while left > 0 && file.packs.len() < PACKS_PER_FILE {
            let count = left.min(BLOBS_PER_PACK);
            left -= count;
            // Compressed blobs in a v2 repository, like a backup's; a v1
            // index cannot say so.
            let v2 = repo.config().version >= 2;
            file.packs
                .push(fake_index::random_pack(&mut rng, count, |i| {
                    v2 && i % 4 != 0
                }));
        }
        repo.save_unpacked(FileType::Index, &file.to_json())?;
        files += 1;
    }
    eprintln!("wrote {files} index files for {blobs} fake blobs");
    println!("{real}");
    Ok(())
}

/// Saves `count` small data blobs of unique content in real 4 MiB packs.
fn save_real_blobs(repo: &Repository, count: usize) -> Result<(), Box<dyn std::error::Error>> {
    let opts = WriteOptions {
        pack_size: 4 << 20,
        ..WriteOptions::default()
    };
    let writer = BlobWriter::new(repo, opts)?;
    let mut rng = StdRng::seed_from_u64(0x00b1_0b5e);
    let mut content = [0u8; 40];
    for i in 0..count as u64 {
        // The counter makes every blob unique; the rest is random.
        content[..8].copy_from_slice(&i.to_le_bytes());
        rng.fill(&mut content[8..]);
        writer.save_blob(BlobType::Data, &content)?;
    }
    writer.flush()?;
    Ok(())
}
