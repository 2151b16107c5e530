//! Random index entries, shared by the index bench and the
//! fake_index_repo example (both include this file with `#[path]`, since
//! the benches crate's library has no dependencies).

use cairn::format::{IndexBlob, IndexPack};
use cairn::{BlobType, Id};
use rand::rngs::StdRng;
use rand::Rng;

/// A random blob or pack ID.
pub fn random_id(rng: &mut StdRng) -> Id {
    let mut id = [0u8; 32];
    rng.fill(&mut id);
    Id(id)
}

/// A pack of `count` random blobs back to back (one in 16 a tree, lengths
/// of 100 B to 200 kB); blob number `i` is marked compressed (to twice its
/// stored length) when `compressed(i)`.
pub fn random_pack(
    rng: &mut StdRng,
    count: usize,
    compressed: impl Fn(usize) -> bool,
) -> IndexPack {
    let mut offset = 0u64;
    let blobs = (0..count)
        .map(|i| {
            let id = random_id(rng);
            let tree = rng.random_range(0..16) == 0;
            let length = rng.random_range(100..200_000);
            let blob = IndexBlob {
                id,
                blob_type: if tree { BlobType::Tree } else { BlobType::Data },
                offset,
                length,
                uncompressed_length: compressed(i).then_some(length * 2),
            };
            offset += u64::from(length);
            blob
        })
        .collect();
    IndexPack {
        id: random_id(rng),
        blobs,
    }
}
