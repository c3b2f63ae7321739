//! No personal value reaches the audit files: a canary scan over the log, its heads and its
//! export; free text is refused; and a subject is findable by its reference before erasure and
//! unlinkable (while the log still verifies) after its key is destroyed.

mod support;

use steward_audit::{
    AuditConfig, AuditError, AuditLog, AuditRecord, Decision, SubjectRef, export, subject_ref,
    subject_ref_key, verify_dir,
};
use steward_crypto::{Key256, Pseudonym, sha256};
use support::{TENANT, all_files, contains, key};

struct Subject {
    external_id: String,
    pseudonym: Pseudonym,
    data_key: Key256,
}

fn subjects(n: usize) -> (Key256, Vec<Subject>) {
    let tenant_secret = Key256::random();
    let subjects = (0..n)
        .map(|i| {
            let external_id = format!("CANARY-{i:04}-jane.doe+{i}@example.com");
            Subject {
                pseudonym: Pseudonym::derive(&tenant_secret, &external_id),
                external_id,
                data_key: Key256::random(),
            }
        })
        .collect();
    (tenant_secret, subjects)
}

fn reference(subject: &Subject) -> SubjectRef {
    subject_ref(
        &subject_ref_key(&subject.data_key),
        subject.pseudonym.as_bytes(),
    )
}

fn access(i: u64, refs: Vec<SubjectRef>, principal: &str) -> AuditRecord {
    let mut record = AuditRecord {
        time_us: 1_760_000_000_000_000 + i as i64,
        principal: principal.into(),
        action: "timeline.read".into(),
        purpose: Some("support".into()),
        resource: format!("tenant/{TENANT}/subjects"),
        subject_refs: Vec::new(),
        subject_count: 0,
        decision: Decision::Allow,
        policy_ids: vec!["role.analyst".into()],
        request_id: format!("01J{i:020}"),
        result_rows: 3,
        statement: None,
    };
    record.set_subjects(refs);
    record
}

#[test]
fn no_personal_value_reaches_the_audit_files() {
    let (tenant_secret, subjects) = subjects(50);
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), AuditConfig::new(TENANT)).unwrap();
    for (i, subject) in subjects.iter().enumerate() {
        let record = access(i as u64, vec![reference(subject)], "user:u_7f3a9c");
        if i % 2 == 0 {
            log.append_durable(&[record]).unwrap();
        } else {
            log.append_batched(&record).unwrap();
        }
    }
    // A bulk read over every subject records only the count.
    let all: Vec<_> = subjects.iter().map(reference).collect();
    log.append_durable(&[access(99, all, "key:k_01HX")])
        .unwrap();
    // Personal values offered as free strings are refused, and nothing is written.
    for bad in [
        access(
            100,
            Vec::new(),
            &format!("user:{}", subjects[0].external_id),
        ),
        AuditRecord {
            resource: format!("tenant/{TENANT}/subjects/{}", subjects[1].external_id),
            ..access(101, Vec::new(), "operator")
        },
        AuditRecord {
            purpose: Some("call Jane Doe back".into()),
            ..access(102, Vec::new(), "operator")
        },
        AuditRecord {
            statement: Some(format!(
                "SELECT * FROM subjects WHERE external_id = '{}'",
                subjects[2].external_id
            )),
            ..access(103, Vec::new(), "operator")
        },
    ] {
        assert!(matches!(
            log.append_durable(std::slice::from_ref(&bad)),
            Err(AuditError::InvalidRecord(_))
        ));
        assert!(matches!(
            log.append_batched(&bad),
            Err(AuditError::InvalidRecord(_))
        ));
    }
    log.close(&key()).unwrap();
    assert_eq!(log.size(), 51);
    drop(log);
    let out = tempfile::tempdir().unwrap();
    export(dir.path(), out.path(), TENANT, &key().verifying_key()).unwrap();

    let mut files = all_files(dir.path());
    files.extend(all_files(out.path()));
    // records.log, heads.log, the (empty) closed.marker, records.ndjson, heads.json.
    assert_eq!(files.len(), 5);
    for subject in &subjects {
        let pseudonym = subject.pseudonym.as_bytes();
        let needles: [(&str, Vec<u8>); 7] = [
            ("external id", subject.external_id.as_bytes().to_vec()),
            ("external id local part", b"jane.doe".to_vec()),
            ("pseudonym", pseudonym.to_vec()),
            ("pseudonym hex", subject.pseudonym.to_hex().into_bytes()),
            ("pseudonym hash", sha256(&[pseudonym]).to_vec()),
            ("data key", subject.data_key.expose().to_vec()),
            (
                "reference key",
                subject_ref_key(&subject.data_key).expose().to_vec(),
            ),
        ];
        for (file, bytes) in &files {
            for (what, needle) in &needles {
                assert!(
                    !contains(bytes, needle),
                    "{what} of a subject found in {file}"
                );
            }
            assert!(!contains(bytes, b"CANARY"), "canary found in {file}");
            assert!(
                !contains(bytes, tenant_secret.expose()),
                "tenant secret found in {file}"
            );
        }
    }
}

#[test]
fn a_subject_is_findable_before_erasure_and_unlinkable_after() {
    let (tenant_secret, mut subjects) = subjects(6);
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), AuditConfig::new(TENANT)).unwrap();
    // Subject 0 appears alone, with others, and in a bulk read (count only).
    let mut records = Vec::new();
    for i in 0..12u64 {
        let chosen: Vec<_> = subjects
            .iter()
            .enumerate()
            .filter(|(s, _)| (i as usize + s).is_multiple_of(3))
            .map(|(_, s)| reference(s))
            .collect();
        records.push(access(i, chosen, "operator"));
    }
    log.append_durable(&records).unwrap();
    log.sign_head(&key()).unwrap();

    // Before erasure: the compliance report recomputes the reference and finds exactly the
    // records that name the subject.
    let target = reference(&subjects[0]);
    let expected: Vec<u64> = (0..12).filter(|i| i % 3 == 0).collect();
    let found: Vec<u64> = log
        .records_referencing(&target)
        .unwrap()
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found, expected);

    // Erasure destroys the subject's data key (and with it the derived reference key).
    let erased = subjects.remove(0);
    let pseudonym = erased.pseudonym;
    drop(erased);
    drop(log);

    // After: the log still verifies (same root as signed) ...
    let report = verify_dir(dir.path(), TENANT, &key().verifying_key()).unwrap();
    assert_eq!((report.records, report.signed_size), (12, 12));
    // ... but nothing still held links the records to the person. The tenant secret still
    // maps the external id to the pseudonym, yet no reference derivable from the pseudonym with
    // any surviving key (or with none) occurs in the log.
    assert_eq!(
        Pseudonym::derive(&tenant_secret, "CANARY-0000-jane.doe+0@example.com"),
        pseudonym
    );
    let log = AuditLog::open(dir.path(), AuditConfig::new(TENANT)).unwrap();
    let mut candidates: Vec<SubjectRef> = subjects
        .iter()
        .flat_map(|s| {
            [
                subject_ref(&subject_ref_key(&s.data_key), pseudonym.as_bytes()),
                subject_ref(&s.data_key, pseudonym.as_bytes()),
            ]
        })
        .collect();
    candidates.push(subject_ref(&tenant_secret, pseudonym.as_bytes()));
    candidates.push(subject_ref(
        &subject_ref_key(&tenant_secret),
        pseudonym.as_bytes(),
    ));
    candidates.push(sha256(&[pseudonym.as_bytes()]));
    candidates.push(sha256(&[b"audit-subject-ref", pseudonym.as_bytes()]));
    candidates.push(*pseudonym.as_bytes());
    for candidate in candidates {
        assert!(log.records_referencing(&candidate).unwrap().is_empty());
    }
    // The other subjects are still found.
    assert_eq!(
        log.records_referencing(&reference(&subjects[0]))
            .unwrap()
            .len(),
        4
    );
}
