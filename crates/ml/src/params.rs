//! What a training run is asked for: the algorithm and its parameters, the threads and seed,
//! and the progress callback's types. Plain structs (not `Serialize`): the server owns the wire
//! shapes and converts by hand.

use std::fmt;

use crate::error::ParamsError;
use crate::limits::{
    CG_STEPS_MAX, FACTORS_MAX, ITERATIONS_MAX, NEIGHBOURS_MAX, STRATA_MAX, THREADS_MAX,
};

/// The four model kinds (the wire names of DESIGN.md's `"algorithm"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Als,
    Bpr,
    ItemKnn,
    Popularity,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Als => "als",
            Algorithm::Bpr => "bpr",
            Algorithm::ItemKnn => "item_knn",
            Algorithm::Popularity => "popularity",
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        [
            Algorithm::Als,
            Algorithm::Bpr,
            Algorithm::ItemKnn,
            Algorithm::Popularity,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// Whether the model holds one vector per user (the rows erasure must remove).
    pub fn has_user_rows(self) -> bool {
        matches!(self, Algorithm::Als | Algorithm::Bpr)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Implicit-feedback ALS (Hu, Koren, Volinsky 2008) solved by conjugate gradient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlsParams {
    pub factors: u32,
    /// λ, added to the diagonal of YᵀY (and XᵀX).
    pub regularization: f32,
    /// Confidence of an observed pair: c = 1 + alpha · weight.
    pub alpha: f32,
    pub iterations: u32,
    /// CG steps per row and half-iteration, warm-started from the previous factors.
    pub cg_steps: u32,
    /// Compute the full loss after every iteration (about one more CG step of work); the
    /// callback gets NaN when off.
    pub compute_loss: bool,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            regularization: 0.01,
            alpha: 40.0,
            iterations: 15,
            cg_steps: 3,
            compute_loss: false,
        }
    }
}

/// Bayesian personalized ranking, SGD with uniform negative sampling and an item bias.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BprParams {
    pub factors: u32,
    pub learning_rate: f32,
    pub regularization: f32,
    /// Epochs; each visits every stored (user, item) pair once.
    pub iterations: u32,
    /// User shards and item blocks of the deterministic parallel schedule (see `train/bpr.rs`):
    /// up to this many threads work at once. Results depend on it, never on the thread count.
    pub strata: u32,
    pub negatives: Negatives,
}

impl Default for BprParams {
    fn default() -> Self {
        BprParams {
            factors: 64,
            learning_rate: 0.05,
            regularization: 0.01,
            iterations: 100,
            strata: 16,
            negatives: Negatives::Uniform,
        }
    }
}

/// How BPR draws the negative item of a pair (always from the pair's item block; see
/// `train/bpr.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negatives {
    /// Every item of the block equally likely.
    Uniform,
    /// An item in proportion to its number of stored pairs (implicit's and LightFM's sampler:
    /// popular items are pushed down harder, which favours long-tail recommendations less).
    Popularity,
}

impl Negatives {
    pub fn name(self) -> &'static str {
        match self {
            Negatives::Uniform => "uniform",
            Negatives::Popularity => "popularity",
        }
    }

    pub fn from_name(name: &str) -> Option<Negatives> {
        [Negatives::Uniform, Negatives::Popularity]
            .into_iter()
            .find(|n| n.name() == name)
    }
}

/// How interaction weights are transformed before item-item cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Weighting {
    None,
    /// weight · ln(1 + items / items-of-user): users who touch everything count less.
    TfIdf,
    /// Okapi BM25 with items as documents and users as terms.
    Bm25 {
        k1: f32,
        b: f32,
    },
}

/// Item-item cosine neighbours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnParams {
    /// Neighbours kept per item.
    pub neighbours: u32,
    pub weighting: Weighting,
    /// Refuse the job when the work (sum over users of their row length squared) exceeds this.
    pub work_max: u64,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            neighbours: 100,
            weighting: Weighting::None,
            work_max: crate::limits::KNN_WORK_MAX_DEFAULT,
        }
    }
}

/// Item popularity: the sum of weights, optionally decayed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PopularityParams {
    /// Half-life in the matrix's time unit, relative to the newest interaction: a weight that
    /// old counts half. `None`: no decay (times not needed).
    pub half_life: Option<f64>,
}

/// An algorithm with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Params {
    Als(AlsParams),
    Bpr(BprParams),
    ItemKnn(KnnParams),
    Popularity(PopularityParams),
}

fn invalid(field: &'static str, reason: &'static str) -> ParamsError {
    ParamsError { field, reason }
}

fn positive_finite(value: f32, field: &'static str) -> Result<(), ParamsError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(field, "must be a finite number > 0"))
    }
}

fn non_negative_finite(value: f32, field: &'static str) -> Result<(), ParamsError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(field, "must be a finite number >= 0"))
    }
}

fn in_range(value: u32, min: u32, max: u32, field: &'static str) -> Result<(), ParamsError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, "out of range (see limits.rs)"))
    }
}

impl Params {
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Params::Als(_) => Algorithm::Als,
            Params::Bpr(_) => Algorithm::Bpr,
            Params::ItemKnn(_) => Algorithm::ItemKnn,
            Params::Popularity(_) => Algorithm::Popularity,
        }
    }

    /// The default parameters of `algorithm`.
    pub fn default_for(algorithm: Algorithm) -> Params {
        match algorithm {
            Algorithm::Als => Params::Als(AlsParams::default()),
            Algorithm::Bpr => Params::Bpr(BprParams::default()),
            Algorithm::ItemKnn => Params::ItemKnn(KnnParams::default()),
            Algorithm::Popularity => Params::Popularity(PopularityParams::default()),
        }
    }

    /// Latent factors (0 for item-kNN and popularity).
    pub fn factors(&self) -> u32 {
        match self {
            Params::Als(p) => p.factors,
            Params::Bpr(p) => p.factors,
            _ => 0,
        }
    }

    pub fn validate(&self) -> Result<(), ParamsError> {
        match *self {
            Params::Als(p) => {
                in_range(p.factors, 1, FACTORS_MAX, "factors")?;
                non_negative_finite(p.regularization, "regularization")?;
                non_negative_finite(p.alpha, "alpha")?;
                in_range(p.iterations, 1, ITERATIONS_MAX, "iterations")?;
                in_range(p.cg_steps, 1, CG_STEPS_MAX, "cg_steps")
            }
            Params::Bpr(p) => {
                in_range(p.factors, 1, FACTORS_MAX, "factors")?;
                positive_finite(p.learning_rate, "learning_rate")?;
                non_negative_finite(p.regularization, "regularization")?;
                in_range(p.iterations, 1, ITERATIONS_MAX, "iterations")?;
                in_range(p.strata, 1, STRATA_MAX, "strata")
            }
            Params::ItemKnn(p) => {
                in_range(p.neighbours, 1, NEIGHBOURS_MAX, "neighbours")?;
                if let Weighting::Bm25 { k1, b } = p.weighting {
                    non_negative_finite(k1, "k1")?;
                    if !(b.is_finite() && (0.0..=1.0).contains(&b)) {
                        return Err(invalid("b", "must be in [0, 1]"));
                    }
                }
                Ok(())
            }
            Params::Popularity(p) => match p.half_life {
                Some(h) if !(h.is_finite() && h > 0.0) => {
                    Err(invalid("half_life", "must be a finite number > 0"))
                }
                _ => Ok(()),
            },
        }
    }
}

/// How a run is executed. Results depend on `seed`, never on `threads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunConfig {
    pub threads: usize,
    pub seed: u64,
}

impl RunConfig {
    pub fn validate(&self) -> Result<(), ParamsError> {
        if (1..=THREADS_MAX).contains(&self.threads) {
            Ok(())
        } else {
            Err(invalid("threads", "must be between 1 and 256"))
        }
    }
}

/// What the progress callback answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop now; training returns `TrainError::Cancelled`.
    Stop,
}

/// One progress report: after iteration `iteration` (1-based) of `iterations`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub iteration: u32,
    pub iterations: u32,
    /// The algorithm's loss after this iteration, or NaN when not computed (see each trainer).
    pub loss: f64,
}

const _: () = assert!(THREADS_MAX == 256, "the threads message names the limit");
