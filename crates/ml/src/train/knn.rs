//! Item-kNN: cosine similarity between item columns of the (optionally re-weighted) user × item
//! matrix, keeping each item's `neighbours` most similar items.
//!
//! Weighting treats items as documents and users as terms, so a user who touched everything says
//! little about any two items being alike:
//! - `TfIdf`: w · ln(1 + items / n_u), n_u = items the user touched;
//! - `Bm25`: w (k1 + 1) / (w + k1 (1 − b + b L_i / avg L)) · ln(1 + (items − n_u + 0.5) / (n_u + 0.5)),
//!   L_i = item i's summed weight, avg L over items with any interaction (Okapi BM25 with the
//!   always-positive idf of Lucene).
//!
//! Columns are then scaled to unit length, so a dot product is the cosine. For item i the
//! similarities to every item are accumulated over i's users' rows (a dense per-thread
//! accumulator, touched items tracked), which costs Σ_u n_u² in total: that bound is checked
//! against `work_max` before anything runs. Items are independent, so results do not depend on
//! the thread count. Work goes out in fixed blocks, in `KNN_ROUNDS` rounds of items (fewer when
//! there are fewer items), each ending in a progress report.

use super::report;
use crate::error::TrainError;
use crate::limits::{KNN_ROUNDS, SOLVE_BLOCK_ROWS};
use crate::matrix::{Csr, Interactions};
use crate::model::topk::TopK;
use crate::model::{Body, Model, Neighbours};
use crate::parallel::map_tasks;
use crate::params::{Control, KnnParams, Params, Progress, RunConfig, Weighting};

/// Σ_u n_u², saturating.
pub(crate) fn work(m: &Interactions) -> u64 {
    let csr = m.by_user();
    (0..csr.rows())
        .map(|u| (csr.row_len(u) as u64).saturating_mul(csr.row_len(u) as u64))
        .fold(0u64, u64::saturating_add)
}

pub(super) fn train(
    m: &Interactions,
    p: &KnnParams,
    run: &RunConfig,
    on_iteration: &mut dyn FnMut(Progress) -> Control,
) -> Result<Model, TrainError> {
    let work = work(m);
    if work > p.work_max {
        return Err(TrainError::WorkTooLarge {
            work,
            max: p.work_max,
        });
    }
    let (by_user, by_item) = weighted(m, p.weighting);
    let n_items = m.items() as usize;
    let mut offsets = Vec::with_capacity(n_items + 1);
    offsets.push(0usize);
    let (mut neighbours, mut similarities) = (Vec::new(), Vec::new());
    let rounds = (KNN_ROUNDS as usize).min(n_items).max(1);
    for round in 0..rounds {
        let (first, end) = (round * n_items / rounds, (round + 1) * n_items / rounds);
        let tasks: Vec<(usize, usize)> = (first..end)
            .step_by(SOLVE_BLOCK_ROWS)
            .map(|start| (start, (start + SOLVE_BLOCK_ROWS).min(end)))
            .collect();
        let scratch = || {
            (
                vec![0f32; n_items],
                vec![u32::MAX; n_items],
                Vec::<u32>::new(),
            )
        };
        let lists = map_tasks(
            tasks,
            run.threads,
            scratch,
            |(acc, mark, touched), _, (start, end)| {
                (start..end)
                    .map(|i| {
                        neighbours_of(
                            i as u32,
                            &by_user,
                            &by_item,
                            p.neighbours as usize,
                            acc,
                            mark,
                            touched,
                        )
                    })
                    .collect::<Vec<_>>()
            },
        );
        for list in lists.into_iter().flatten() {
            for (item, sim) in list {
                neighbours.push(item);
                similarities.push(sim);
            }
            offsets.push(neighbours.len());
        }
        report(on_iteration, round as u32 + 1, rounds as u32, f64::NAN)?;
    }
    neighbours.shrink_to_fit();
    similarities.shrink_to_fit();
    let body = Neighbours {
        offsets,
        neighbours,
        similarities,
    };
    Ok(Model::new(
        Params::ItemKnn(*p),
        run.seed,
        Body::Neighbours(body),
    ))
}

/// The best `n` neighbours of `item` (similarity > 0, never itself), best first.
fn neighbours_of(
    item: u32,
    by_user: &Csr,
    by_item: &Csr,
    n: usize,
    acc: &mut [f32],
    mark: &mut [u32],
    touched: &mut Vec<u32>,
) -> Vec<(u32, f32)> {
    touched.clear();
    let (users, weights) = by_item.row(item as usize);
    for (&u, &w_ui) in users.iter().zip(weights) {
        let (items, w_u) = by_user.row(u as usize);
        for (&j, &w_uj) in items.iter().zip(w_u) {
            if mark[j as usize] != item {
                mark[j as usize] = item;
                acc[j as usize] = 0.0;
                touched.push(j);
            }
            acc[j as usize] += w_ui * w_uj;
        }
    }
    let mut top = TopK::new(n);
    for &j in touched.iter() {
        let s = acc[j as usize];
        if j != item && s > 0.0 {
            top.push(j, s);
        }
    }
    top.into_sorted()
}

/// The matrix's values re-weighted and scaled so every item column has unit length, in both
/// orientations (each entry computed from the same inputs in both, so the two agree bit for bit).
fn weighted(m: &Interactions, weighting: Weighting) -> (Csr, Csr) {
    let (by_user, by_item) = (m.by_user(), m.by_item());
    let n_items = f64::from(m.items());
    let user_len: Vec<f64> = (0..by_user.rows())
        .map(|u| by_user.row_len(u) as f64)
        .collect();
    let item_len: Vec<f64> = (0..by_item.rows())
        .map(|i| by_item.row(i).1.iter().map(|&w| f64::from(w)).sum())
        .collect();
    let touched_items = item_len
        .iter()
        .zip(0..by_item.rows())
        .filter(|&(_, i)| by_item.row_len(i) > 0)
        .count();
    let average_len = if touched_items > 0 {
        item_len.iter().sum::<f64>() / touched_items as f64
    } else {
        1.0
    };
    let weigh = |u: u32, i: u32, w: f32| -> f32 {
        let w64 = f64::from(w);
        let n_u = user_len[u as usize];
        let value = match weighting {
            Weighting::None => w64,
            Weighting::TfIdf => w64 * (1.0 + n_items / n_u.max(1.0)).ln(),
            Weighting::Bm25 { k1, b } => {
                let (k1, b) = (f64::from(k1), f64::from(b));
                let norm = 1.0 - b + b * item_len[i as usize] / average_len.max(f64::MIN_POSITIVE);
                let denominator = w64 + k1 * norm;
                let tf = if denominator > 0.0 {
                    w64 * (k1 + 1.0) / denominator
                } else {
                    0.0
                };
                tf * (1.0 + (n_items - n_u + 0.5) / (n_u + 0.5)).ln()
            }
        };
        value as f32
    };
    let mut item_side = by_item.clone();
    let mut norms = vec![0f32; by_item.rows()];
    for (i, norm) in norms.iter_mut().enumerate() {
        let (start, end) = (item_side.indptr[i], item_side.indptr[i + 1]);
        let mut sum = 0f64;
        for k in start..end {
            let v = weigh(item_side.indices[k], i as u32, item_side.values[k]);
            item_side.values[k] = v;
            sum += f64::from(v) * f64::from(v);
        }
        *norm = sum.sqrt() as f32;
    }
    let scale = |v: f32, i: usize| if norms[i] > 0.0 { v / norms[i] } else { 0.0 };
    for i in 0..item_side.rows() {
        for k in item_side.indptr[i]..item_side.indptr[i + 1] {
            item_side.values[k] = scale(item_side.values[k], i);
        }
    }
    let mut user_side = by_user.clone();
    for u in 0..user_side.rows() {
        for k in user_side.indptr[u]..user_side.indptr[u + 1] {
            let i = user_side.indices[k];
            user_side.values[k] = scale(weigh(u as u32, i, user_side.values[k]), i as usize);
        }
    }
    (user_side, item_side)
}
