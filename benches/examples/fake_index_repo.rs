//! Fills an existing repository with index files naming `BLOBS` random
//! blobs in fake packs, for measuring how much memory a tool needs to hold
//! a large index (benches/index-memory-vs-restic.sh).
//!
//!     cargo run --release -p cairn-benches --example fake_index_repo -- REPO PASSWORD_FILE BLOBS
//!
//! No pack file is written: the repository is only good for commands that
//! load the index and nothing else (`list blobs`). The blob mix is what a
//! backup of ordinary files gives: one blob in 16 a tree, 16 MiB packs of
//! about 150 blobs, index files of at most 50,000 blobs (where restic and
//! Cairn start a new one). IDs come from a fixed seed, so two runs give
//! the same repository.

use cairn::format::{IndexBlob, IndexFile, IndexPack};
use cairn::{BlobType, FileType, Id, LocalBackend, Repository};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

const BLOBS_PER_PACK: usize = 150;
/// restic and Cairn start a new index file at 50,000 blobs.
const PACKS_PER_FILE: usize = 50_000 / BLOBS_PER_PACK;

fn random_id(rng: &mut StdRng) -> Id {
    let mut id = [0u8; 32];
    rng.fill(&mut id);
    Id(id)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, password_file, blobs] = args.as_slice() else {
        return Err("usage: fake_index_repo REPO PASSWORD_FILE BLOBS".into());
    };
    let mut left: usize = blobs.parse()?;
    let password = std::fs::read_to_string(password_file)?;
    let backend = Arc::new(LocalBackend::new(repo));
    let repo = Repository::open(backend, password.trim_end_matches(['\r', '\n']))?;
    let mut rng = StdRng::seed_from_u64(0x00ca_1a5e);
    let mut files = 0;
    while left > 0 {
        let mut file = IndexFile::default();
        while left > 0 && file.packs.len() < PACKS_PER_FILE {
            let count = left.min(BLOBS_PER_PACK);
            left -= count;
            let mut offset = 0u64;
            let blobs = (0..count)
                .map(|i| {
                    let length = rng.random_range(100..200_000);
                    let tree = rng.random_range(0..16) == 0;
                    let blob = IndexBlob {
                        id: random_id(&mut rng),
                        blob_type: if tree { BlobType::Tree } else { BlobType::Data },
                        offset,
                        length,
                        // Compressed blobs in a v2 repository, like a
                        // backup's; a v1 index cannot say so.
                        uncompressed_length: (repo.config().version >= 2 && i % 4 != 0)
                            .then_some(length * 2),
                    };
                    offset += u64::from(length);
                    blob
                })
                .collect();
            file.packs.push(IndexPack {
                id: random_id(&mut rng),
                blobs,
            });
        }
        repo.save_unpacked(FileType::Index, &file.to_json())?;
        files += 1;
    }
    eprintln!("wrote {files} index files for {blobs} blobs");
    Ok(())
}
