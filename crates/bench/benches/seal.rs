//! AES-256-GCM sealing of one 40-byte personal field (an email address) with the event id as
//! associated data, as ingest seals each personal property: `seal_40B` sets up the key
//! schedule per call, `sealer_40B` reuses a `Sealer` (what ingest does within one event).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use steward_crypto::{Key256, Sealer, context, seal};

fn seal_field(c: &mut Criterion) {
    let key = Key256::random();
    let aad = context(&[b"bench", b"e-1-123456"]);
    let plain = b"firstname.lastname.1234@example.org_xx_x";
    assert_eq!(plain.len(), 40);
    let mut group = c.benchmark_group("seal");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    group.bench_function("seal_40B", |b| {
        b.iter(|| seal(black_box(&key), black_box(&aad), black_box(plain)))
    });
    let sealer = Sealer::new(&key);
    let mut out = Vec::with_capacity(128);
    group.bench_function("sealer_40B", |b| {
        b.iter(|| {
            out.clear();
            sealer.seal_into(black_box(&aad), black_box(plain), &mut out);
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, seal_field);
criterion_main!(benches);
