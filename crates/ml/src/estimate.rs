//! `estimate_bytes`: an up-front upper estimate of the memory a training job takes, so the
//! registry can refuse a job over its budget before building anything.
//!
//! The figures follow the allocations in `matrix.rs` and `train/*.rs`; `tests/memory.rs` checks
//! the model part against the bytes a trained model really holds (within 2x).

use crate::limits::{GRAM_PARTS, SOLVE_BLOCK_ROWS};
use crate::params::Params;
use crate::train::effective_strata;

/// The dimensions of a training matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub users: u32,
    pub items: u32,
    /// Interactions given to the builder (an upper bound of stored entries).
    pub nnz: u64,
    /// Whether interactions carry times.
    pub timed: bool,
}

/// Bytes, by what holds them. Peak use is [`MemoryEstimate::peak_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// While the matrix is built (the triples, the sort buffer and the result).
    pub build_bytes: u64,
    /// The built matrix (both orientations, times).
    pub matrix_bytes: u64,
    /// The trained model.
    pub model_bytes: u64,
    /// What training holds besides the matrix and the model (copies, per-thread buffers).
    pub scratch_bytes: u64,
    /// Writing the model file after training (the scratch is gone by then): the training
    /// section copied into the `ModelFile` (seen lists and item counts) and the file's bytes
    /// (the model, user keys and that section; item ids are not counted, as the id maps are not).
    pub file_bytes: u64,
}

impl MemoryEstimate {
    /// The most held at once: building, or training and then writing (matrix + model +
    /// scratch, then matrix + model + file).
    pub fn peak_bytes(&self) -> u64 {
        self.build_bytes.max(
            self.matrix_bytes
                .saturating_add(self.model_bytes)
                .saturating_add(self.scratch_bytes.max(self.file_bytes)),
        )
    }
}

fn mul(values: &[u64]) -> u64 {
    values.iter().fold(1u64, |acc, &v| acc.saturating_mul(v))
}

fn add(values: &[u64]) -> u64 {
    values.iter().fold(0u64, |acc, &v| acc.saturating_add(v))
}

/// The memory of training `params` on a matrix of `shape` with `threads` threads.
pub fn estimate_bytes(shape: Shape, params: &Params, threads: usize) -> MemoryEstimate {
    let (users, items, nnz) = (u64::from(shape.users), u64::from(shape.items), shape.nnz);
    let threads = threads.max(1) as u64;
    let time = if shape.timed { 8 } else { 0 };
    // CSR by user (indptr, u32 index, f32 weight, i64 time) and by item (indptr, index, weight).
    let matrix_bytes = add(&[
        mul(&[users + 1, 8]),
        mul(&[nnz, 8 + time]),
        mul(&[items + 1, 8]),
        mul(&[nnz, 8]),
    ]);
    // Triples (12 B + time), the scattered copy (16 B) and the sorted by-user arrays, at once.
    let build_bytes = add(&[
        mul(&[nnz, 12 + time]),
        mul(&[nnz, 16]),
        mul(&[users + 1, 16]),
        mul(&[nnz, 8 + time]),
    ]);
    let (model_bytes, scratch_bytes) = match params {
        Params::Als(p) => {
            let f = u64::from(p.factors);
            // Factors, item norms, the int8 copy of the item rows (codes and one offset each).
            let model = add(&[
                mul(&[users + items, f, 4]),
                mul(&[items, 4]),
                mul(&[items, f.div_ceil(4) * 4 + 4]),
            ]);
            // Gram partials and the Gram matrix; three CG vectors and block lists per thread.
            let scratch = add(&[
                mul(&[GRAM_PARTS as u64 + 1, f, f, 4]),
                mul(&[threads, 3, f, 4]),
                mul(&[(users + items) / SOLVE_BLOCK_ROWS as u64 + 2, 16]),
            ]);
            (model, scratch)
        }
        Params::Bpr(p) => {
            let f = u64::from(p.factors);
            let strata = effective_strata(p.strata, shape.items) as u64;
            let model = add(&[
                mul(&[users + items, f, 4]),
                mul(&[items, 8]),
                mul(&[items, f.div_ceil(4) * 4 + 4]),
            ]);
            // Per-epoch gathered copies of factors and biases, the bucketed pairs, the two
            // dealings (group, local, members) and the bucket table.
            // Popularity sampling adds each block's occurrence list (one u32 per pair).
            let occurrences = if p.negatives == crate::params::Negatives::Popularity {
                mul(&[nnz, 4])
            } else {
                0
            };
            let scratch = add(&[
                mul(&[users + items, f, 4]),
                mul(&[items, 4]),
                mul(&[nnz, 8]),
                mul(&[users + items, 16]),
                mul(&[strata, strata, 40]),
                occurrences,
            ]);
            (model, scratch)
        }
        Params::ItemKnn(p) => {
            let n = u64::from(p.neighbours);
            let model = add(&[mul(&[items, n, 8]), mul(&[items + 1, 8])]);
            // Weighted copies of both orientations; per thread a dense accumulator, marks and
            // touched list; the neighbour lists of one round before they are appended.
            let scratch = add(&[
                matrix_bytes.saturating_sub(mul(&[nnz, time])),
                mul(&[threads, items, 12]),
                mul(&[items, n, 8]),
                mul(&[users + items, 8]),
            ]);
            (model, scratch)
        }
        Params::Popularity(_) => (mul(&[items, 4]), mul(&[items, 8])),
    };
    // Seen lists (ALS and BPR: one u32 per entry, offsets per user) and one count per item,
    // held in the ModelFile and again in its bytes with the model and the 32-byte user keys.
    let section = if params.algorithm().has_user_rows() {
        add(&[mul(&[nnz, 4]), mul(&[users + 1, 8]), mul(&[items, 4])])
    } else {
        mul(&[items, 4])
    };
    let keys = if params.algorithm().has_user_rows() {
        mul(&[users, 32])
    } else {
        0
    };
    let file_bytes = add(&[section, section, model_bytes, keys]);
    MemoryEstimate {
        build_bytes,
        matrix_bytes,
        model_bytes,
        scratch_bytes,
        file_bytes,
    }
}
