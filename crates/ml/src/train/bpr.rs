//! BPR (Rendle et al. 2009): SGD on −ln σ(x_u·(y_i − y_j) + b_i − b_j) for a stored pair (u, i)
//! and a negative item j drawn uniformly, with L2 regularization and an item bias.
//!
//! Deterministic parallel schedule (stratified SGD, Gemulla et al. 2011), chosen over Hogwild
//! because Hogwild's result depends on thread timing. Each epoch:
//! 1. users are dealt into S shards and items into S blocks by permutations drawn from
//!    (seed, epoch), so strata change every epoch;
//! 2. every stored pair goes to the bucket (shard of its user, block of its item);
//! 3. the epoch runs S sub-epochs; in sub-epoch s the S buckets (a, (a + s) mod S) touch disjoint
//!    users and disjoint items, so they run in parallel with no shared writes (and, with no barrier
//!    between sub-epochs, a bucket starts once the two it follows on its shard and its block are
//!    done: `parallel::map_wavefront`, same results, less waiting on a busy machine). A bucket visits its
//!    pairs in an order shuffled by its own stream (seed, epoch, a, b) and draws each negative
//!    from its own item block (not the whole catalogue: the price of determinism; blocks are
//!    re-drawn every epoch, so over epochs a pair meets negatives from everywhere), uniformly or,
//!    with `Negatives::Popularity`, in proportion to each item's stored pairs (a draw from the
//!    block's occurrence list: every item repeated once per pair, as implicit samples a random
//!    liked item).
//!
//! A drawn negative the user has is redrawn, up to `NEGATIVE_DRAWS_MAX` times, then the pair is
//! skipped. Each bucket's factor rows are gathered into contiguous per-shard/per-block copies for
//! the epoch (so disjoint mutable slices are plain safe Rust) and written back after it. The
//! result depends on the seed and `strata`, never on the thread count; up to S threads do work.
//! The loss reported is the mean −ln σ over the pairs visited in the epoch.

use std::sync::{Mutex, PoisonError};

use super::init::{Side, random_rows};
use super::{all_finite, report};
use crate::error::TrainError;
use crate::kernels::{dot, wide_fn};
use crate::limits::{BPR_BLOCK_ITEMS_MIN, NEGATIVE_DRAWS_MAX};
use crate::matrix::{Csr, Interactions};
use crate::model::{Body, Factors, Model};
use crate::parallel::map_wavefront;
use crate::params::{BprParams, Control, Negatives, Params, Progress, RunConfig};
use crate::rng::Rng;

/// Strata actually used: `strata`, or fewer when the catalogue is small, so an item block holds
/// about `BPR_BLOCK_ITEMS_MIN` items to draw negatives from.
pub(crate) fn effective_strata(strata: u32, items: u32) -> usize {
    strata.min(items / BPR_BLOCK_ITEMS_MIN).max(1) as usize
}

/// A dealing of `n` rows into `s` groups: `group[row]`, `local[row]`, and `members[g]` (rows of
/// group g in local order).
struct Dealing {
    group: Vec<u32>,
    local: Vec<u32>,
    members: Vec<Vec<u32>>,
}

fn deal(n: usize, s: usize, rng: &mut Rng) -> Dealing {
    let mut order: Vec<u32> = (0..n as u32).collect();
    rng.shuffle(&mut order);
    let mut dealing = Dealing {
        group: vec![0; n],
        local: vec![0; n],
        members: Vec::with_capacity(s),
    };
    for g in 0..s {
        let (start, end) = (g * n / s, (g + 1) * n / s);
        let members = order[start..end].to_vec();
        for (l, &row) in members.iter().enumerate() {
            dealing.group[row as usize] = g as u32;
            dealing.local[row as usize] = l as u32;
        }
        dealing.members.push(members);
    }
    dealing
}

fn gather(values: &[f32], width: usize, rows: &[u32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * width);
    for &r in rows {
        out.extend_from_slice(&values[r as usize * width..(r as usize + 1) * width]);
    }
    out
}

fn scatter(values: &mut [f32], width: usize, rows: &[u32], gathered: &[f32]) {
    for (&r, src) in rows.iter().zip(gathered.chunks_exact(width.max(1))) {
        values[r as usize * width..(r as usize + 1) * width].copy_from_slice(src);
    }
}

pub(super) fn train(
    m: &Interactions,
    p: &BprParams,
    run: &RunConfig,
    on_iteration: &mut dyn FnMut(Progress) -> Control,
) -> Result<Model, TrainError> {
    let f = p.factors as usize;
    let (n_users, n_items) = (m.users() as usize, m.items() as usize);
    let scale = 1.0 / p.factors as f32;
    let mut x = random_rows(m.users(), f, run.seed, Side::Users, -0.5 * scale, scale);
    let mut y = random_rows(m.items(), f, run.seed, Side::Items, -0.5 * scale, scale);
    let mut bias = vec![0f32; n_items];
    let s = effective_strata(p.strata, m.items());
    let csr = m.by_user();
    let mut pairs: Vec<(u32, u32)> = vec![(0, 0); m.nnz()];
    for epoch in 1..=p.iterations {
        let users = deal(
            n_users,
            s,
            &mut Rng::derive(run.seed, &[u64::from(epoch), 0]),
        );
        let items = deal(
            n_items,
            s,
            &mut Rng::derive(run.seed, &[u64::from(epoch), 1]),
        );

        // Buckets: counting sort of every pair by (shard, block), in matrix order.
        let mut offsets = vec![0usize; s * s + 1];
        for u in 0..n_users {
            let shard = users.group[u] as usize;
            for &i in csr.row(u).0 {
                offsets[shard * s + items.group[i as usize] as usize + 1] += 1;
            }
        }
        for b in 0..s * s {
            offsets[b + 1] += offsets[b];
        }
        let mut next = offsets.clone();
        for u in 0..n_users {
            let shard = users.group[u] as usize;
            for &i in csr.row(u).0 {
                let slot = &mut next[shard * s + items.group[i as usize] as usize];
                pairs[*slot] = (users.local[u], items.local[i as usize]);
                *slot += 1;
            }
        }
        let mut buckets: Vec<Mutex<&mut [(u32, u32)]>> = Vec::with_capacity(s * s);
        let mut rest = pairs.as_mut_slice();
        for b in 0..s * s {
            let (head, tail) = rest.split_at_mut(offsets[b + 1] - offsets[b]);
            buckets.push(Mutex::new(head));
            rest = tail;
        }

        // Each shard's user rows and each block's item rows and biases, gathered for the epoch.
        // The wavefront never runs two tasks on one shard or block at once, so these locks are
        // never contended; they only let safe Rust hand each task its two.
        let shard_x: Vec<Mutex<Vec<f32>>> = users
            .members
            .iter()
            .map(|rows| Mutex::new(gather(&x, f, rows)))
            .collect();
        // Popularity sampling: each block's items (local indices) once per stored pair.
        let occurrences: Vec<Vec<u32>> = match p.negatives {
            Negatives::Uniform => Vec::new(),
            Negatives::Popularity => items
                .members
                .iter()
                .map(|rows| occurrence_list(m.by_item(), rows))
                .collect(),
        };
        let block_y: Vec<Mutex<(Vec<f32>, Vec<f32>)>> = items
            .members
            .iter()
            .map(|rows| Mutex::new((gather(&y, f, rows), gather(&bias, 1, rows))))
            .collect();

        let results = map_wavefront(s, run.threads, |shard, sub| {
            let block = (shard + sub) % s;
            // Poisoned only if another task panicked, and then the wavefront re-raises that panic.
            let (Ok(mut users_x), Ok(mut items_yb), Ok(mut pairs)) = (
                shard_x[shard].lock(),
                block_y[block].lock(),
                buckets[shard * s + block].lock(),
            ) else {
                return (0.0, 0);
            };
            let (items_y, bias_b) = &mut *items_yb;
            let mut rng = Rng::derive(run.seed, &[u64::from(epoch), shard as u64, block as u64, 2]);
            rng.shuffle(&mut pairs[..]);
            let draws = occurrences.get(block).map(Vec::as_slice);
            sgd_bucket(
                &pairs[..],
                &mut users_x[..],
                items_y,
                bias_b,
                &users.members[shard],
                &items.members[block],
                draws,
                csr,
                f,
                p.learning_rate,
                p.regularization,
                &mut rng,
            )
        });
        // In (sub-epoch, shard) order, whatever ran first.
        let (mut loss_sum, mut visited) = (0f64, 0u64);
        for (loss, count) in results {
            loss_sum += loss;
            visited += count;
        }
        for (rows, values) in users.members.iter().zip(shard_x) {
            scatter(
                &mut x,
                f,
                rows,
                &values.into_inner().unwrap_or_else(PoisonError::into_inner),
            );
        }
        for (rows, block) in items.members.iter().zip(block_y) {
            let (values, b) = block.into_inner().unwrap_or_else(PoisonError::into_inner);
            scatter(&mut y, f, rows, &values);
            scatter(&mut bias, 1, rows, &b);
        }
        if !all_finite(&x) || !all_finite(&y) || !all_finite(&bias) {
            return Err(TrainError::Diverged { iteration: epoch });
        }
        let loss = if visited > 0 {
            loss_sum / visited as f64
        } else {
            f64::NAN
        };
        report(on_iteration, epoch, p.iterations, loss)?;
    }
    let factors = Factors::new(f, m.users(), m.items(), x, y, Some(bias));
    Ok(Model::new(
        Params::Bpr(*p),
        run.seed,
        Body::Factors(factors),
    ))
}

/// −ln σ(m) = ln(1 + e^−m), from e = e^m (which the gradient needs anyway), without overflow:
/// ln(1 + 1/e) for m > 0, ln(1 + e) − m otherwise. In f32 and with `ln` rather than `ln_1p`
/// (a term below f32's precision counts as 0): the loss is only reported, and one f32 log costs
/// a fraction of the f64 exp and log1p it replaced (a sixth of an epoch).
#[inline(always)]
fn log_loss(m: f32, e: f32) -> f32 {
    if m > 0.0 {
        (1.0 + 1.0 / e).ln()
    } else {
        (1.0 + e).ln() - m
    }
}

/// Local index `l` of `rows[l]`, once per stored pair of that item.
fn occurrence_list(by_item: &Csr, rows: &[u32]) -> Vec<u32> {
    let total: usize = rows.iter().map(|&i| by_item.row_len(i as usize)).sum();
    let mut out = Vec::with_capacity(total);
    for (l, &i) in rows.iter().enumerate() {
        out.extend(std::iter::repeat_n(l as u32, by_item.row_len(i as usize)));
    }
    out
}

/// Two distinct rows of a row-major matrix, mutably.
fn two_rows(values: &mut [f32], f: usize, a: usize, b: usize) -> (&mut [f32], &mut [f32]) {
    if a < b {
        let (head, tail) = values.split_at_mut(b * f);
        (&mut head[a * f..(a + 1) * f], &mut tail[..f])
    } else {
        let (head, tail) = values.split_at_mut(a * f);
        (&mut tail[..f], &mut head[b * f..(b + 1) * f])
    }
}

wide_fn! {
    /// One bucket's SGD pass; returns (sum of −ln σ, pairs visited).
    /// `draws`: the block's occurrence list for popularity sampling, or None for uniform.
    fn sgd_bucket(pairs: &[(u32, u32)], xs: &mut [f32], ys: &mut [f32], bias: &mut [f32], shard_users: &[u32], block_items: &[u32], draws: Option<&[u32]>, csr: &Csr, f: usize, lr: f32, reg: f32, rng: &mut Rng) -> (f64, u64) {
        let (mut loss, mut visited) = (0f64, 0u64);
        let block_len = block_items.len() as u32;
        // A bucket has pairs only when its block has items with pairs, so a list is never empty
        // here; an empty one would fall back to uniform rather than divide by zero.
        let draws = draws.filter(|d| !d.is_empty() && d.len() <= u32::MAX as usize);
        for &(lu, li) in pairs {
            let (user_items, _) = csr.row(shard_users[lu as usize] as usize);
            let mut negative = None;
            for _ in 0..NEGATIVE_DRAWS_MAX {
                let candidate = match draws {
                    Some(d) => d[rng.below(d.len() as u32) as usize],
                    None => rng.below(block_len),
                };
                if user_items.binary_search(&block_items[candidate as usize]).is_err() {
                    negative = Some(candidate as usize);
                    break;
                }
            }
            let Some(lj) = negative else { continue };
            let li = li as usize;
            let xu = &mut xs[lu as usize * f..(lu as usize + 1) * f];
            let (yi, yj) = two_rows(ys, f, li, lj);
            let margin = bias[li] - bias[lj] + dot(xu, yi) - dot(xu, yj);
            let e = margin.exp();
            loss += f64::from(log_loss(margin, e));
            visited += 1;
            // d/dθ of ln σ(margin) = σ(−margin) · d margin/dθ
            let z = 1.0 / (1.0 + e);
            for ((xu, yi), yj) in xu.iter_mut().zip(yi.iter_mut()).zip(yj.iter_mut()) {
                let x_old = *xu;
                *xu += lr * (z * (*yi - *yj) - reg * x_old);
                *yi += lr * (z * x_old - reg * *yi);
                *yj += lr * (-z * x_old - reg * *yj);
            }
            bias[li] += lr * (z - reg * bias[li]);
            bias[lj] += lr * (-z - reg * bias[lj]);
        }
        (loss, visited)
    }
}
