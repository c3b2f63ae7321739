//! Audit log throughput: durable appends in batches of 1000 records (one write + fdatasync per
//! batch; target ≥ 200k records/s), batched (read-path) appends, the offline verifier over a
//! log of 1M records (target ≥ 1M records/s), and proof generation on that log.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use steward_audit::{AuditConfig, AuditLog, AuditRecord, Decision, SigningKey, verify_dir};

const BATCH: usize = 1000;
const VERIFY_RECORDS: u64 = 1_000_000;
const TENANT: &str = "acme";

/// A typical read record: one subject, one policy, a purpose (about 130 bytes encoded).
fn record(i: u64) -> AuditRecord {
    AuditRecord {
        time_us: 1_760_000_000_000_000 + i as i64,
        principal: "key:k_01HXAB12".into(),
        action: "timeline.read".into(),
        purpose: Some("support".into()),
        resource: "tenant/acme/subjects".into(),
        subject_refs: vec![[(i % 251) as u8; 32]],
        subject_count: 1,
        decision: Decision::Allow,
        policy_ids: vec!["role.analyst".into()],
        request_id: format!("01J{i:020}"),
        result_rows: 20,
        statement: None,
    }
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = AuditLog::open(dir.path(), AuditConfig::new(TENANT)).expect("open");
    let batch: Vec<_> = (0..BATCH as u64).map(record).collect();
    let mut group = c.benchmark_group("audit_append");
    group
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("durable_batch_1000", |b| {
        b.iter(|| log.append_durable(black_box(&batch)).expect("append"))
    });
    group.bench_function("batched_1000_then_flush", |b| {
        b.iter(|| {
            for record in &batch {
                log.append_batched(black_box(record)).expect("append");
            }
            log.flush().expect("flush");
        })
    });
    group.finish();
}

fn verify_and_prove(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::from_bytes(&[7; 32]);
    let log = AuditLog::open(dir.path(), AuditConfig::new(TENANT)).expect("open");
    let mut next = 0;
    while next < VERIFY_RECORDS {
        let batch: Vec<_> = (next..next + 10_000).map(record).collect();
        log.append_durable(&batch).expect("append");
        next += 10_000;
        if next % 100_000 == 0 {
            log.sign_head(&key).expect("sign");
        }
    }
    let size = log.size();

    let mut group = c.benchmark_group("audit_verify");
    group
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10);
    group.throughput(Throughput::Elements(VERIFY_RECORDS));
    group.bench_function("verify_dir_1M", |b| {
        b.iter(|| {
            let report = verify_dir(dir.path(), TENANT, &key.verifying_key()).expect("verify");
            assert_eq!(report.records, VERIFY_RECORDS);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("audit_proofs");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("inclusion_proof_1M", |b| {
        b.iter_batched(
            || {
                i = (i + 7_919) % size;
                i
            },
            |index| log.inclusion_proof(index, size).expect("proof"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("consistency_proof_1M", |b| {
        b.iter_batched(
            || {
                i = (i + 7_919) % size;
                i
            },
            |from| log.consistency_proof(from, size).expect("proof"),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("audit_open");
    group
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10);
    group.throughput(Throughput::Elements(VERIFY_RECORDS));
    drop(log);
    group.bench_function("recover_1M", |b| {
        b.iter(|| {
            AuditLog::open(dir.path(), AuditConfig::new(TENANT))
                .expect("open")
                .size()
        })
    });
    group.finish();
}

criterion_group!(benches, append, verify_and_prove);
criterion_main!(benches);
