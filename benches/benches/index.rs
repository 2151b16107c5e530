//! In-memory index lookups on 1 million and 10 million random blobs, and
//! the index's memory cost per blob (printed, from `Index::heap_bytes`).
//!
//! A restore or check looks up every blob of every file, and large
//! repositories hold tens of millions of blobs, so both the lookup rate
//! (reported by criterion as elements/s, i.e. lookups/s) and the bytes per
//! blob decide whether Cairn scales.

use cairn::{BlobType, Id, Index, IndexBuilder};
use cairn_format::IndexFile;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// Blobs per pack: about what 16 MiB packs of ~100 KiB average blobs hold.
const BLOBS_PER_PACK: usize = 150;
/// Packs per index file, as restic writes them (restic caps an index file
/// at a few thousand packs).
const PACKS_PER_FILE: usize = 1000;
/// Lookups per criterion iteration; large enough that loop overhead and
/// timer reads vanish, small enough to keep the key list in cache.
const BATCH: usize = 4096;

#[path = "../src/fake_index.rs"]
mod fake_index;
use fake_index::{random_id, random_pack};

/// Builds an index of `n` random blobs (one in 16 a tree, a quarter of
/// them compressed) and returns it with a sample of the data blob IDs.
fn build(n: usize, rng: &mut StdRng) -> (Index, Vec<Id>) {
    let mut builder = IndexBuilder::default();
    let mut sample = Vec::with_capacity(BATCH * 16);
    let mut left = n;
    while left > 0 {
        // Index files are added one at a time so that only one file's worth
        // of parsed entries exists beside the index being built.
        let mut file = IndexFile::default();
        while left > 0 && file.packs.len() < PACKS_PER_FILE {
            let count = left.min(BLOBS_PER_PACK);
            left -= count;
            let pack = random_pack(rng, count, |i| i % 4 == 0);
            for b in &pack.blobs {
                if b.blob_type == BlobType::Data && sample.len() < sample.capacity() {
                    sample.push(b.id);
                }
            }
            file.packs.push(pack);
        }
        builder.add(&file).expect("offsets fit");
    }
    let index = builder.finish();
    assert_eq!(index.len(), n, "random IDs should not collide");
    (index, sample)
}

fn lookups(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0x00ca_1a5e);
    for (n, name) in [(1_000_000, "1M"), (10_000_000, "10M")] {
        let started = Instant::now();
        let (index, present) = build(n, &mut rng);
        eprintln!(
            "index {name}: built in {:.1} s; {} heap bytes for {} blobs = {:.1} bytes/blob",
            started.elapsed().as_secs_f64(),
            index.heap_bytes(),
            index.len(),
            index.heap_bytes() as f64 / index.len() as f64
        );
        // Shuffle-like order: hits spread over the whole table, so the
        // figure includes cache misses as a restore would see them.
        let hits: Vec<Id> = (0..BATCH)
            .map(|_| present[rng.random_range(0..present.len())])
            .collect();
        let misses: Vec<Id> = (0..BATCH).map(|_| random_id(&mut rng)).collect();

        let mut g = c.benchmark_group(format!("index_lookup_{name}"));
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function("hit", |b| {
            b.iter(|| {
                for id in &hits {
                    black_box(index.lookup(BlobType::Data, black_box(id)).unwrap());
                }
            })
        });
        g.bench_function("miss", |b| {
            b.iter(|| {
                for id in &misses {
                    assert!(index.lookup(BlobType::Data, black_box(id)).is_none());
                }
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4));
    targets = lookups
}
criterion_main!(benches);
