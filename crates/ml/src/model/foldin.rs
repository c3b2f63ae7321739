//! Fold-in: a user vector for ALS or BPR computed at request time from the user's interactions
//! against the model's fixed item factors, as one exact least-squares solve, so serving can
//! personalize for a user the model has no row for (or whose interactions changed since).
//!
//! The system is ALS's own for one user row (`train/als.rs`): with preference p_i = 1 for each
//! given item, confidence c_i = 1 + α·w_i (c = 1, p = 0 for every other item) and
//! regularization λ,
//!
//! (YᵀY + λI + Σ_i (c_i − 1) y_i y_iᵀ) x = Σ_i c_i y_i
//!
//! which minimizes Σ_all items c_i (p_i − x·y_i)² + λ‖x‖². ALS training moves each row towards
//! this solution by a few conjugate-gradient steps from its previous value; fold-in solves it
//! exactly (Cholesky on the f × f matrix, in f64). YᵀY is the same for every user and costs
//! items · f² / 2, so [`FoldIn`] holds it, made once per model by `Model::fold_in_prep`; a
//! fold-in then costs n · f² / 2 for n interactions plus f³ / 6 for the factorization.
//!
//! BPR was not trained by least squares, so for it this is an approximation, stated here rather
//! than hidden: the same system on BPR's item factors, with α = [`BPR_FOLD_IN_ALPHA`] and λ = the
//! model's regularization. The item bias is BPR's extra column whose user coordinate is fixed
//! at 1 (as `implicit` stores it); it is left out of the fit and enters only when scoring
//! (x·y_i + b_i). Fitting it as a known offset instead (targets p_i − b_i) makes the vector
//! spend its few dimensions cancelling the biases of the whole catalogue: on planted clusters
//! (3 × 20 items, 8 factors) a user given five items of one cluster got 58-83 % of their top 8
//! from it that way, against 92-100 % with the bias left out and 100 % for trained rows (α 1 or
//! 400 did no better than 40). BPR's rows optimize a ranking loss and their scale is not tied to
//! 0/1 targets, so a folded BPR vector ranks like the user's interactions suggest but is not the
//! row BPR would have learned.
//!
//! Bounds: at most `FOLD_IN_ITEMS_MAX` interactions (repeats of an item are summed, as the
//! interaction matrix sums them, so a training user's own row folds in to its own system), and
//! f ≤ `FACTORS_MAX`, so a call's work is at most 10⁴ · 1024² / 2 multiply-adds plus the
//! factorization. Deterministic: one thread, sums in a fixed order.

use crate::error::ModelError;
use crate::kernels::wide_fn;
use crate::model::Factors;

/// α of BPR's fold-in (see the module doc): BPR has no confidence parameter of its own; 40 is
/// the ALS default's, so an item the user has counts as much as in an ALS model's fold-in.
pub const BPR_FOLD_IN_ALPHA: f32 = 40.0;

/// What fold-in needs of a model's item side, computed once per model and kept with it: YᵀY
/// (f64, f × f). Made by `Model::fold_in_prep`; `Model::fold_in` refuses one made for a model
/// of another shape.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldIn {
    factors: usize,
    items: u32,
    /// YᵀY, both triangles, row-major.
    gram: Vec<f64>,
}

impl FoldIn {
    pub(crate) fn new(f: &Factors) -> FoldIn {
        let n = f.factors;
        let mut gram = vec![0f64; n * n];
        let mut row = vec![0f64; n];
        for y in f.item_factors.chunks_exact(n.max(1)) {
            widen(y, &mut row);
            rank_one_lower(&mut gram, &row, 1.0);
        }
        mirror_lower(&mut gram, n);
        FoldIn {
            factors: n,
            items: f.items,
            gram,
        }
    }

    /// Heap bytes held (the f × f matrix, 8 MiB at 1024 factors).
    pub fn heap_bytes(&self) -> usize {
        8 * self.gram.capacity()
    }

    pub(crate) fn fits(&self, f: &Factors) -> Result<(), ModelError> {
        if self.factors == f.factors && self.items == f.items {
            Ok(())
        } else {
            Err(ModelError::FoldInMismatch {
                factors: self.factors,
                items: self.items,
            })
        }
    }
}

/// Solves the fold-in system for `merged` (item, summed weight) pairs, items distinct and in
/// range (checked by the caller), with confidence `1 + alpha · w` and ridge `lambda`.
pub(crate) fn solve(
    f: &Factors,
    prep: &FoldIn,
    merged: &[(u32, f32)],
    alpha: f32,
    lambda: f32,
) -> Result<Vec<f32>, ModelError> {
    let n = f.factors;
    let mut a = prep.gram.clone();
    for d in 0..n {
        a[d * n + d] += f64::from(lambda);
    }
    let mut b = vec![0f64; n];
    let mut row = vec![0f64; n];
    for &(item, weight) in merged {
        let y = &f.item_factors[item as usize * n..(item as usize + 1) * n];
        widen(y, &mut row);
        let extra = f64::from(alpha) * f64::from(weight); // c − 1
        for (o, &v) in b.iter_mut().zip(&row) {
            *o += (1.0 + extra) * v;
        }
        // A's other triangle is not read by the factorization.
        rank_one_lower(&mut a, &row, extra);
    }
    cholesky_lower(&mut a, n)?;
    let x = substitute(&a, n, &b);
    let out: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    if out.iter().all(|v| v.is_finite()) {
        Ok(out)
    } else {
        Err(ModelError::NotSolvable)
    }
}

fn widen(y: &[f32], out: &mut [f64]) {
    for (o, &v) in out.iter_mut().zip(y) {
        *o = f64::from(v);
    }
}

wide_fn! {
    /// `a += scale · y yᵀ` on the lower triangle (row r, columns 0..=r) of the n × n `a`: one
    /// elementwise update per row, which vectorizes without reordering any sum.
    fn rank_one_lower(a: &mut [f64], y: &[f64], scale: f64) {
        let n = y.len();
        for (r, a_row) in a.chunks_exact_mut(n.max(1)).enumerate().take(n) {
            let s = scale * y[r];
            for (o, &v) in a_row[..=r].iter_mut().zip(&y[..=r]) {
                *o += s * v;
            }
        }
    }
}

fn mirror_lower(a: &mut [f64], n: usize) {
    for r in 0..n {
        for c in r + 1..n {
            a[r * n + c] = a[c * n + r];
        }
    }
}

/// `Σ a_k b_k` in eight partial sums added in a fixed order (deterministic, and not one long
/// chain of dependent adds).
#[inline(always)]
fn dot64(a: &[f64], b: &[f64]) -> f64 {
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    let mut acc = [0f64; 8];
    for (x, y) in ca.iter().zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    for (j, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[j] += x * y;
    }
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

/// The smallest pivot accepted, relative to its diagonal entry: a direction in which the
/// matrix is this close to singular (λ = 0 and too few independent item vectors, or α·w so
/// large that λ vanishes beside it) would come back as noise, so it is refused.
const PIVOT_MIN: f64 = 1e-12;

wide_fn! {
    /// In place: the lower triangle of the n × n row-major `a` becomes L with `a = L Lᵀ`
    /// (the upper triangle is left as it was and never read). Refuses a matrix that is not
    /// positive definite to working precision (a pivot below `PIVOT_MIN` of its diagonal
    /// entry, or not finite).
    fn cholesky_lower(a: &mut [f64], n: usize) -> Result<(), ModelError> {
        for j in 0..n {
            let (done, rest) = a.split_at_mut(j * n);
            let row_j = &mut rest[..n];
            // Row j left of the diagonal: L[j][k] = (a[j][k] − Σ_m<k L[j][m] L[k][m]) / L[k][k].
            for k in 0..j {
                let row_k = &done[k * n..k * n + n];
                let value = (row_j[k] - dot64(&row_j[..k], &row_k[..k])) / row_k[k];
                row_j[k] = value;
            }
            let pivot = row_j[j] - dot64(&row_j[..j], &row_j[..j]);
            if !(pivot > PIVOT_MIN * row_j[j] && pivot.is_finite()) {
                return Err(ModelError::NotSolvable);
            }
            row_j[j] = pivot.sqrt();
        }
        Ok(())
    }
}

/// Solves `L Lᵀ x = b` with the factor in `l`'s lower triangle.
fn substitute(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut z = vec![0f64; n];
    for i in 0..n {
        let row = &l[i * n..i * n + n];
        z[i] = (b[i] - dot64(&row[..i], &z[..i])) / row[i];
    }
    let mut x = vec![0f64; n];
    for i in (0..n).rev() {
        let mut sum = z[i];
        for k in i + 1..n {
            sum -= l[k * n + i] * x[k];
        }
        x[i] = sum / l[i * n + i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_known_system() {
        // A = [[4, 2, 0], [2, 5, 1], [0, 1, 3]], x = [1, -2, 3] gives b = A x.
        let n = 3;
        let mut a = vec![4.0, 2.0, 0.0, 2.0, 5.0, 1.0, 0.0, 1.0, 3.0];
        let b = [0.0, -5.0, 7.0];
        cholesky_lower(&mut a, n).unwrap();
        let x = substitute(&a, n, &b);
        for (got, want) in x.iter().zip([1.0, -2.0, 3.0]) {
            assert!((got - want).abs() < 1e-12, "{x:?}");
        }
        let mut singular = vec![1.0, 1.0, 1.0, 1.0];
        assert_eq!(
            cholesky_lower(&mut singular, 2),
            Err(ModelError::NotSolvable)
        );
        let mut nan = vec![f64::NAN];
        assert_eq!(cholesky_lower(&mut nan, 1), Err(ModelError::NotSolvable));
    }

    #[test]
    fn dot64_matches_a_plain_sum() {
        for n in 0..20 {
            let a: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
            let b: Vec<f64> = (0..n).map(|i| 1.0 - i as f64).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot64(&a, &b) - plain).abs() < 1e-9);
        }
    }
}
