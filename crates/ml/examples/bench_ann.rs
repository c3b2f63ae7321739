//! Vector index benchmark (issue 13 item 6): builds a `VectorIndex` (cosine) from
//! `DIR/base.f32`, sweeps `ef` with single-threaded search over `DIR/queries.f32`, and measures
//! filtered search at 1/10/50% selectivity; recall@10 against the exact top 10 in
//! `DIR/truth-*.u32`. `bench/ann_peers.py prepare` writes the files; bench/ann.sh runs both sides.
//!
//!   cargo run --release -p steward-ml --example bench_ann -- --dir DIR [--dim 384] [--m 16] [--efc 100]
//!
//! Prints one line per measurement (bench/ann.sh parses them).

use std::time::Instant;

use steward_ml::{AnnParams, Metric, SearchPlan, VectorIndex};

const EFS: [usize; 12] = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];
const FILTER_EFS: [usize; 4] = [32, 64, 128, 256];
const PERCENTS: [u64; 3] = [1, 10, 50];

fn splitmix(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn read_f32(path: &str) -> Vec<f32> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn read_u32(path: &str) -> Vec<u32> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn rss() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Queries per second and recall@10 of one sweep point, with the plans the searches took.
fn measure(
    ix: &VectorIndex,
    queries: &[&[f32]],
    truth: &[u32],
    ef: usize,
    filter: Option<&dyn Fn(u64) -> bool>,
) -> (f64, f64, usize) {
    let mut found = Vec::with_capacity(queries.len());
    let mut scans = 0;
    let t = Instant::now();
    for q in queries {
        let (hits, plan) = ix.search_planned(q, 10, ef, filter).expect("search");
        scans += usize::from(plan == SearchPlan::Scan);
        found.push(hits);
    }
    let dt = t.elapsed().as_secs_f64();
    let mut hit = 0usize;
    for (i, hits) in found.iter().enumerate() {
        let t = &truth[i * 10..i * 10 + 10];
        hit += hits.iter().filter(|h| t.contains(&(h.id as u32))).count();
    }
    (
        queries.len() as f64 / dt,
        hit as f64 / (queries.len() * 10) as f64,
        scans,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = arg(&args, "--dir").expect("--dir DIR");
    let dim: usize = arg(&args, "--dim").map_or(384, |s| s.parse().expect("--dim"));
    let m: u32 = arg(&args, "--m").map_or(16, |s| s.parse().expect("--m"));
    let efc: u32 = arg(&args, "--efc").map_or(100, |s| s.parse().expect("--efc"));
    let base = read_f32(&format!("{dir}/base.f32"));
    let queries = read_f32(&format!("{dir}/queries.f32"));
    let base: Vec<&[f32]> = base.chunks_exact(dim).collect();
    let queries: Vec<&[f32]> = queries.chunks_exact(dim).collect();

    let mut params = AnnParams::new(Metric::Cosine, dim as u32);
    params.m = m;
    params.ef_construction = efc;
    let before = rss();
    let t = Instant::now();
    let mut ix = VectorIndex::new(params).expect("params");
    for (i, v) in base.iter().enumerate() {
        ix.upsert(i as u64, v).expect("upsert");
    }
    let build = t.elapsed().as_secs_f64();
    let grown = ix.memory();
    ix.shrink_to_fit();
    let mem = ix.memory();
    let f32_bytes = base.len() * dim * 4;
    println!(
        "steward m {m} build {build:.3} s threads 1 memory_rss {}",
        rss().saturating_sub(before)
    );
    println!(
        "steward m {m} memory graph+codes {} (codes {}, links {}, slots {}) rows {} float32 {} ratio {:.4} (before shrink_to_fit {:.4})",
        mem.index.total(),
        mem.index.codes_bytes,
        mem.index.links_bytes,
        mem.index.slots_bytes,
        mem.rows_bytes,
        f32_bytes,
        mem.index.total() as f64 / f32_bytes as f64,
        grown.index.total() as f64 / f32_bytes as f64,
    );
    let truth0 = read_u32(&format!("{dir}/truth-0.u32"));
    // Warm the caches and the scratch pool once.
    let _ = measure(&ix, &queries[..100.min(queries.len())], &truth0, 64, None);
    for ef in EFS {
        let (qps, recall, _) = measure(&ix, &queries, &truth0, ef, None);
        println!("steward m {m} ef {ef} qps {qps:.1} recall {recall:.4}");
    }
    for p in PERCENTS {
        let truth = read_u32(&format!("{dir}/truth-{p}.u32"));
        let f = move |id: u64| splitmix(id) % 100 < p;
        for ef in FILTER_EFS {
            let (qps, recall, scans) = measure(&ix, &queries, &truth, ef, Some(&f));
            println!(
                "steward m {m} filter {p} ef {ef} qps {qps:.1} recall {recall:.4} scans {scans}"
            );
        }
    }
}
