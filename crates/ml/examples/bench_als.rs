//! Seconds per training iteration on synthetic Zipf data, to compare with `implicit` at equal
//! factors, iterations and threads.
//!
//! `cargo run --release -p steward-ml --example bench_als -- --users 200000 --items 50000
//! --nnz 7000000 --factors 64 --iterations 5 --threads 2 [--algorithm als|bpr|item_knn]
//! [--cg-steps 3] [--loss]`
//!
//! The data is `support/zipf.rs`'s (the same as `versus_implicit`'s): Zipf item popularity,
//! weights 1-3; duplicates are summed, so the matrix holds somewhat fewer entries than `--nnz`
//! draws.

#[path = "support/zipf.rs"]
mod zipf;

use std::time::Instant;

use steward_ml::{
    Algorithm, AlsParams, BprParams, Control, Interactions, KnnParams, MatrixLimits, Params,
    RunConfig, Shape, estimate_bytes, train,
};

struct Args {
    users: u32,
    items: u32,
    nnz: u64,
    factors: u32,
    iterations: u32,
    threads: usize,
    cg_steps: u32,
    algorithm: Algorithm,
    loss: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        users: 200_000,
        items: 50_000,
        nnz: 7_000_000,
        factors: 64,
        iterations: 5,
        threads: 2,
        cg_steps: 3,
        algorithm: Algorithm::Als,
        loss: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--loss" {
            a.loss = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("{flag}: not a number");
        match flag.as_str() {
            "--users" => a.users = value.parse().map_err(bad)?,
            "--items" => a.items = value.parse().map_err(bad)?,
            "--nnz" => a.nnz = value.parse().map_err(bad)?,
            "--factors" => a.factors = value.parse().map_err(bad)?,
            "--iterations" => a.iterations = value.parse().map_err(bad)?,
            "--threads" => a.threads = value.parse().map_err(bad)?,
            "--cg-steps" => a.cg_steps = value.parse().map_err(bad)?,
            "--algorithm" => {
                a.algorithm = Algorithm::from_name(&value).ok_or("unknown algorithm")?
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn main() -> Result<(), String> {
    let a = parse()?;
    let params = match a.algorithm {
        Algorithm::Als => Params::Als(AlsParams {
            factors: a.factors,
            iterations: a.iterations,
            cg_steps: a.cg_steps,
            compute_loss: a.loss,
            ..AlsParams::default()
        }),
        Algorithm::Bpr => Params::Bpr(BprParams {
            factors: a.factors,
            iterations: a.iterations,
            ..BprParams::default()
        }),
        Algorithm::ItemKnn => Params::ItemKnn(KnnParams {
            work_max: u64::MAX,
            ..KnnParams::default()
        }),
        Algorithm::Popularity => Params::default_for(Algorithm::Popularity),
    };
    let started = Instant::now();
    let limits = MatrixLimits {
        nnz_max: a.nnz,
        ..MatrixLimits::default()
    };
    let mut b = Interactions::builder(a.users, a.items, limits).map_err(|e| e.to_string())?;
    b.reserve(a.nnz);
    zipf::generate(a.users, a.items, a.nnz, zipf::SEED, |u, i, w| {
        b.push(u, i, w)
    })
    .map_err(|e| e.to_string())?;
    let m = b.build().map_err(|e| e.to_string())?;
    println!(
        "matrix: {} users x {} items, {} entries ({} draws) in {:.1} s",
        m.users(),
        m.items(),
        m.nnz(),
        a.nnz,
        started.elapsed().as_secs_f64()
    );
    let estimate = estimate_bytes(
        Shape {
            users: a.users,
            items: a.items,
            nnz: a.nnz,
            timed: false,
        },
        &params,
        a.threads,
    );
    println!(
        "estimate: peak {:.0} MiB (model {:.0} MiB)",
        estimate.peak_bytes() as f64 / 1048576.0,
        estimate.model_bytes as f64 / 1048576.0
    );
    let run = RunConfig {
        threads: a.threads,
        seed: 1,
    };
    let mut last = Instant::now();
    let mut times = Vec::new();
    let started = Instant::now();
    train(&m, &params, &run, &mut |p| {
        let seconds = last.elapsed().as_secs_f64();
        times.push(seconds);
        println!(
            "{} iteration {}/{}: {seconds:.3} s, loss {:.6}",
            a.algorithm, p.iteration, p.iterations, p.loss
        );
        last = Instant::now();
        Control::Continue
    })
    .map_err(|e| e.to_string())?;
    let total = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
    println!(
        "{}: {total:.2} s total, median {median:.3} s/iteration, {} factors, {} threads",
        a.algorithm, a.factors, a.threads
    );
    Ok(())
}
