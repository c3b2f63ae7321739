//! Honest offline evaluation: a per-user split of the data set's matrix, full-catalogue ranking
//! (every item scored, no sampled negatives; the user's training items excluded, nothing else),
//! and recall, precision, NDCG, MAP and coverage at each requested k (definitions in
//! `metrics.rs`), next to the popularity baseline trained on the same training half.
//!
//! Evaluation runs in parallel over fixed blocks of users, and sums are added in block order, so
//! the figures do not depend on the thread count. Scoring every item for every user costs
//! users × items × factors; `users_max` evaluates a seeded sample instead when that is too much.

mod metrics;
mod split;

pub use metrics::{Metrics, MetricsAtK};
pub use split::{Split, TrainTest, split};

use crate::error::EvalError;
use crate::limits::{EVAL_BLOCK_USERS, K_MAX, KS_MAX, THREADS_MAX};
use crate::matrix::Interactions;
use crate::model::{Model, UserRef};
use crate::parallel::map_tasks;
use crate::params::{Control, Params, PopularityParams, RunConfig};
use crate::rng::Rng;
use metrics::{Sums, at_k};

/// How to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalConfig {
    /// Cutoffs, each in 1..=K_MAX, at most KS_MAX of them (reported ascending, once each).
    pub ks: Vec<usize>,
    pub threads: usize,
    /// Evaluate at most this many users, a sample drawn with `seed`; `None`: all.
    pub users_max: Option<u32>,
    pub seed: u64,
}

/// A model's metrics beside the popularity baseline's on the same split.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub model: Metrics,
    pub baseline: Metrics,
}

fn checked_ks(ks: &[usize]) -> Result<Vec<usize>, EvalError> {
    if ks.is_empty() || ks.len() > KS_MAX {
        return Err(EvalError::BadCutoffs {
            reason: "give between 1 and 32 cutoffs",
        });
    }
    if ks.iter().any(|&k| k == 0 || k > K_MAX) {
        return Err(EvalError::BadCutoffs {
            reason: "each cutoff must be between 1 and 10000",
        });
    }
    let mut ks = ks.to_vec();
    ks.sort_unstable();
    ks.dedup();
    Ok(ks)
}

/// What one block of users adds up: sums per cutoff, and each item's best (lowest) rank.
struct BlockResult {
    sums: Vec<Sums>,
    ranked: Vec<(u32, u32)>,
}

/// Evaluates `model` (trained on `train`) against the held-out `test` entries.
pub fn evaluate(
    model: &Model,
    train: &Interactions,
    test: &Interactions,
    config: &EvalConfig,
) -> Result<Metrics, EvalError> {
    let ks = checked_ks(&config.ks)?;
    if !(1..=THREADS_MAX).contains(&config.threads) {
        return Err(EvalError::BadThreads { max: THREADS_MAX });
    }
    let same_shape = train.users() == test.users()
        && train.items() == test.items()
        && model.item_count() == train.items();
    if !same_shape || (model.algorithm().has_user_rows() && model.user_count() != train.users()) {
        return Err(EvalError::ShapeMismatch);
    }
    let (mut users, mut cold) = (Vec::new(), 0u32);
    for u in 0..test.users() {
        let held_out = test.user_row(u).is_some_and(|r| !r.items.is_empty());
        let trained = train.user_row(u).is_some_and(|r| !r.items.is_empty());
        match (held_out, trained) {
            (true, true) => users.push(u),
            (true, false) => cold += 1,
            _ => {}
        }
    }
    if let Some(max) = config.users_max.filter(|&max| users.len() > max as usize) {
        Rng::derive(config.seed, &[0x6576_616c]).shuffle(&mut users);
        users.truncate(max as usize);
        users.sort_unstable();
    }
    let k_max = ks[ks.len() - 1];
    let items = train.items() as usize;
    let mut totals = vec![Sums::default(); ks.len()];
    let mut best_rank = vec![u32::MAX; items];
    let blocks: Vec<&[u32]> = users.chunks(EVAL_BLOCK_USERS).collect();
    // Rounds bound the ranked lists held at once to a few blocks per thread.
    for round in blocks.chunks(config.threads * 4) {
        let results = map_tasks(
            round.to_vec(),
            config.threads,
            || (),
            |_, _, block| -> Result<BlockResult, EvalError> {
                let mut out = BlockResult {
                    sums: vec![Sums::default(); ks.len()],
                    ranked: Vec::new(),
                };
                for &u in block {
                    let (seen, relevant) = match (train.user_row(u), test.user_row(u)) {
                        (Some(a), Some(b)) => (a.items, b.items),
                        _ => continue,
                    };
                    let user = UserRef {
                        row: Some(u),
                        items: seen,
                        vector: None,
                    };
                    let ranked: Vec<u32> = model
                        .recommend(user, k_max, seen, None)?
                        .into_iter()
                        .map(|(i, _)| i)
                        .collect();
                    for (sums, &k) in out.sums.iter_mut().zip(&ks) {
                        sums.add(&at_k(&ranked, relevant, k));
                    }
                    out.ranked
                        .extend(ranked.iter().enumerate().map(|(r, &i)| (i, r as u32)));
                }
                Ok(out)
            },
        );
        for result in results {
            let result = result?;
            for (total, s) in totals.iter_mut().zip(&result.sums) {
                total.add(s);
            }
            for (item, rank) in result.ranked {
                let best = &mut best_rank[item as usize];
                *best = (*best).min(rank);
            }
        }
    }
    let n = users.len().max(1) as f64;
    let at = ks
        .iter()
        .zip(&totals)
        .map(|(&k, s)| {
            let covered = best_rank.iter().filter(|&&r| (r as usize) < k).count();
            MetricsAtK {
                k,
                recall: s.recall / n,
                precision: s.precision / n,
                ndcg: s.ndcg / n,
                map: s.ap / n,
                coverage: if items > 0 {
                    covered as f64 / items as f64
                } else {
                    0.0
                },
            }
        })
        .collect();
    Ok(Metrics {
        users_evaluated: users.len() as u32,
        users_cold: cold,
        at,
    })
}

/// [`evaluate`] for `model` and for a popularity model (no decay) trained on `train` now.
pub fn evaluate_with_baseline(
    model: &Model,
    train: &Interactions,
    test: &Interactions,
    config: &EvalConfig,
) -> Result<Evaluation, EvalError> {
    let run = RunConfig {
        threads: config.threads.clamp(1, THREADS_MAX),
        seed: config.seed,
    };
    let popularity = crate::train(
        train,
        &Params::Popularity(PopularityParams { half_life: None }),
        &run,
        &mut |_| Control::Continue,
    )?;
    Ok(Evaluation {
        model: evaluate(model, train, test, config)?,
        baseline: evaluate(&popularity, train, test, config)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::MatrixLimits;

    fn matrix(rows: &[&[(u32, f32)]], items: u32) -> Interactions {
        let mut b =
            Interactions::builder(rows.len() as u32, items, MatrixLimits::default()).unwrap();
        for (u, row) in rows.iter().enumerate() {
            for &(i, w) in *row {
                b.push(u as u32, i, w).unwrap();
            }
        }
        b.build().unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// Popularity from the training half: item 0: 5, 1: 4, 2: 3, 3: 2, 4: 0.
    /// Rankings with training items excluded:
    ///   u0 (seen {0}, held out {1, 4}): [1, 2, 3, 4]
    ///   u1 (seen {1}, held out {0}):    [0, 2, 3, 4]
    ///   u2 (seen {2, 3}, held out {4}): [0, 1, 4]  (only three items left)
    /// k=2: u0 [1,2]: hit at 0 → P 1/2, recall 1/min(2,2) = 1/2, NDCG 1/(1 + 1/log2 3) = 0.6131472, AP 1/2·1 = 1/2
    ///      u1 [0,2]: hit at 0 → P 1/2, recall 1/min(2,1) = 1, NDCG 1, AP 1
    ///      u2 [0,1]: nothing
    ///      means: P 1/3, recall 1/2, NDCG 0.5377157, MAP 1/2; coverage {0,1,2} / 5 = 0.6
    /// k=4: u0: hits at 0 and 3 → P 2/4, recall 2/2, DCG 1 + 1/log2 5 = 1.4306766, IDCG 1.6309298
    ///          → NDCG 0.8772153, AP (1/2)(1/1 + 2/4) = 3/4
    ///      u1: hit at 0 → P 1/4, recall 1, NDCG 1, AP 1
    ///      u2: hit at 2 (of three ranked) → P 1/4 (still over k), recall 1, NDCG (1/log2 4)/1 = 1/2,
    ///          AP (1/1)(1/3)
    ///      means: P 1/3, recall 1, NDCG 0.7924051, MAP 0.6944444; coverage 5/5
    #[test]
    fn evaluate_matches_a_popularity_case_worked_by_hand() {
        let train = matrix(&[&[(0, 5.0)], &[(1, 4.0)], &[(2, 3.0), (3, 2.0)]], 5);
        let test = matrix(&[&[(1, 1.0), (4, 1.0)], &[(0, 1.0)], &[(4, 1.0)]], 5);
        let config = EvalConfig {
            ks: vec![4, 2],
            threads: 2,
            users_max: None,
            seed: 0,
        };
        let popularity = crate::train(
            &train,
            &Params::Popularity(PopularityParams::default()),
            &RunConfig {
                threads: 1,
                seed: 0,
            },
            &mut |_| Control::Continue,
        )
        .unwrap();
        let m = evaluate(&popularity, &train, &test, &config).unwrap();
        assert_eq!((m.users_evaluated, m.users_cold), (3, 0));
        let (k2, k4) = (m.at[0], m.at[1]);
        assert_eq!((k2.k, k4.k), (2, 4));
        assert!(
            close(k2.precision, 1.0 / 3.0)
                && close(k2.recall, 0.5)
                && close(k2.ndcg, 0.5377157)
                && close(k2.map, 0.5)
                && close(k2.coverage, 0.6),
            "{k2:?}"
        );
        assert!(
            close(k4.precision, 1.0 / 3.0)
                && close(k4.recall, 1.0)
                && close(k4.ndcg, 0.7924051)
                && close(k4.map, 0.6944444)
                && close(k4.coverage, 1.0),
            "{k4:?}"
        );
        let both = evaluate_with_baseline(&popularity, &train, &test, &config).unwrap();
        assert_eq!(both.model, both.baseline);
    }

    #[test]
    fn cold_users_samples_and_bad_configs() {
        let train = matrix(&[&[(0, 1.0)], &[], &[(1, 1.0)]], 3);
        let test = matrix(&[&[(2, 1.0)], &[(2, 1.0)], &[]], 3);
        let popularity = crate::train(
            &train,
            &Params::Popularity(PopularityParams::default()),
            &RunConfig {
                threads: 1,
                seed: 0,
            },
            &mut |_| Control::Continue,
        )
        .unwrap();
        let config = EvalConfig {
            ks: vec![1],
            threads: 1,
            users_max: None,
            seed: 0,
        };
        let m = evaluate(&popularity, &train, &test, &config).unwrap();
        assert_eq!((m.users_evaluated, m.users_cold), (1, 1));
        let sampled = evaluate(
            &popularity,
            &train,
            &test,
            &EvalConfig {
                users_max: Some(0),
                ..config.clone()
            },
        )
        .unwrap();
        assert_eq!(sampled.users_evaluated, 0);
        assert_eq!(sampled.at[0].recall, 0.0);
        for ks in [vec![], vec![0], vec![K_MAX + 1], vec![1; KS_MAX + 1]] {
            assert!(matches!(
                evaluate(
                    &popularity,
                    &train,
                    &test,
                    &EvalConfig {
                        ks,
                        ..config.clone()
                    }
                ),
                Err(EvalError::BadCutoffs { .. })
            ));
        }
        assert!(matches!(
            evaluate(
                &popularity,
                &train,
                &test,
                &EvalConfig {
                    threads: 0,
                    ..config.clone()
                }
            ),
            Err(EvalError::BadThreads { .. })
        ));
        let other = matrix(&[&[(0, 1.0)]], 3);
        assert_eq!(
            evaluate(&popularity, &train, &other, &config),
            Err(EvalError::ShapeMismatch)
        );
    }
}
