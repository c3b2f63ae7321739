//! Schema validation of one generated `play` event's properties against the music schema.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use std::hint::black_box;
use std::time::Duration;
use steward_privacy::Schema;

fn validate_play(c: &mut Criterion) {
    let document = steward_gen::music_schemas()
        .into_iter()
        .find(|(event_type, _)| event_type == "play")
        .map(|(_, document)| document)
        .expect("play schema");
    let schema = Schema::from_json(&document).expect("valid schema");
    let event = steward_gen::events(&steward_gen::GenConfig::new(1, 1_000))
        .find(|e| e["type"] == "play")
        .expect("a play event");
    let Some(Value::Object(properties)) = event.get("properties").cloned() else {
        panic!("play without properties")
    };
    schema
        .validate(&properties)
        .expect("generated play validates");

    let mut group = c.benchmark_group("validate");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    group.bench_function("play", |b| {
        b.iter(|| schema.validate(black_box(&properties)))
    });
    group.finish();
}

criterion_group!(benches, validate_play);
criterion_main!(benches);
