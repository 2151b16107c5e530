//! Sealing and opening (AES-256-CTR + Poly1305-AES) at the sizes that
//! matter: 1 KiB (small tree blobs, index entries), 1 MiB (a typical data
//! blob) and 16 MiB (a whole pack file or header), plus SHA-256 at 1 MiB,
//! which every blob pays once for its ID.

use cairn_crypto::{sha256, MasterKey};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (1 << 20, "1MiB"), (16 << 20, "16MiB")];

/// Incompressible-looking but deterministic bytes; the cipher does not
/// care about content, but zero pages could be special-cased by the OS.
fn data(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn seal_open(c: &mut Criterion) {
    let key = MasterKey::generate();
    let mut g = c.benchmark_group("seal");
    for (len, name) in SIZES {
        let plain = data(len);
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &plain, |b, p| {
            b.iter(|| key.seal(black_box(p)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("open");
    for (len, name) in SIZES {
        let sealed = key.seal(&data(len));
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &sealed, |b, s| {
            b.iter(|| key.open(black_box(s)).unwrap())
        });
    }
    g.finish();

    // open_in_place is what the restore path uses on freshly read buffers;
    // the copy into the buffer is part of the cost, as it would be there.
    let mut g = c.benchmark_group("open_in_place");
    for (len, name) in SIZES {
        let sealed = key.seal(&data(len));
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &sealed, |b, s| {
            b.iter_batched_ref(
                || s.clone(),
                |buf| key.open_in_place(buf).unwrap(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn sha(c: &mut Criterion) {
    let plain = data(1 << 20);
    let mut g = c.benchmark_group("sha256");
    g.throughput(Throughput::Bytes(plain.len() as u64));
    g.bench_function("1MiB", |b| b.iter(|| sha256(black_box(&plain))));
    g.finish();
}

criterion_group! {
    name = benches;
    // 16 MiB iterations are slow; fewer samples keep the run short while
    // the per-sample time stays far above timer resolution.
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(4));
    targets = seal_open, sha
}
criterion_main!(benches);
