//! Subject pseudonym: HMAC-SHA256 of an external id under the tenant's pseudonym secret;
//! `derive` keys the HMAC per call, `derive_precomputed` clones a keyed `PseudonymKey`
//! (what ingest does).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use steward_crypto::{Key256, Pseudonym, PseudonymKey};

fn derive(c: &mut Criterion) {
    let secret = Key256::random();
    let mut group = c.benchmark_group("pseudonym");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    group.bench_function("derive", |b| {
        b.iter(|| Pseudonym::derive(black_box(&secret), black_box("user-42@example.org")))
    });
    let key = PseudonymKey::new(&secret);
    group.bench_function("derive_precomputed", |b| {
        b.iter(|| key.derive(black_box("user-42@example.org")))
    });
    group.finish();
}

criterion_group!(benches, derive);
criterion_main!(benches);
