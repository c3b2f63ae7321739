//! Model test: random appends, rotations, truncations and reopens checked against a `Vec` model.

mod common;

use common::{Records, open_collect};
use proptest::prelude::*;
use steward_wal::{Lsn, Wal, WalConfig};

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    AppendMany(Vec<Vec<u8>>),
    Rotate,
    /// Truncate through this fraction (in 1/8) of the acknowledged lsns, as after a flush.
    TruncateThrough(u8),
    Reopen,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let bytes = || prop::collection::vec(any::<u8>(), 0..120);
    prop_oneof![
        6 => bytes().prop_map(Op::Append),
        3 => prop::collection::vec(bytes(), 1..6).prop_map(Op::AppendMany),
        2 => Just(Op::Rotate),
        1 => (0u8..=8).prop_map(Op::TruncateThrough),
        2 => Just(Op::Reopen),
    ]
}

/// Reopens after the model's watermark and checks the replay against the model.
fn reopen(
    dir: &std::path::Path,
    config: &WalConfig,
    model: &Records,
    applied: Lsn,
) -> Result<Wal, TestCaseError> {
    let (wal, recovery, records) = open_collect(dir, config.clone(), applied)
        .map_err(|e| TestCaseError::fail(format!("reopen: {e}")))?;
    let expected: Records = model
        .iter()
        .filter(|(lsn, _)| *lsn > applied)
        .cloned()
        .collect();
    prop_assert_eq!(records, expected);
    prop_assert_eq!(recovery.torn_tail, None);
    prop_assert_eq!(recovery.last_lsn, model.last().map_or(applied, |r| r.0));
    Ok(wal)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in prop::collection::vec(op_strategy(), 1..40), file_bytes_max in 100u64..600) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let config = WalConfig { file_bytes_max, frame_bytes_max: 256, record_bytes_max: 1024 };
        let mut model: Records = Vec::new();
        // Highest lsn a truncation covered: what a store would pass as after_lsn.
        let mut applied: Lsn = 0;
        let mut wal = reopen(dir.path(), &config, &model, applied)?;
        for op in ops {
            match op {
                Op::Append(payload) => {
                    let lsn = wal.append(&payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(lsn, model.last().map_or(applied, |r| r.0) + 1);
                    model.push((lsn, payload));
                }
                Op::AppendMany(payloads) => {
                    let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
                    let (first, last) = wal.append_many(&refs).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(last - first + 1, payloads.len() as u64);
                    prop_assert_eq!(first, model.last().map_or(applied, |r| r.0) + 1);
                    model.extend((first..=last).zip(payloads));
                }
                Op::Rotate => {
                    let closed_through = wal.rotate().map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(closed_through, wal.last_lsn());
                }
                Op::TruncateThrough(eighths) => {
                    let last = wal.last_lsn();
                    let through = applied.max(last * u64::from(eighths) / 8);
                    wal.truncate_through(through).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    applied = through;
                }
                Op::Reopen => {
                    drop(wal);
                    wal = reopen(dir.path(), &config, &model, applied)?;
                }
            }
            let files = wal.files();
            prop_assert!(files.windows(2).all(|w| w[0].last_lsn + 1 == w[1].first_lsn), "{:?}", files);
            prop_assert!(files.first().is_some_and(|f| f.first_lsn <= applied + 1), "{:?}", files);
            prop_assert_eq!(files.last().map(|f| f.last_lsn), Some(wal.last_lsn()));
        }
        drop(wal);
        reopen(dir.path(), &config, &model, applied)?;
    }
}
