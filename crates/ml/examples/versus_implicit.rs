//! Steward's side of the comparison with PyPI `implicit` (`bench/ml.sh`; BENCHMARKS.md,
//! "Recommenders against implicit"): makes the data both libraries train on, times steward-ml's
//! trainers, and scores both libraries' factors with steward-ml's one evaluator.
//!
//! ```text
//! versus_implicit movielens --csv FILE --out DIR [--min-rating 3.5] [--holdout 0.2] [--runs 5]
//! versus_implicit synthetic --users N --items N --draws N --out FILE [--runs 5]
//! versus_implicit events --users N --items N --draws N --out FILE
//! versus_implicit train --train FILE [--test FILE] --algorithm als|bpr [--factors 64]
//!     [--iterations 15] [--regularization 0.01] [--alpha 40] [--cg-steps 3] [--learning-rate 0.05]
//!     [--strata 16] [--threads 2] [--seed 1] [--runs 5] [--warmup 1] [--label NAME]
//! versus_implicit eval --train FILE --test FILE --algorithm als|bpr --factors N --dir DIR
//!     [--threads 2] [--label NAME]
//! ```
//!
//! - `movielens` reads `user,item,rating,timestamp` CSV rows (a header line first), keeps
//!   ratings ≥ `--min-rating` as positives (weight 1), numbers users and items densely in
//!   ascending id order, and splits with steward-ml's per-user time split (the latest
//!   ⌈holdout · n⌉ of each user's positives held out), writing `DIR/train.trip` and
//!   `DIR/test.trip`: the one split both libraries get.
//! - `synthetic` writes `support/zipf.rs`'s matrix (duplicates summed) to one `.trip` file.
//! - `events` writes the same draws as Steward `rating` events, one per draw, NDJSON
//!   (`bench/models.sh` ingests them through the server: subject `syn-user-U`, property
//!   `movie_id` `I`, `rating` the weight, one second apart from 2020-01-01), so the server's
//!   training matrix is the one the implicit comparison uses.
//! - `train` times `--warmup` + `--runs` trainings, timed run k with seed `--seed` + k, and given
//!   `--test` evaluates each timed run's model beside popularity (medians and per-run lists).
//! - `eval` reads another library's factors of each run, `DIR/run-1/`, `DIR/run-2/`, ...:
//!   `user_factors.f32` and `item_factors.f32`, raw little-endian f32, row-major, `users x C` and
//!   `items x C` with C = factors for ALS; for BPR C = factors + 1, `implicit`'s layout, whose
//!   last item column is the item bias and last user column is 1.
//!
//! Every subcommand prints one JSON line. A `.trip` file is a 32-byte header (`STWTRIP1`, users
//! u32, items u32, entries u64, timed u32, zero u32) and then columns, all little-endian: user
//! u32 × entries, item u32 × entries, weight f32 × entries, and time i64 × entries when timed.
//! The `movielens` and `synthetic` lines report how fast steward-ml's `InteractionsBuilder`
//! turns input rows into a matrix (CSV text, or the binary columns an Arrow batch would hold).

#[path = "support/zipf.rs"]
mod zipf;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use steward_ml::eval::{EvalConfig, Split, TrainTest, evaluate_with_baseline, split};
use steward_ml::{
    Algorithm, AlsParams, BprParams, Control, Interactions, MatrixLimits, Model, Negatives, Params,
    RunConfig, train,
};

type Result<T> = std::result::Result<T, String>;

const MAGIC: &[u8; 8] = b"STWTRIP1";
const HEADER_BYTES: usize = 32;

fn main() {
    if let Err(message) = run() {
        eprintln!("versus_implicit: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args
        .next()
        .ok_or("give a subcommand: movielens, synthetic, train or eval")?;
    let flags = Flags::parse(args)?;
    let line = match command.as_str() {
        "movielens" => movielens(&flags)?,
        "synthetic" => synthetic(&flags)?,
        "events" => synthetic_events(&flags)?,
        "train" => train_runs(&flags)?,
        "eval" => eval_factors(&flags)?,
        other => return Err(format!("unknown subcommand {other}")),
    };
    println!("{line}");
    Ok(())
}

/// `--name value` pairs.
struct Flags(HashMap<String, String>);

impl Flags {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Flags> {
        let mut map = HashMap::new();
        while let Some(flag) = args.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("expected a --flag, got {flag}"))?;
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            map.insert(name.to_string(), value);
        }
        Ok(Flags(map))
    }

    fn text(&self, name: &str) -> Result<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        self.text(name).map(PathBuf::from)
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: not a number: {v}")),
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn json_list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:.6}")).collect();
    format!("[{}]", items.join(","))
}

// ---- .trip files -------------------------------------------------------------------------

/// Columns of a matrix's entries, in user-row order.
struct Triples {
    users: u32,
    items: u32,
    user: Vec<u32>,
    item: Vec<u32>,
    weight: Vec<f32>,
    time: Option<Vec<i64>>,
}

impl Triples {
    fn of(m: &Interactions) -> Triples {
        let mut t = Triples {
            users: m.users(),
            items: m.items(),
            user: Vec::new(),
            item: Vec::new(),
            weight: Vec::new(),
            time: m.has_times().then(Vec::new),
        };
        for u in 0..m.users() {
            let Some(row) = m.user_row(u) else { continue };
            t.user.extend(std::iter::repeat_n(u, row.items.len()));
            t.item.extend_from_slice(row.items);
            t.weight.extend_from_slice(row.weights);
            if let (Some(out), Some(times)) = (t.time.as_mut(), row.times) {
                out.extend_from_slice(times);
            }
        }
        t
    }

    fn write(&self, path: &Path) -> Result<()> {
        let n = self.user.len();
        let mut bytes = Vec::with_capacity(HEADER_BYTES + n * 20);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.users.to_le_bytes());
        bytes.extend_from_slice(&self.items.to_le_bytes());
        bytes.extend_from_slice(&(n as u64).to_le_bytes());
        bytes.extend_from_slice(&u32::from(self.time.is_some()).to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend(self.user.iter().flat_map(|v| v.to_le_bytes()));
        bytes.extend(self.item.iter().flat_map(|v| v.to_le_bytes()));
        bytes.extend(self.weight.iter().flat_map(|v| v.to_le_bytes()));
        for t in self.time.iter().flatten() {
            bytes.extend_from_slice(&t.to_le_bytes());
        }
        std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn read(path: &Path) -> Result<Triples> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let bad = || format!("{}: not a .trip file or cut short", path.display());
        if bytes.len() < HEADER_BYTES || &bytes[..8] != MAGIC {
            return Err(bad());
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let (users, items, timed) = (word(8), word(12), word(24) == 1);
        let n = usize::try_from(u64::from(word(16)) | (u64::from(word(20)) << 32))
            .map_err(|_| bad())?;
        let want = HEADER_BYTES + n * if timed { 20 } else { 12 };
        if bytes.len() != want {
            return Err(bad());
        }
        let column = |k: usize| &bytes[HEADER_BYTES + k * 4 * n..HEADER_BYTES + (k + 1) * 4 * n];
        let quads = |k: usize| column(k).chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
        let time = timed.then(|| {
            bytes[HEADER_BYTES + 12 * n..]
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect()
        });
        Ok(Triples {
            users,
            items,
            user: quads(0).map(u32::from_le_bytes).collect(),
            item: quads(1).map(u32::from_le_bytes).collect(),
            weight: quads(2).map(f32::from_le_bytes).collect(),
            time,
        })
    }

    /// The matrix, through `InteractionsBuilder` (the timed part of a load).
    fn build(&self) -> Result<Interactions> {
        let limits = MatrixLimits {
            nnz_max: self.user.len() as u64,
            ..MatrixLimits::default()
        };
        let mut b =
            Interactions::builder(self.users, self.items, limits).map_err(|e| e.to_string())?;
        b.reserve(self.user.len() as u64);
        for k in 0..self.user.len() {
            match &self.time {
                Some(t) => b.push_timed(self.user[k], self.item[k], self.weight[k], t[k]),
                None => b.push(self.user[k], self.item[k], self.weight[k]),
            }
            .map_err(|e| e.to_string())?;
        }
        b.build().map_err(|e| e.to_string())
    }
}

// ---- data ---------------------------------------------------------------------------------

/// MovieLens-style CSV rows to a timed matrix of positives (weight 1). Returns the matrix and
/// the number of input rows read.
fn load_csv(text: &str, min_rating: f64) -> Result<(Interactions, usize)> {
    let mut rows: Vec<(u64, u64, i64)> = Vec::new();
    let mut read = 0usize;
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.is_empty() {
            continue;
        }
        read += 1;
        let mut cols = line.split(',');
        let mut next = || {
            cols.next()
                .ok_or_else(|| format!("line {}: fewer than 4 columns", n + 1))
        };
        let (user, item, rating, time) = (next()?, next()?, next()?, next()?);
        let bad = |what: &str| format!("line {}: bad {what}", n + 1);
        let rating: f64 = rating.parse().map_err(|_| bad("rating"))?;
        if rating >= min_rating {
            rows.push((
                user.parse().map_err(|_| bad("user"))?,
                item.parse().map_err(|_| bad("item"))?,
                time.parse().map_err(|_| bad("timestamp"))?,
            ));
        }
    }
    let dense = |ids: BTreeMap<u64, u32>| -> BTreeMap<u64, u32> {
        ids.into_keys()
            .enumerate()
            .map(|(k, id)| (id, k as u32))
            .collect()
    };
    let users = dense(rows.iter().map(|r| (r.0, 0)).collect());
    let items = dense(rows.iter().map(|r| (r.1, 0)).collect());
    let mut b = Interactions::builder(
        users.len() as u32,
        items.len() as u32,
        MatrixLimits::default(),
    )
    .map_err(|e| e.to_string())?;
    b.reserve(rows.len() as u64);
    for (u, i, t) in rows {
        b.push_timed(users[&u], items[&i], 1.0, t)
            .map_err(|e| e.to_string())?;
    }
    Ok((b.build().map_err(|e| e.to_string())?, read))
}

fn movielens(flags: &Flags) -> Result<String> {
    let (csv, out) = (flags.path("csv")?, flags.path("out")?);
    let (min_rating, holdout, runs) = (
        flags.number("min-rating", 3.5)?,
        flags.number("holdout", 0.2)?,
        flags.number("runs", 5usize)?,
    );
    let (mut load_s, mut build_s) = (Vec::new(), Vec::new());
    let mut loaded = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let text = std::fs::read_to_string(&csv).map_err(|e| format!("{}: {e}", csv.display()))?;
        let (m, read) = load_csv(&text, min_rating)?;
        load_s.push(started.elapsed().as_secs_f64());
        // The builder alone, from the decoded columns.
        let t = Triples::of(&m);
        let started = Instant::now();
        let again = t.build()?;
        build_s.push(started.elapsed().as_secs_f64());
        if again != m {
            return Err("the matrix rebuilt from its columns differs".into());
        }
        loaded = Some((m, read));
    }
    let (m, read) = loaded.ok_or("no run")?;
    let TrainTest { train, test } =
        split(&m, &Split::Time { holdout }).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    Triples::of(&train).write(&out.join("train.trip"))?;
    Triples::of(&test).write(&out.join("test.trip"))?;
    let load = median(&load_s);
    Ok(format!(
        "{{\"bench\":\"ml_data\",\"data\":\"movielens\",\"input_rows\":{read},\"users\":{},\"items\":{},\"positives\":{},\"train\":{},\"test\":{},\"min_rating\":{min_rating},\"holdout\":{holdout},\"load_runs_s\":{},\"load_s\":{load:.6},\"load_rows_per_s\":{:.0},\"builder_runs_s\":{},\"builder_rows_per_s\":{:.0},\"load_from\":\"csv\"}}",
        m.users(),
        m.items(),
        m.nnz(),
        train.nnz(),
        test.nnz(),
        json_list(&load_s),
        read as f64 / load,
        json_list(&build_s),
        m.nnz() as f64 / median(&build_s)
    ))
}

fn synthetic_events(flags: &Flags) -> Result<String> {
    use std::io::Write;
    let (users, items, draws) = (
        flags.number("users", 200_000u32)?,
        flags.number("items", 50_000u32)?,
        flags.number("draws", 7_000_000u64)?,
    );
    let out = flags.path("out")?;
    let file = std::fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    // 2020-01-01T00:00:00Z, a draw per second.
    const START: i64 = 1_577_836_800;
    let mut k = 0i64;
    zipf::generate(users, items, draws, zipf::SEED, |u, i, weight| {
        let (days, secs) = ((START + k) / 86_400, (START + k) % 86_400);
        let (y, m, d) = civil_from_days(days);
        k += 1;
        writeln!(
            w,
            "{{\"event_id\":\"syn-{k}\",\"type\":\"rating\",\"subject\":\"syn-user-{u}\",\"time\":\"{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z\",\"properties\":{{\"movie_id\":\"{i}\",\"rating\":{weight:.1}}}}}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    })
    .map_err(|e| e.to_string())?;
    w.flush().map_err(|e| e.to_string())?;
    Ok(format!(
        "{{\"bench\":\"ml_events\",\"draws\":{draws},\"users\":{users},\"items\":{items}}}"
    ))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn synthetic(flags: &Flags) -> Result<String> {
    let (users, items, draws) = (
        flags.number("users", 200_000u32)?,
        flags.number("items", 50_000u32)?,
        flags.number("draws", 7_000_000u64)?,
    );
    let (out, runs) = (flags.path("out")?, flags.number("runs", 5usize)?);
    let limits = MatrixLimits {
        nnz_max: draws,
        ..MatrixLimits::default()
    };
    let mut b = Interactions::builder(users, items, limits).map_err(|e| e.to_string())?;
    b.reserve(draws);
    zipf::generate(users, items, draws, zipf::SEED, |u, i, w| b.push(u, i, w))
        .map_err(|e| e.to_string())?;
    let m = b.build().map_err(|e| e.to_string())?;
    Triples::of(&m).write(&out)?;
    // The load rate: the file's columns into a matrix, as a trainer's caller would do it.
    let (mut load_s, mut build_s) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let t = Triples::read(&out)?;
        let decoded = Instant::now();
        let again = t.build()?;
        build_s.push(decoded.elapsed().as_secs_f64());
        load_s.push(started.elapsed().as_secs_f64());
        if again != m {
            return Err("the matrix read back differs from the one written".into());
        }
    }
    let (load, build) = (median(&load_s), median(&build_s));
    let n = m.nnz() as f64;
    Ok(format!(
        "{{\"bench\":\"ml_data\",\"data\":\"synthetic\",\"draws\":{draws},\"users\":{users},\"items\":{items},\"entries\":{},\"load_runs_s\":{},\"load_s\":{load:.6},\"load_rows_per_s\":{:.0},\"builder_runs_s\":{},\"builder_rows_per_s\":{:.0},\"load_from\":\"binary columns\"}}",
        m.nnz(),
        json_list(&load_s),
        n / load,
        json_list(&build_s),
        n / build
    ))
}

// ---- training and evaluation --------------------------------------------------------------

fn params(flags: &Flags) -> Result<Params> {
    let algorithm =
        Algorithm::from_name(flags.text("algorithm")?).ok_or("--algorithm: als or bpr")?;
    let (factors, iterations, regularization) = (
        flags.number("factors", 64u32)?,
        flags.number("iterations", 15u32)?,
        flags.number("regularization", 0.01f32)?,
    );
    Ok(match algorithm {
        Algorithm::Als => Params::Als(AlsParams {
            factors,
            iterations,
            regularization,
            alpha: flags.number("alpha", 40.0)?,
            cg_steps: flags.number("cg-steps", 3)?,
            compute_loss: false,
        }),
        Algorithm::Bpr => Params::Bpr(BprParams {
            factors,
            iterations,
            regularization,
            learning_rate: flags.number("learning-rate", 0.05)?,
            strata: flags.number("strata", 16)?,
            negatives: Negatives::from_name(flags.text("negatives").unwrap_or("uniform"))
                .ok_or("--negatives: uniform or popularity")?,
        }),
        other => return Err(format!("{other} is not compared with implicit here")),
    })
}

fn params_json(p: &Params) -> String {
    match p {
        Params::Als(a) => format!(
            "{{\"factors\":{},\"iterations\":{},\"regularization\":{},\"alpha\":{},\"cg_steps\":{}}}",
            a.factors, a.iterations, a.regularization, a.alpha, a.cg_steps
        ),
        Params::Bpr(b) => format!(
            "{{\"factors\":{},\"iterations\":{},\"regularization\":{},\"learning_rate\":{},\"strata\":{},\"negatives\":\"{}\"}}",
            b.factors,
            b.iterations,
            b.regularization,
            b.learning_rate,
            b.strata,
            b.negatives.name()
        ),
        _ => "{}".into(),
    }
}

/// Loads a `.trip` file, timing file → matrix.
fn load(path: &Path) -> Result<(Interactions, f64)> {
    let started = Instant::now();
    let m = Triples::read(path)?.build()?;
    Ok((m, started.elapsed().as_secs_f64()))
}

/// Metrics at 10 of a model and of popularity on the same split.
struct Quality {
    users: u32,
    recall: f64,
    precision: f64,
    ndcg: f64,
    map: f64,
    popularity_recall: f64,
    popularity_ndcg: f64,
}

fn quality(
    model: &Model,
    train: &Interactions,
    test: &Interactions,
    threads: usize,
) -> Result<Quality> {
    let config = EvalConfig {
        ks: vec![10],
        threads,
        users_max: None,
        seed: 0,
    };
    let e = evaluate_with_baseline(model, train, test, &config).map_err(|e| e.to_string())?;
    let (m, b) = (e.model.at[0], e.baseline.at[0]);
    Ok(Quality {
        users: e.model.users_evaluated,
        recall: m.recall,
        precision: m.precision,
        ndcg: m.ndcg,
        map: m.map,
        popularity_recall: b.recall,
        popularity_ndcg: b.ndcg,
    })
}

/// JSON fields of one quality figure per run: lists and medians.
fn quality_json(runs: &[Quality]) -> String {
    let pick = |f: fn(&Quality) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let mut out = format!(
        ",\"users_evaluated\":{}",
        runs.first().map_or(0, |q| q.users)
    );
    for (name, values) in [
        ("recall10", pick(|q| q.recall)),
        ("precision10", pick(|q| q.precision)),
        ("ndcg10", pick(|q| q.ndcg)),
        ("map10", pick(|q| q.map)),
    ] {
        out += &format!(
            ",\"{name}\":{:.6},\"{name}_runs\":{}",
            median(&values),
            json_list(&values)
        );
    }
    out += &format!(
        ",\"popularity_recall10\":{:.6},\"popularity_ndcg10\":{:.6}",
        median(&pick(|q| q.popularity_recall)),
        median(&pick(|q| q.popularity_ndcg))
    );
    out
}

fn train_runs(flags: &Flags) -> Result<String> {
    let p = params(flags)?;
    let (threads, seed, runs, warmup) = (
        flags.number("threads", 2usize)?,
        flags.number("seed", 1u64)?,
        flags.number("runs", 5usize)?,
        flags.number("warmup", 1usize)?,
    );
    let label = flags.text("label").unwrap_or("data");
    let (m, load_s) = load(&flags.path("train")?)?;
    let test = match flags.path("test") {
        Ok(path) => Some(load(&path)?.0),
        Err(_) => None,
    };
    let (mut per_iteration, mut totals, mut scores) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..warmup + runs.max(1) {
        // Timed run k trains with seed + k (the warm-up with seed), so the quality figures are
        // a median over initialisations, like implicit's side.
        let run = RunConfig {
            threads,
            seed: seed + r.saturating_sub(warmup) as u64,
        };
        let mut iterations = Vec::new();
        let started = Instant::now();
        let mut last = Instant::now();
        let model = train(&m, &p, &run, &mut |_| {
            iterations.push(last.elapsed().as_secs_f64());
            last = Instant::now();
            Control::Continue
        })
        .map_err(|e| e.to_string())?;
        let total = started.elapsed().as_secs_f64();
        // The run's median iteration: the first one also holds the random initialisation.
        let per = median(&iterations);
        eprintln!(
            "steward {} {label} run {}/{}: {per:.4} s/iteration{}",
            p.algorithm(),
            r + 1,
            warmup + runs,
            if r < warmup { " (warm-up)" } else { "" }
        );
        if r >= warmup {
            per_iteration.push(per);
            totals.push(total);
            if let Some(test) = &test {
                scores.push(quality(&model, &m, test, threads)?);
            }
        }
    }
    let mut line = format!(
        "{{\"bench\":\"ml_train\",\"side\":\"steward\",\"data\":\"{label}\",\"algorithm\":\"{}\",\"params\":{},\"threads\":{threads},\"seed\":{seed},\"users\":{},\"items\":{},\"entries\":{},\"load_s\":{load_s:.6},\"load_rows_per_s\":{:.0},\"warmup\":{warmup},\"runs\":{},\"s_per_iteration_runs\":{},\"s_per_iteration\":{:.6},\"total_s_runs\":{}",
        p.algorithm(),
        params_json(&p),
        m.users(),
        m.items(),
        m.nnz(),
        m.nnz() as f64 / load_s,
        per_iteration.len(),
        json_list(&per_iteration),
        median(&per_iteration),
        json_list(&totals)
    );
    if !scores.is_empty() {
        line += &quality_json(&scores);
    }
    line.push('}');
    Ok(line)
}

fn read_f32s(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "{}: not a whole number of f32 values",
            path.display()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Columns `0..keep` of a row-major matrix with `width` columns.
fn columns(values: &[f32], width: usize, keep: usize) -> Vec<f32> {
    values
        .chunks_exact(width)
        .flat_map(|row| row[..keep].iter().copied())
        .collect()
}

/// One run's factors as a model of `p`'s algorithm (see the module doc for the layouts).
fn imported(p: Params, users: u32, items: u32, dir: &Path) -> Result<Model> {
    let (x, y) = (
        read_f32s(&dir.join("user_factors.f32"))?,
        read_f32s(&dir.join("item_factors.f32"))?,
    );
    let f = p.factors() as usize;
    match p {
        Params::Als(_) => Model::from_factors(p, 0, users, items, x, y, None),
        _ => {
            // implicit's BPR layout: a last column of 1 for users and of biases for items.
            let width = f + 1;
            if x.len() != users as usize * width || y.len() != items as usize * width {
                return Err(format!(
                    "{}: BPR factors must be {users} x {width} and {items} x {width}",
                    dir.display()
                ));
            }
            let bias = y.chunks_exact(width).map(|row| row[f]).collect();
            Model::from_factors(
                p,
                0,
                users,
                items,
                columns(&x, width, f),
                columns(&y, width, f),
                Some(bias),
            )
        }
    }
    .map_err(|e| format!("{}: {e}", dir.display()))
}

fn eval_factors(flags: &Flags) -> Result<String> {
    let p = params(flags)?;
    let threads = flags.number("threads", 2usize)?;
    let label = flags.text("label").unwrap_or("data");
    let (train_m, _) = load(&flags.path("train")?)?;
    let (test_m, _) = load(&flags.path("test")?)?;
    // `DIR/run-1`, `DIR/run-2`, ... in order.
    let dir = flags.path("dir")?;
    let mut scores = Vec::new();
    for k in 1.. {
        let run = dir.join(format!("run-{k}"));
        if !run.is_dir() {
            break;
        }
        scores.push(quality(
            &imported(p, train_m.users(), train_m.items(), &run)?,
            &train_m,
            &test_m,
            threads,
        )?);
    }
    if scores.is_empty() {
        return Err(format!("{}: no run-1 directory", dir.display()));
    }
    let mut line = format!(
        "{{\"bench\":\"ml_eval\",\"side\":\"implicit\",\"data\":\"{label}\",\"algorithm\":\"{}\",\"factors\":{},\"runs\":{}",
        p.algorithm(),
        p.factors(),
        scores.len()
    );
    line += &quality_json(&scores);
    line.push('}');
    Ok(line)
}
