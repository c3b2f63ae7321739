//! The synthetic Zipf interactions of the ML benchmarks (`bench_als`, `versus_implicit`): one
//! generator, so both examples and the `implicit` comparison train on the same matrix.
//!
//! Items are drawn from a Zipf(1.0) law over the catalogue, users from a Zipf(0.5) law over the
//! users (a long tail of light users and some heavy ones), weights 1-3, by xorshift64* from a
//! fixed seed; the caller's builder sums duplicates, so the matrix holds somewhat fewer entries
//! than draws.

/// xorshift64*, the examples' own (not the crate's PRNG, which is private).
pub struct Rng(pub u64);

impl Rng {
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The seed every benchmark uses.
pub const SEED: u64 = 0x5EED_1234_ABCD_0001;

/// Cumulative weights of a Zipf(s) law over n ranks, for inverse-CDF draws.
fn zipf_table(n: u32, s: f64) -> Vec<f64> {
    let mut total = 0.0;
    (1..=n)
        .map(|rank| {
            total += 1.0 / f64::from(rank).powf(s);
            total
        })
        .collect()
}

fn draw(table: &[f64], rng: &mut Rng) -> u32 {
    let target = rng.unit() * table.last().copied().unwrap_or(0.0);
    table.partition_point(|&c| c < target).min(table.len() - 1) as u32
}

/// Calls `push(user, item, weight)` for `draws` draws over `users` x `items`, from `seed`.
pub fn generate<E>(
    users: u32,
    items: u32,
    draws: u64,
    seed: u64,
    mut push: impl FnMut(u32, u32, f32) -> Result<(), E>,
) -> Result<(), E> {
    let (user_table, item_table) = (zipf_table(users, 0.5), zipf_table(items, 1.0));
    let mut rng = Rng(seed);
    for _ in 0..draws {
        let (u, i) = (draw(&user_table, &mut rng), draw(&item_table, &mut rng));
        push(u, i, 1.0 + (rng.unit() * 3.0).floor() as f32)?;
    }
    Ok(())
}
