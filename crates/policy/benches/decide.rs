//! Authorization decisions with the default policies, evaluated by Cedar (`decide_uncached`):
//! an ingest (writer key, tenant resource), a timeline read (reader key, one subject, support
//! purpose), a refused cross-tenant read; the timeline read through the decision cache
//! (`decide`); and `visible_classes` cached and uncached (five decisions).
//! `cargo bench -p steward-policy --bench decide`; `examples/latency.rs` gives percentiles.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use steward_policy::{Action, AuthzRequest, PolicyEngine, PrincipalRef, ResourceRef, Role};

fn key(role: Role) -> PrincipalRef {
    PrincipalRef::ApiKey {
        id: "k3xq7v2mhfzta".into(),
        tenant: "acme".into(),
        role,
        purposes: vec![],
    }
}

fn decide(c: &mut Criterion) {
    let engine = PolicyEngine::new(None).expect("default policies");
    let ingest = AuthzRequest::new(
        key(Role::Writer),
        Action::Ingest,
        ResourceRef::tenant("acme"),
    )
    .with_time(1_800_000_000);
    let timeline = AuthzRequest::new(
        key(Role::Reader),
        Action::ReadTimeline,
        ResourceRef::subject("acme", "p-0123456789abcdef"),
    )
    .with_purpose("support")
    .with_time(1_800_000_000);
    let other_tenant = AuthzRequest::new(
        key(Role::Admin),
        Action::ReadTimeline,
        ResourceRef::subject("globex", "p-1"),
    )
    .with_purpose("support")
    .with_time(1_800_000_000);
    let mut group = c.benchmark_group("policy");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("decide_ingest", |b| {
        b.iter(|| engine.decide_uncached(black_box(&ingest)))
    });
    group.bench_function("decide_timeline", |b| {
        b.iter(|| engine.decide_uncached(black_box(&timeline)))
    });
    group.bench_function("decide_other_tenant", |b| {
        b.iter(|| engine.decide_uncached(black_box(&other_tenant)))
    });
    group.bench_function("decide_timeline_cached", |b| {
        b.iter(|| engine.decide(black_box(&timeline)))
    });
    group.bench_function("visible_classes_cached", |b| {
        b.iter(|| engine.visible_classes(black_box(&timeline)))
    });
    group.bench_function("visible_classes_uncached", |b| {
        b.iter(|| engine.explain_classes(black_box(&timeline)))
    });
    group.bench_function("engine_new_default", |b| b.iter(|| PolicyEngine::new(None)));
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
