//! WAL append: one 1 KiB payload per call (each call waits for its own write + fsync), and
//! `append_many` of 64 × 1 KiB in one frame. Single thread, so no group commit: this is the
//! floor of one durable acknowledgement on this disk.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use steward_wal::{Wal, WalConfig};

const PAYLOAD_BYTES: usize = 1024;
const MANY_PAYLOADS: usize = 64;

fn wal_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (wal, _) = Wal::open(dir.path(), WalConfig::default(), 0, |_, _| Ok(())).expect("open WAL");
    let payload = vec![0xa5u8; PAYLOAD_BYTES];
    let many: Vec<&[u8]> = (0..MANY_PAYLOADS).map(|_| &payload[..]).collect();

    let mut group = c.benchmark_group("wal");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    group.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
    group.bench_function("append_1KiB", |b| {
        b.iter(|| wal.append(black_box(&payload)).expect("append"))
    });
    group.throughput(Throughput::Bytes((PAYLOAD_BYTES * MANY_PAYLOADS) as u64));
    group.bench_function("append_many_64x1KiB", |b| {
        b.iter(|| wal.append_many(black_box(&many)).expect("append_many"))
    });
    group.finish();
}

criterion_group!(benches, wal_append);
criterion_main!(benches);
