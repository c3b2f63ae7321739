//! Encoding one WAL batch of 1000 events (the store's payload before it is sealed and appended).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use steward_crypto::Pseudonym;
use steward_store::{NewEvent, WalBatch, encode_batch};

const EVENTS: usize = 1000;

fn encode(c: &mut Criterion) {
    let events = (0..EVENTS)
        .map(|i| NewEvent {
            subject: Pseudonym::from_bytes([(i % 251) as u8; 32]),
            time_us: 1_785_542_400_000_000 + i as i64,
            event_id: format!("e-1-{i}"),
            event_type: "play".into(),
            schema_version: 1,
            public:
                br#"{"device":"mobile","genre":"rock","ms_played":183000,"track_id":"trk_1234"}"#
                    .to_vec(),
            sealed: vec![7u8; 80],
        })
        .collect();
    let batch = WalBatch {
        new_keys: Vec::new(),
        events,
    };
    let mut group = c.benchmark_group("record");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("encode_batch_1000", |b| {
        b.iter(|| encode_batch(black_box(&batch)))
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
