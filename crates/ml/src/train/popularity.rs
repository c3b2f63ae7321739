//! Popularity: each item's summed weight, or with a half-life h the sum of
//! w · 2^(−(t_newest − t) / h), t_newest the newest interaction in the matrix (so the model
//! does not depend on when it is trained). One sequential pass in matrix order (O(nnz), f64
//! sums), hence deterministic.

use super::report;
use crate::error::TrainError;
use crate::matrix::Interactions;
use crate::model::{Body, Model, Popularity};
use crate::params::{Control, Params, PopularityParams, Progress, RunConfig};

pub(super) fn train(
    m: &Interactions,
    p: &PopularityParams,
    run: &RunConfig,
    on_iteration: &mut dyn FnMut(Progress) -> Control,
) -> Result<Model, TrainError> {
    let mut sums = vec![0f64; m.items() as usize];
    let csr = m.by_user();
    match p.half_life {
        None => {
            for (&i, &w) in csr.indices.iter().zip(&csr.values) {
                sums[i as usize] += f64::from(w);
            }
        }
        Some(half_life) => {
            let times = m.times().ok_or(TrainError::NeedsTimes {
                what: "popularity with a half-life",
            })?;
            let newest = m.newest_time().unwrap_or(0);
            for ((&i, &w), &t) in csr.indices.iter().zip(&csr.values).zip(times) {
                let age = (newest as f64 - t as f64).max(0.0);
                sums[i as usize] += f64::from(w) * (-age / half_life).exp2();
            }
        }
    }
    let scores: Vec<f32> = sums.iter().map(|&s| s as f32).collect();
    if scores.iter().any(|s| !s.is_finite()) {
        return Err(TrainError::Diverged { iteration: 1 });
    }
    report(on_iteration, 1, 1, f64::NAN)?;
    Ok(Model::new(
        Params::Popularity(*p),
        run.seed,
        Body::Popularity(Popularity { scores }),
    ))
}
