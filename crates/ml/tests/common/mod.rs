//! Shared helpers of the integration tests: a planted-cluster data set, quiet training, small
//! matrices from literal rows.
#![allow(dead_code)]

use steward_ml::{
    AlsParams, BprParams, Control, Interactions, KnnParams, MatrixLimits, Model, Params,
    PopularityParams, RunConfig, train,
};

/// A tiny deterministic generator for test data (xorshift64*), apart from the crate's own.
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> TestRng {
        TestRng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// `clusters` groups of users, each liking its own disjoint block of `items_per_cluster` items
/// (skewed towards the block's first items), plus `noise` interactions anywhere per user. Every
/// interaction has a random time, so a time split holds out block and noise items alike.
pub fn planted(
    clusters: u32,
    users_per_cluster: u32,
    items_per_cluster: u32,
    per_user: u32,
    noise: u32,
    seed: u64,
) -> Interactions {
    let (users, items) = (clusters * users_per_cluster, clusters * items_per_cluster);
    let mut rng = TestRng::new(seed);
    let mut b = Interactions::builder(users, items, MatrixLimits::default()).unwrap();
    for u in 0..users {
        let block = (u % clusters) * items_per_cluster;
        for _ in 0..per_user {
            // min of two draws: earlier items of a block are more popular.
            let i = block
                + rng
                    .below(items_per_cluster)
                    .min(rng.below(items_per_cluster));
            b.push_timed(u, i, 1.0 + rng.below(3) as f32, i64::from(rng.below(1000)))
                .unwrap();
        }
        for _ in 0..noise {
            b.push_timed(u, rng.below(items), 1.0, i64::from(rng.below(1000)))
                .unwrap();
        }
    }
    b.build().unwrap()
}

/// A matrix from literal rows of (item, weight).
pub fn matrix(rows: &[&[(u32, f32)]], items: u32) -> Interactions {
    let mut b = Interactions::builder(rows.len() as u32, items, MatrixLimits::default()).unwrap();
    for (u, row) in rows.iter().enumerate() {
        for &(i, w) in *row {
            b.push(u as u32, i, w).unwrap();
        }
    }
    b.build().unwrap()
}

pub fn fit(m: &Interactions, params: Params, threads: usize, seed: u64) -> Model {
    train(m, &params, &RunConfig { threads, seed }, &mut |_| {
        Control::Continue
    })
    .unwrap()
}

pub fn als(factors: u32, iterations: u32) -> Params {
    Params::Als(AlsParams {
        factors,
        iterations,
        regularization: 0.1,
        alpha: 10.0,
        cg_steps: 3,
        compute_loss: false,
    })
}

pub fn bpr(factors: u32, iterations: u32) -> Params {
    Params::Bpr(BprParams {
        factors,
        iterations,
        ..BprParams::default()
    })
}

/// BPR with negatives drawn by popularity.
pub fn bpr_popular(factors: u32, iterations: u32) -> Params {
    Params::Bpr(BprParams {
        factors,
        iterations,
        negatives: steward_ml::Negatives::Popularity,
        ..BprParams::default()
    })
}

pub fn knn(neighbours: u32) -> Params {
    Params::ItemKnn(KnnParams {
        neighbours,
        ..KnnParams::default()
    })
}

pub fn popularity() -> Params {
    Params::Popularity(PopularityParams::default())
}

/// Every model kind, small.
pub fn all_kinds() -> Vec<Params> {
    vec![als(8, 3), bpr(8, 3), knn(5), popularity()]
}

/// A model's bytes that must be equal for "the same model": factors, biases, neighbours, scores.
pub fn fingerprint(model: &Model) -> Vec<u32> {
    let mut out = Vec::new();
    for values in [
        model.user_factors(),
        model.item_factors(),
        model.item_bias(),
        model.popularity(),
    ]
    .into_iter()
    .flatten()
    {
        out.extend(values.iter().map(|v| v.to_bits()));
    }
    for item in 0..model.item_count() {
        if let Some((ns, ss)) = model.neighbours(item) {
            out.extend(ns);
            out.extend(ss.iter().map(|v| v.to_bits()));
        }
    }
    out
}
