//! Implicit-feedback ALS (Hu, Koren, Volinsky 2008) with the conjugate-gradient solver
//! (Takács, Pilászy, Tikk 2011), the design `implicit` uses on CPU.
//!
//! Each user u has preference p_ui = 1 for every stored item and confidence
//! c_ui = 1 + alpha · w_ui (c = 1, p = 0 for every other item). A half-iteration fixes the item
//! factors Y and, for every user, moves x_u towards the solution of
//! (YᵀY + λI + Σ_i∈u (c_ui − 1) y_i y_iᵀ) x_u = Σ_i∈u c_ui y_i
//! by `cg_steps` conjugate-gradient steps warm-started from the previous x_u, never forming the
//! user's matrix: YᵀY + λI is computed once per half-iteration, and each product with the
//! user's matrix costs one symmetric matrix-vector product plus two passes over the user's
//! items (a dot and an axpy per item). The other half swaps the roles.
//!
//! Determinism: every row's solve reads only the fixed other side and its own previous value, so
//! rows can be solved by any thread in any order; the Gram matrix is summed from `GRAM_PARTS`
//! fixed partial sums in order. The result depends on the seed, never on the thread count.
//! Performance: rows go out in blocks of `SOLVE_BLOCK_ROWS` from a shared queue, each thread
//! reuses three scratch vectors, and the inner loops are the 16-lane kernels, compiled for AVX2
//! when the CPU has it.

use super::init::{Side, random_rows};
use super::{all_finite, report};
use crate::error::TrainError;
use crate::kernels::{axpy, dot, prefetch, symv, wide_fn, xpby};
use crate::limits::{GRAM_PARTS, SOLVE_BLOCK_ROWS};
use crate::matrix::{Csr, Interactions};
use crate::model::{Body, Factors, Model};
use crate::parallel::map_tasks;
use crate::params::{AlsParams, Control, Params, Progress, RunConfig};

/// Squared residual norm below which a row's CG stops (its system is solved to f32 precision).
const RESIDUAL_MIN: f32 = 1e-20;
/// Scale of the initial factors: small and positive, so the first half-iteration is driven by
/// the data rather than by the initial noise.
const INIT_SCALE: f32 = 0.01;

pub(super) fn train(
    m: &Interactions,
    p: &AlsParams,
    run: &RunConfig,
    on_iteration: &mut dyn FnMut(Progress) -> Control,
) -> Result<Model, TrainError> {
    let f = p.factors as usize;
    let mut x = random_rows(m.users(), f, run.seed, Side::Users, 0.0, INIT_SCALE);
    let mut y = random_rows(m.items(), f, run.seed, Side::Items, 0.0, INIT_SCALE);
    let mut gram = vec![0f32; f * f];
    for iteration in 1..=p.iterations {
        gram_with_ridge(&y, f, p.regularization, run.threads, &mut gram);
        solve_half(&mut x, &y, &gram, m.by_user(), p, run.threads);
        gram_with_ridge(&x, f, p.regularization, run.threads, &mut gram);
        solve_half(&mut y, &x, &gram, m.by_item(), p, run.threads);
        if !all_finite(&x) || !all_finite(&y) {
            return Err(TrainError::Diverged { iteration });
        }
        // `gram` is XᵀX + λI here, what the loss over item rows needs.
        let loss = if p.compute_loss {
            loss(&x, &y, &gram, m, p, run.threads)
        } else {
            f64::NAN
        };
        report(on_iteration, iteration, p.iterations, loss)?;
    }
    let factors = Factors::new(f, m.users(), m.items(), x, y, None);
    Ok(Model::new(
        Params::Als(*p),
        run.seed,
        Body::Factors(factors),
    ))
}

/// `out = VᵀV + λI` for the rows of `v`, from `GRAM_PARTS` partial sums added in order.
fn gram_with_ridge(v: &[f32], f: usize, ridge: f32, threads: usize, out: &mut [f32]) {
    let rows = v.len() / f.max(1);
    let part_rows = rows.div_ceil(GRAM_PARTS).max(1);
    let parts: Vec<&[f32]> = v.chunks(part_rows * f).collect();
    let partials = map_tasks(
        parts,
        threads,
        || (),
        |_, _, part| {
            let mut g = vec![0f32; f * f];
            gram_part(part, f, &mut g);
            g
        },
    );
    out.fill(0.0);
    for g in &partials {
        for (o, v) in out.iter_mut().zip(g) {
            *o += v;
        }
    }
    for d in 0..f {
        out[d * f + d] += ridge;
    }
}

wide_fn! {
    fn gram_part(rows: &[f32], f: usize, g: &mut [f32]) {
        for row in rows.chunks_exact(f) {
            for (a, g_row) in g.chunks_exact_mut(f).enumerate() {
                axpy(row[a], row, g_row);
            }
        }
    }
}

/// Per-thread CG vectors: residual, direction, and the matrix times the direction.
struct Scratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

/// One half-iteration: every row of `x` against the fixed `other` side.
fn solve_half(
    x: &mut [f32],
    other: &[f32],
    gram: &[f32],
    csr: &Csr,
    p: &AlsParams,
    threads: usize,
) {
    let f = p.factors as usize;
    let blocks: Vec<&mut [f32]> = x.chunks_mut(SOLVE_BLOCK_ROWS * f).collect();
    let scratch = || Scratch {
        r: vec![0.0; f],
        p: vec![0.0; f],
        ap: vec![0.0; f],
    };
    map_tasks(blocks, threads, scratch, |s, block, rows| {
        solve_block(
            rows,
            block * SOLVE_BLOCK_ROWS,
            other,
            gram,
            csr,
            f,
            p.alpha,
            p.cg_steps,
            &mut s.r,
            &mut s.p,
            &mut s.ap,
        );
    });
}

wide_fn! {
    fn solve_block(rows: &mut [f32], first_row: usize, other: &[f32], gram: &[f32], csr: &Csr, f: usize, alpha: f32, steps: u32, r: &mut [f32], p: &mut [f32], ap: &mut [f32]) {
        let row_count = rows.len() / f.max(1);
        for (i, x) in rows.chunks_exact_mut(f).enumerate() {
            // The next row's first items load while this row is solved.
            if i + 1 < row_count {
                for &c in csr.row(first_row + i + 1).0.iter().take(PREFETCH_AHEAD) {
                    prefetch_row(other, c, f);
                }
            }
            let (cols, weights) = csr.row(first_row + i);
            conjugate_gradient(x, other, gram, cols, weights, f, alpha, steps, r, p, ap);
        }
    }
}

/// Rows ahead of the one being read that are asked for (`prefetch`): enough to cover a memory
/// access at a few hundred cycles of work per row.
const PREFETCH_AHEAD: usize = 4;

#[inline(always)]
fn prefetch_row(values: &[f32], row: u32, f: usize) {
    if let Some(slice) = values.get(row as usize * f..(row as usize + 1) * f) {
        prefetch(slice);
    }
}

/// `cg_steps` CG steps on one row's system, from its current value.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn conjugate_gradient(
    x: &mut [f32],
    other: &[f32],
    gram: &[f32],
    cols: &[u32],
    weights: &[f32],
    f: usize,
    alpha: f32,
    steps: u32,
    r: &mut [f32],
    p: &mut [f32],
    ap: &mut [f32],
) {
    // r = b − A x = Σ_i (c_i − (c_i − 1) y_i·x) y_i − (YᵀY + λI) x
    symv(gram, x, -1.0, r);
    for (k, (&c, &w)) in cols.iter().zip(weights).enumerate() {
        if let Some(&ahead) = cols.get(k + PREFETCH_AHEAD) {
            prefetch_row(other, ahead, f);
        }
        let y = &other[c as usize * f..(c as usize + 1) * f];
        let confidence = 1.0 + alpha * w;
        axpy(confidence - (confidence - 1.0) * dot(y, x), y, r);
    }
    p.copy_from_slice(r);
    let mut rs = dot(r, r);
    for _ in 0..steps {
        if rs.is_nan() || rs <= RESIDUAL_MIN {
            break;
        }
        // A p = (YᵀY + λI) p + Σ_i (c_i − 1) (y_i·p) y_i
        symv(gram, p, 1.0, ap);
        for (k, (&c, &w)) in cols.iter().zip(weights).enumerate() {
            if let Some(&ahead) = cols.get(k + PREFETCH_AHEAD) {
                prefetch_row(other, ahead, f);
            }
            let y = &other[c as usize * f..(c as usize + 1) * f];
            axpy(alpha * w * dot(y, p), y, ap);
        }
        let pap = dot(p, ap);
        if pap.is_nan() || pap <= 0.0 {
            break;
        }
        let step = rs / pap;
        axpy(step, p, x);
        axpy(-step, ap, r);
        let rs_next = dot(r, r);
        xpby(r, rs_next / rs, p);
        rs = rs_next;
    }
}

/// The objective, per (user, item) cell: Σ_all c_ui (p_ui − x_u·y_i)² + λ (‖X‖² + ‖Y‖²),
/// computed over item rows as Σ_i [y_iᵀ (XᵀX + λI) y_i + Σ_u∈i (c (1 − s)² − s²)] + λ‖X‖²
/// with s = x_u·y_i, divided by users × items. f64 partial sums per fixed block, added in order.
fn loss(
    x: &[f32],
    y: &[f32],
    gram_x: &[f32],
    m: &Interactions,
    p: &AlsParams,
    threads: usize,
) -> f64 {
    let f = p.factors as usize;
    let blocks: Vec<&[f32]> = y.chunks(SOLVE_BLOCK_ROWS * f).collect();
    let csr = m.by_item();
    let partials = map_tasks(
        blocks,
        threads,
        || vec![0f32; f],
        |gy, block, rows| {
            let mut sum = 0f64;
            for (i, yi) in rows.chunks_exact(f).enumerate() {
                symv(gram_x, yi, 1.0, gy);
                sum += f64::from(dot(yi, gy));
                let (users, weights) = csr.row(block * SOLVE_BLOCK_ROWS + i);
                for (&u, &w) in users.iter().zip(weights) {
                    let s = f64::from(dot(&x[u as usize * f..(u as usize + 1) * f], yi));
                    let confidence = 1.0 + f64::from(p.alpha) * f64::from(w);
                    sum += confidence * (1.0 - s) * (1.0 - s) - s * s;
                }
            }
            sum
        },
    );
    let x_norm: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let total = partials.iter().sum::<f64>() + f64::from(p.regularization) * x_norm;
    let cells = f64::from(m.users()) * f64::from(m.items());
    if cells > 0.0 { total / cells } else { 0.0 }
}
