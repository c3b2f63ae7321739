//! `train`: one entry point for the four trainers. Every trainer is deterministic for a given
//! matrix, parameters and seed, whatever the thread count (see `parallel.rs` for how), bounded
//! by the parameter limits, and reports progress through a callback that may stop it.

mod als;
mod bpr;
mod init;
mod knn;
mod popularity;

pub(crate) use bpr::effective_strata;

use crate::error::TrainError;
use crate::matrix::Interactions;
use crate::model::Model;
use crate::params::{Control, Params, Progress, RunConfig};

/// Trains `params`' algorithm on `matrix`. `on_iteration` is called on the calling thread after
/// every iteration (ALS, BPR), round of items (item-kNN) or once (popularity), with the loss or
/// NaN; answering [`Control::Stop`] ends training with [`TrainError::Cancelled`].
pub fn train(
    matrix: &Interactions,
    params: &Params,
    run: &RunConfig,
    on_iteration: &mut dyn FnMut(Progress) -> Control,
) -> Result<Model, TrainError> {
    params.validate()?;
    run.validate()?;
    match params {
        Params::Als(p) => als::train(matrix, p, run, on_iteration),
        Params::Bpr(p) => bpr::train(matrix, p, run, on_iteration),
        Params::ItemKnn(p) => knn::train(matrix, p, run, on_iteration),
        Params::Popularity(p) => popularity::train(matrix, p, run, on_iteration),
    }
}

/// Calls the callback and turns `Stop` into the cancellation error.
fn report(
    on_iteration: &mut dyn FnMut(Progress) -> Control,
    iteration: u32,
    iterations: u32,
    loss: f64,
) -> Result<(), TrainError> {
    match on_iteration(Progress {
        iteration,
        iterations,
        loss,
    }) {
        Control::Continue => Ok(()),
        Control::Stop => Err(TrainError::Cancelled { iteration }),
    }
}

fn all_finite(values: &[f32]) -> bool {
    values.iter().all(|v| v.is_finite())
}
