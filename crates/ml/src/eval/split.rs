//! Train/test splits, per user, over the matrix's stored entries.
//!
//! A split acts on entries (deduplicated (user, item) pairs, timed by their latest interaction),
//! so an item is never both trained on and held out for the same user. Every user keeps at least
//! one training entry: a user with fewer than two entries is all training (and is not evaluated,
//! having nothing held out), so no evaluated user is cold. How many entries a user holds out:
//! - `Time { holdout }`: the latest ⌈holdout · n⌉ by time (at most n − 1); equal times are
//!   ordered by item index, the higher index counting as later (deterministic, if arbitrary);
//! - `LeaveLast { count }`: the latest `count` by time, the same order (at most n − 1);
//! - `Random { holdout, seed }`: ⌈holdout · n⌉ (at most n − 1) chosen by the user's own stream
//!   (seed, user), so the split does not depend on the order users are visited.

use crate::error::EvalError;
use crate::matrix::{Interactions, MatrixLimits};
use crate::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Split {
    Time { holdout: f64 },
    LeaveLast { count: u32 },
    Random { holdout: f64, seed: u64 },
}

/// The two halves; same users and items as the input.
#[derive(Debug, Clone)]
pub struct TrainTest {
    pub train: Interactions,
    pub test: Interactions,
}

/// ⌈fraction · n⌉, robust to `fraction · n` landing a hair above an integer.
fn ceil_fraction(fraction: f64, n: usize) -> usize {
    let exact = fraction * n as f64;
    let nearest = exact.round();
    if (exact - nearest).abs() < 1e-9 {
        nearest as usize
    } else {
        exact.ceil() as usize
    }
}

pub fn split(m: &Interactions, how: &Split) -> Result<TrainTest, EvalError> {
    match *how {
        Split::Time { holdout } | Split::Random { holdout, .. }
            if !(holdout > 0.0 && holdout < 1.0) =>
        {
            return Err(EvalError::BadHoldout);
        }
        Split::LeaveLast { count: 0 } => return Err(EvalError::BadLeaveLast),
        Split::Time { .. } if !m.has_times() => {
            return Err(EvalError::NeedsTimes { split: "time" });
        }
        Split::LeaveLast { .. } if !m.has_times() => {
            return Err(EvalError::NeedsTimes {
                split: "leave-last",
            });
        }
        _ => {}
    }
    let limits = MatrixLimits {
        users_max: m.users(),
        items_max: m.items(),
        nnz_max: m.nnz() as u64,
    };
    let mut train = Interactions::builder(m.users(), m.items(), limits)?;
    let mut test = Interactions::builder(m.users(), m.items(), limits)?;
    let mut order: Vec<usize> = Vec::new();
    let mut held: Vec<bool> = Vec::new();
    for u in 0..m.users() {
        let Some(row) = m.user_row(u) else { continue };
        let n = row.items.len();
        let holdout = match *how {
            Split::Time { holdout } | Split::Random { holdout, .. } => ceil_fraction(holdout, n),
            Split::LeaveLast { count } => count as usize,
        }
        .min(n.saturating_sub(1));
        order.clear();
        order.extend(0..n);
        match (*how, row.times) {
            (Split::Random { seed, .. }, _) => {
                Rng::derive(seed, &[u64::from(u)]).shuffle(&mut order)
            }
            // Latest first: by time, then by item index.
            (_, Some(times)) => order.sort_by_key(|&k| std::cmp::Reverse((times[k], row.items[k]))),
            (_, None) => {}
        }
        held.clear();
        held.resize(n, false);
        for &k in &order[..holdout] {
            held[k] = true;
        }
        for k in 0..n {
            let half = if held[k] { &mut test } else { &mut train };
            match row.times {
                Some(times) => half.push_timed(u, row.items[k], row.weights[k], times[k])?,
                None => half.push(u, row.items[k], row.weights[k])?,
            }
        }
    }
    Ok(TrainTest {
        train: train.build()?,
        test: test.build()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(rows: &[&[(u32, i64)]], items: u32) -> Interactions {
        let mut b =
            Interactions::builder(rows.len() as u32, items, MatrixLimits::default()).unwrap();
        for (u, row) in rows.iter().enumerate() {
            for &(i, t) in *row {
                b.push_timed(u as u32, i, 1.0, t).unwrap();
            }
        }
        b.build().unwrap()
    }

    #[test]
    fn time_split_holds_out_the_latest_with_ties_by_item() {
        let m = timed(
            &[
                &[(0, 5), (1, 9), (2, 1), (3, 9), (4, 2)],
                &[(0, 1)],
                &[(1, 1), (2, 2)],
            ],
            5,
        );
        let TrainTest { train, test } = split(&m, &Split::Time { holdout: 0.4 }).unwrap();
        // User 0: ⌈0.4 · 5⌉ = 2 held out, the two at time 9 (items 1 and 3).
        assert_eq!(test.user_row(0).unwrap().items, [1, 3]);
        assert_eq!(train.user_row(0).unwrap().items, [0, 2, 4]);
        // User 1 has one entry: all training. User 2: ⌈0.8⌉ = 1, the later one.
        assert!(test.user_row(1).unwrap().items.is_empty());
        assert_eq!(test.user_row(2).unwrap().items, [2]);
        let last = split(&m, &Split::LeaveLast { count: 10 }).unwrap();
        assert_eq!(
            last.train.user_row(0).unwrap().items,
            [2],
            "at most n - 1 held out; the earliest stays"
        );
    }

    #[test]
    fn random_split_is_reproducible_and_partitions() {
        let rows: Vec<Vec<(u32, i64)>> = (0..20)
            .map(|u| (0..10).map(|i| ((u + i) % 30, 0)).collect())
            .collect();
        let refs: Vec<&[(u32, i64)]> = rows.iter().map(|r| r.as_slice()).collect();
        let m = timed(&refs, 30);
        let a = split(
            &m,
            &Split::Random {
                holdout: 0.3,
                seed: 7,
            },
        )
        .unwrap();
        let b = split(
            &m,
            &Split::Random {
                holdout: 0.3,
                seed: 7,
            },
        )
        .unwrap();
        let c = split(
            &m,
            &Split::Random {
                holdout: 0.3,
                seed: 8,
            },
        )
        .unwrap();
        assert_eq!(a.test, b.test);
        assert_ne!(a.test, c.test);
        for u in 0..20 {
            assert_eq!(a.test.user_row(u).unwrap().items.len(), 3);
            assert_eq!(a.train.user_row(u).unwrap().items.len() + 3, 10);
        }
    }

    #[test]
    fn bad_splits_are_refused() {
        let mut b = Interactions::builder(1, 2, MatrixLimits::default()).unwrap();
        b.push(0, 0, 1.0).unwrap();
        let untimed = b.build().unwrap();
        assert_eq!(
            split(&untimed, &Split::Time { holdout: 0.2 }).unwrap_err(),
            EvalError::NeedsTimes { split: "time" }
        );
        assert_eq!(
            split(&untimed, &Split::LeaveLast { count: 1 }).unwrap_err(),
            EvalError::NeedsTimes {
                split: "leave-last"
            }
        );
        for holdout in [0.0, 1.0, f64::NAN, -0.5] {
            assert_eq!(
                split(&untimed, &Split::Random { holdout, seed: 1 }).unwrap_err(),
                EvalError::BadHoldout
            );
        }
        assert_eq!(
            split(&untimed, &Split::LeaveLast { count: 0 }).unwrap_err(),
            EvalError::BadLeaveLast
        );
        assert!(
            split(
                &untimed,
                &Split::Random {
                    holdout: 0.5,
                    seed: 1
                }
            )
            .is_ok()
        );
    }
}
