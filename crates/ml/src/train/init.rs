//! Initial factors: each row from its own random stream (seed, side, row), so initial values do
//! not depend on which thread or in which order rows are made.

use crate::rng::Rng;

/// Which matrix a row belongs to, part of its random stream's path.
#[derive(Clone, Copy)]
pub(super) enum Side {
    Users = 0,
    Items = 1,
}

/// `rows x factors` values uniform in `[low, low + width)`.
pub(super) fn random_rows(
    rows: u32,
    factors: usize,
    seed: u64,
    side: Side,
    low: f32,
    width: f32,
) -> Vec<f32> {
    let mut out = vec![0f32; rows as usize * factors];
    for (row, values) in out.chunks_exact_mut(factors.max(1)).enumerate() {
        let mut rng = Rng::derive(seed, &[side as u64, row as u64]);
        for v in values {
            *v = low + width * rng.unit_f32();
        }
    }
    out
}
