//! Top-k recommendation speed: single calls of `Model::recommend` (throughput and per-call
//! latency percentiles) over a factor model, the figure issue 12's serving target is about.
//!
//! `cargo run --release -p steward-ml --example bench_recommend -- [--users 10000] [--items 50000]
//! [--factors 64] [--k 10] [--seen 20] [--rounds 3] [--threads 2] [--candidates 100]
//! [--factors-from DIR]`
//!
//! The factors are random (uniform in [-0.5, 0.5), xorshift64* from a fixed seed), or with
//! `--factors-from DIR` a trained model's (users and items then come from the files): the
//! int8 pre-scan prunes by the values, so both are measured (bench/recommend.sh). Every user excludes `--seen` random items (ascending), as
//! serving excludes a user's training items. Each round calls `recommend` once per user on one
//! thread; the figures are the best round's throughput and the pooled per-call p50 / p99. A
//! checksum of every answer (items and score bits) is printed, so two builds can be compared
//! for identical results. `recommend_many` over all users follows, at 1 and `--threads`
//! threads. `examples/bench_recommend_implicit.py` times implicit's `recommend` on the same
//! shape.
//!
//! Measured (2-vCPU AMD EPYC VM, defaults): with the blocked f32 scan (`4f2cef6`), 5,150
//! calls/s and 6,000 users/s batch on one thread, 1.7x and 0.9x implicit 0.7.3; with the int8
//! pre-scan (`8fe3684`), 16.5-18.3k calls/s (p50 54-57 µs) and 24.9-26.7k users/s, the same
//! checksum. Side by side with implicit, medians: `bash bench/recommend.sh`, BENCHMARKS.md
//! "Serving in-process".

use std::time::Instant;

use steward_ml::{AlsParams, Model, Params, UserRef};

struct Args {
    users: u32,
    items: u32,
    factors: u32,
    k: usize,
    seen: u32,
    rounds: u32,
    threads: usize,
    candidates: u32,
    /// A directory with `user_factors.f32` and `item_factors.f32` (raw little-endian, row-major,
    /// `--factors` wide): a trained model instead of random factors.
    factors_from: Option<std::path::PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        users: 10_000,
        items: 50_000,
        factors: 64,
        k: 10,
        seen: 20,
        rounds: 3,
        threads: 2,
        candidates: 100,
        factors_from: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("{flag}: not a number");
        match flag.as_str() {
            "--users" => a.users = value.parse().map_err(bad)?,
            "--items" => a.items = value.parse().map_err(bad)?,
            "--factors" => a.factors = value.parse().map_err(bad)?,
            "--k" => a.k = value.parse().map_err(bad)?,
            "--seen" => a.seen = value.parse().map_err(bad)?,
            "--rounds" => a.rounds = value.parse().map_err(bad)?,
            "--threads" => a.threads = value.parse().map_err(bad)?,
            "--candidates" => a.candidates = value.parse().map_err(bad)?,
            "--factors-from" => a.factors_from = Some(value.into()),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// xorshift64*, the example's own.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// FNV-1a over every (item, score bits) of every answer.
fn checksum(answers: &[Vec<(u32, f32)>]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for answer in answers {
        for &(item, score) in answer {
            for byte in item
                .to_le_bytes()
                .into_iter()
                .chain(score.to_bits().to_le_bytes())
            {
                h ^= u64::from(byte);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    h
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(at).copied().unwrap_or(0.0)
}

fn main() -> Result<(), String> {
    let mut a = parse()?;
    let f = a.factors as usize;
    let mut rng = Rng(0x5EED_0000_7E57_0001);
    let mut values = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.unit() - 0.5).collect() };
    let (user_factors, item_factors) = match &a.factors_from {
        None => (values(a.users as usize * f), values(a.items as usize * f)),
        Some(dir) => {
            let read = |name: &str| -> Result<Vec<f32>, String> {
                let bytes = std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
                Ok(bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect())
            };
            let (users, items) = (read("user_factors.f32")?, read("item_factors.f32")?);
            if users.len() % f != 0 || items.len() % f != 0 {
                return Err("factor files are not --factors wide".into());
            }
            a.users = (users.len() / f) as u32;
            a.items = (items.len() / f) as u32;
            (users, items)
        }
    };
    let params = Params::Als(AlsParams {
        factors: a.factors,
        ..AlsParams::default()
    });
    let model = Model::from_factors(
        params,
        1,
        a.users,
        a.items,
        user_factors,
        item_factors,
        None,
    )
    .map_err(|e| e.to_string())?;
    let mut seen_rng = Rng(0x5EED_0000_5EE0_0002);
    let seen: Vec<Vec<u32>> = (0..a.users)
        .map(|_| {
            let mut s: Vec<u32> = (0..a.seen)
                .map(|_| (seen_rng.next() % u64::from(a.items.max(1))) as u32)
                .collect();
            s.sort_unstable();
            s.dedup();
            s
        })
        .collect();
    println!(
        "{} users, {} items, {} factors, top {}, {} seen items excluded per user",
        a.users, a.items, a.factors, a.k, a.seen
    );

    let mut latencies = Vec::with_capacity(a.users as usize * a.rounds as usize);
    let mut best = f64::MAX;
    let mut answers = Vec::new();
    for round in 0..a.rounds {
        answers.clear();
        let started = Instant::now();
        for u in 0..a.users {
            let call = Instant::now();
            let out = model
                .recommend(UserRef::row(u), a.k, &seen[u as usize], None)
                .map_err(|e| e.to_string())?;
            latencies.push(call.elapsed().as_secs_f64());
            answers.push(out);
        }
        let seconds = started.elapsed().as_secs_f64();
        best = best.min(seconds);
        println!(
            "round {round}: {:.0} calls/s ({:.1} µs/call)",
            f64::from(a.users) / seconds,
            seconds / f64::from(a.users) * 1e6
        );
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "recommend, one thread: best round {:.0} calls/s; per call p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs; checksum {:016x}",
        f64::from(a.users) / best,
        percentile(&latencies, 0.5) * 1e6,
        percentile(&latencies, 0.99) * 1e6,
        latencies.last().copied().unwrap_or(0.0) * 1e6,
        checksum(&answers)
    );
    // Re-rank: each user's 100 candidates (random, fixed seed), scored and sorted best first
    // (what the serving endpoint does with a caller's list).
    let mut cand_rng = Rng(0x5EED_0000_CA4D_0003);
    let candidates: Vec<Vec<u32>> = (0..a.users)
        .map(|_| {
            (0..a.candidates)
                .map(|_| (cand_rng.next() % u64::from(a.items.max(1))) as u32)
                .collect()
        })
        .collect();
    let mut rerank_latencies = Vec::with_capacity(a.users as usize * a.rounds as usize);
    let mut best = f64::MAX;
    let mut ranked = Vec::new();
    for _ in 0..a.rounds {
        ranked.clear();
        let started = Instant::now();
        for u in 0..a.users {
            let call = Instant::now();
            let list = &candidates[u as usize];
            let scores = model
                .score(UserRef::row(u), list)
                .map_err(|e| e.to_string())?;
            let mut order: Vec<(u32, f32)> = list.iter().copied().zip(scores).collect();
            order.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            rerank_latencies.push(call.elapsed().as_secs_f64());
            ranked.push(order);
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    rerank_latencies.sort_by(f64::total_cmp);
    println!(
        "rerank of {} candidates, one thread: best round {:.0} calls/s; per call p50 {:.1} µs, p99 {:.1} µs; checksum {:016x}",
        a.candidates,
        f64::from(a.users) / best,
        percentile(&rerank_latencies, 0.5) * 1e6,
        percentile(&rerank_latencies, 0.99) * 1e6,
        checksum(&ranked)
    );
    let refs: Vec<UserRef<'_>> = (0..a.users).map(UserRef::row).collect();
    let lists: Vec<&[u32]> = seen.iter().map(Vec::as_slice).collect();
    for threads in [1, a.threads] {
        let mut best = f64::MAX;
        let mut batch = Vec::new();
        for _ in 0..a.rounds {
            let started = Instant::now();
            batch = model
                .recommend_many(&refs, a.k, &lists, threads)
                .map_err(|e| e.to_string())?;
            best = best.min(started.elapsed().as_secs_f64());
        }
        println!(
            "recommend_many, {threads} thread(s): best round {:.0} users/s; checksum {:016x}{}",
            f64::from(a.users) / best,
            checksum(&batch),
            if batch == answers {
                " (the single calls' answers)"
            } else {
                " DIFFERS from the single calls"
            }
        );
    }
    Ok(())
}
