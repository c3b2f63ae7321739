//! Recommend over a catalogue large enough for the int8 pre-scan (≥ 4,096 items) against the
//! definition through the public API: every item's `score` (the same f32 dot and bias), the
//! exclusions and filter applied, sorted by score then item, the first k. Bit for bit, for ALS
//! and BPR (a bias), random and skewed factors, single calls and `recommend_many`.

use steward_ml::{AlsParams, BprParams, Model, Params, UserRef};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn definition(
    model: &Model,
    user: u32,
    k: usize,
    exclude: &[u32],
    keep: &dyn Fn(u32) -> bool,
) -> Vec<(u32, u32)> {
    let items: Vec<u32> = (0..model.item_count()).collect();
    let scores = model.score(UserRef::row(user), &items).expect("scores");
    let mut all: Vec<(u32, f32)> = items
        .iter()
        .zip(scores)
        .filter(|&(i, _)| exclude.binary_search(i).is_err() && keep(*i))
        .map(|(&i, s)| (i, s))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all.into_iter().map(|(i, s)| (i, s.to_bits())).collect()
}

fn bits(v: Vec<(u32, f32)>) -> Vec<(u32, u32)> {
    v.into_iter().map(|(i, s)| (i, s.to_bits())).collect()
}

#[test]
fn recommend_is_the_definition_over_large_catalogues() {
    let mut rng = Rng(0xBEEF);
    let (users, items, factors) = (40u32, 6000u32, 24u32);
    for (bpr, skew) in [(false, false), (false, true), (true, false), (true, true)] {
        let user_factors: Vec<f32> = (0..users * factors).map(|_| rng.unit()).collect();
        let mut item_factors: Vec<f32> = (0..items * factors).map(|_| rng.unit()).collect();
        if skew {
            // Popular items with large norms, a long tail of small ones (as trained models).
            for (i, row) in item_factors.chunks_mut(factors as usize).enumerate() {
                let scale = 8.0 / (1.0 + i as f32 / 50.0);
                row.iter_mut().for_each(|v| *v *= scale);
            }
        }
        // Copies of earlier items: equal scores, ties to the lower index.
        for i in (100..items as usize).step_by(97) {
            let f = factors as usize;
            let (a, b) = item_factors.split_at_mut(i * f);
            b[..f].copy_from_slice(&a[(i - 50) * f..(i - 49) * f]);
        }
        let (params, bias) = if bpr {
            (
                Params::Bpr(BprParams {
                    factors,
                    ..BprParams::default()
                }),
                Some((0..items).map(|_| rng.unit() * 0.2).collect()),
            )
        } else {
            (
                Params::Als(AlsParams {
                    factors,
                    ..AlsParams::default()
                }),
                None,
            )
        };
        let model = Model::from_factors(params, 1, users, items, user_factors, item_factors, bias)
            .expect("model");
        let excludes: Vec<Vec<u32>> = (0..users)
            .map(|u| {
                let mut e: Vec<u32> = (0..u)
                    .map(|_| (rng.next() % u64::from(items)) as u32)
                    .collect();
                e.sort_unstable();
                e.dedup();
                e
            })
            .collect();
        let odd = |i: u32| i % 3 != 1;
        for u in 0..users {
            for k in [1usize, 10, 200] {
                let exclude = &excludes[u as usize];
                let got = model
                    .recommend(UserRef::row(u), k, exclude, None)
                    .expect("recommend");
                assert_eq!(
                    bits(got),
                    definition(&model, u, k, exclude, &|_| true),
                    "bpr {bpr} skew {skew} user {u} k {k}"
                );
                let got = model
                    .recommend(UserRef::row(u), k, exclude, Some(&odd))
                    .expect("recommend");
                assert_eq!(
                    bits(got),
                    definition(&model, u, k, exclude, &odd),
                    "filtered: bpr {bpr} skew {skew} user {u} k {k}"
                );
            }
        }
        let refs: Vec<UserRef<'_>> = (0..users).map(UserRef::row).collect();
        let lists: Vec<&[u32]> = excludes.iter().map(Vec::as_slice).collect();
        for threads in [1, 2] {
            let batch = model
                .recommend_many(&refs, 10, &lists, threads)
                .expect("batch");
            for (u, answer) in batch.into_iter().enumerate() {
                assert_eq!(
                    bits(answer),
                    definition(&model, u as u32, 10, lists[u], &|_| true),
                    "batch user {u}"
                );
            }
        }
    }
}
