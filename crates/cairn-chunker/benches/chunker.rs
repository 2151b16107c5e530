//! Chunking throughput. Run with `cargo bench -p cairn-chunker`.
//!
//! Time is the benchmark thread's CPU time, not wall time, so the figures
//! are per core and stay meaningful on a busy machine.

use std::hint::black_box;
use std::time::Duration;

use cairn_chunker::{ChunkEngine, Chunker, ChunkerKind, Polynomial, Rabin, RabinState};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// CPU time consumed by the calling thread.
struct CpuTime;

fn thread_cpu_time() -> Duration {
    // First field: nanoseconds this thread has spent running on a CPU.
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("Linux /proc/thread-self/schedstat");
    let ns: u64 = stat
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .expect("schedstat run time");
    Duration::from_nanos(ns)
}

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time() - start
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WallTime.formatter()
    }
}

const LEN: usize = 64 << 20;

fn noise(len: usize) -> Vec<u8> {
    let mut s = 0x9e37_79b9_7f4a_7c15_u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn bench(c: &mut Criterion<CpuTime>) {
    let data = noise(LEN);
    let rabin: ChunkEngine = ChunkerKind::Rabin(Polynomial::RESTIC_TEST).build().unwrap();
    let fastcdc = ChunkerKind::FastCdc {
        min: 512 << 10,
        avg: 1 << 20,
        max: 8 << 20,
    }
    .build()
    .unwrap();
    let tables = Rabin::new(Polynomial::RESTIC_TEST).unwrap();

    let mut g = c.benchmark_group("chunk");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));

    g.bench_function("rabin/slice", |b| {
        b.iter(|| rabin.chunks(black_box(&data)).count())
    });
    g.bench_function("rabin/reader", |b| {
        let mut buf = Vec::new();
        b.iter(|| {
            // Reuse the buffer across inputs, as a backup pipeline should.
            let mut chunker = Chunker::with_buffer(
                rabin.clone(),
                black_box(&data[..]),
                std::mem::take(&mut buf),
            );
            let mut n = 0;
            while let Some(chunk) = chunker.read_chunk().unwrap() {
                n += chunk.len();
            }
            buf = chunker.into_parts().1;
            n
        })
    });
    // restic's byte-at-a-time loop, for comparison with the lanes.
    g.bench_function("rabin/state_machine", |b| {
        b.iter(|| {
            let mut state = RabinState::new(&tables);
            let mut rest = black_box(&data[..]);
            let mut n = 0;
            while let Some(cut) = tables.next_split_point(&mut state, rest) {
                rest = &rest[cut..];
                n += 1;
            }
            n
        })
    });
    g.bench_function("fastcdc/slice", |b| {
        b.iter(|| fastcdc.chunks(black_box(&data)).count())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = bench
}
criterion_main!(benches);
