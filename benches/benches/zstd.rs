//! zstd decompression of a 1 MiB blob through `decompress_blob`, the path
//! every compressed data blob takes on restore (bounded to the length the
//! index claims, so it cannot use zstd's one-shot "known size" shortcut
//! blindly; this measures what that costs).

use cairn_format::{compress_blob, decompress_blob};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

/// 1 MiB of text-like data that compresses about as well as typical source
/// or configuration files (roughly 3-4x), so the decoder does real work
/// rather than expanding one long match.
fn text(len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "restic",
        "repository",
        "snapshot",
        "the",
        "of",
        "and",
        "blob",
        "pack",
        "index",
        "tree",
        "data",
        "key",
        "lock",
        "config",
        "\n",
        "0123456789",
    ];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(WORDS[(x % 16) as usize].as_bytes());
        // Some noise so that the text is not just 16 symbols.
        out.push(b' ' + (x >> 40) as u8 % 64);
    }
    out.truncate(len);
    out
}

fn decompress(c: &mut Criterion) {
    let plain = text(1 << 20);
    let mut g = c.benchmark_group("zstd_decompress");
    g.throughput(Throughput::Bytes(plain.len() as u64));
    // Level 3 is restic's "auto" compression.
    let compressed = compress_blob(&plain, 3);
    eprintln!(
        "zstd: 1 MiB compresses to {} bytes at level 3 (ratio {:.2})",
        compressed.len(),
        plain.len() as f64 / compressed.len() as f64
    );
    let len = plain.len() as u32;
    assert_eq!(decompress_blob(&compressed, len).unwrap(), plain);
    g.bench_function("1MiB", |b| {
        b.iter(|| decompress_blob(black_box(&compressed), len).unwrap())
    });
    // Reference point: zstd's one-shot decoder into a buffer of the known
    // size, i.e. the floor that the bounded streaming decoder is paying
    // its safety margin against.
    g.bench_function("1MiB_bulk_reference", |b| {
        b.iter(|| zstd::bulk::decompress(black_box(&compressed), plain.len()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, decompress);
criterion_main!(benches);
