//! The index against brute force: recall on clustered data (cosine and inner product), after
//! deleting half and re-inserting, under filters of 1%, 10% and 50%; upsert; physical deletion in
//! the bytes; persistence and damaged files; determinism; argument errors.

use super::*;
use crate::rng::Rng;

/// Clustered vectors: `clusters` Gaussian centres drawn from `seed`, each point a centre plus
/// noise of a third of the centres' spread drawn from stream `stream` (so queries share the
/// data's centres but not its points). Deterministic.
pub(crate) fn clustered_from(
    n: usize,
    dim: usize,
    clusters: usize,
    seed: u64,
    stream: u64,
) -> Vec<Vec<f32>> {
    fn gauss(rng: &mut Rng) -> f32 {
        let u = f64::from(rng.unit_f32()).max(1e-9);
        let v = f64::from(rng.unit_f32());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
    let mut rng = Rng::derive(seed, &[]);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| gauss(&mut rng)).collect())
        .collect();
    let mut rng = Rng::derive(seed, &[stream]);
    (0..n)
        .map(|i| {
            let c = &centres[(i * 7919) % clusters];
            c.iter().map(|x| x + 0.35 * gauss(&mut rng)).collect()
        })
        .collect()
}

pub(crate) fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    clustered_from(n, dim, clusters, seed, 1)
}

/// Queries near the centres of `clustered(_, dim, clusters, seed)`.
fn queries(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    clustered_from(n, dim, clusters, seed, 2)
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

/// Exact top k ids among `items` (id, vector) by the metric.
fn brute(items: &[(u64, &[f32])], q: &[f32], k: usize, metric: Metric) -> Vec<u64> {
    let q = if metric == Metric::Cosine {
        normalized(q)
    } else {
        q.to_vec()
    };
    let mut scored: Vec<(f32, u64)> = items
        .iter()
        .map(|(id, v)| {
            let v = if metric == Metric::Cosine {
                normalized(v)
            } else {
                v.to_vec()
            };
            (v.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>(), *id)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, id)| id).collect()
}

/// Mean recall@k of the index over the queries, against brute force on `items`.
fn recall(
    ix: &VectorIndex,
    items: &[(u64, &[f32])],
    queries: &[Vec<f32>],
    k: usize,
    ef: usize,
    filter: Option<&dyn Fn(u64) -> bool>,
) -> f64 {
    let allowed: Vec<(u64, &[f32])> = items
        .iter()
        .filter(|(id, _)| filter.is_none_or(|f| f(*id)))
        .copied()
        .collect();
    let mut hit = 0usize;
    let mut total = 0usize;
    for q in queries {
        let truth = brute(&allowed, q, k, ix.index().params().metric);
        let got = ix.search(q, k, ef, filter).expect("search");
        assert!(got.windows(2).all(|w| w[0].score >= w[1].score), "sorted");
        for h in &got {
            assert!(filter.is_none_or(|f| f(h.id)), "a disallowed id came back");
        }
        total += truth.len();
        hit += got.iter().filter(|h| truth.contains(&h.id)).count();
    }
    hit as f64 / total.max(1) as f64
}

fn build(data: &[Vec<f32>], metric: Metric, seed: u64) -> VectorIndex {
    let mut p = AnnParams::new(metric, data[0].len() as u32);
    p.seed = seed;
    let mut ix = VectorIndex::new(p).expect("params");
    for (i, v) in data.iter().enumerate() {
        ix.upsert(i as u64, v).expect("upsert");
    }
    ix
}

fn pairs(data: &[Vec<f32>]) -> Vec<(u64, &[f32])> {
    data.iter()
        .enumerate()
        .map(|(i, v)| (i as u64, v.as_slice()))
        .collect()
}

fn mix(id: u64) -> u64 {
    let mut z = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= z >> 29;
    z.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 7
}

#[test]
fn recall_cosine_on_clustered_data() {
    let data = clustered(10_000, 64, 50, 1);
    let queries = queries(100, 64, 50, 1);
    let ix = build(&data, Metric::Cosine, 7);
    let r = recall(&ix, &pairs(&data), &queries, 10, 64, None);
    assert!(r >= 0.95, "recall@10 {r}");
}

#[test]
fn recall_inner_product() {
    let mut data = clustered(5_000, 32, 20, 3);
    let mut rng = Rng::derive(4, &[]);
    for v in &mut data {
        let s = 0.5 + 2.0 * rng.unit_f32();
        v.iter_mut().for_each(|x| *x *= s);
    }
    let queries = queries(100, 32, 20, 3);
    let ix = build(&data, Metric::InnerProduct, 7);
    let r = recall(&ix, &pairs(&data), &queries, 10, 100, None);
    assert!(r >= 0.95, "recall@10 {r}");
    // Scores are exact inner products, not normalized.
    let h = ix.search(&queries[0], 1, 100, None).expect("search");
    let v = &data[h[0].id as usize];
    let want: f32 = v.iter().zip(&queries[0]).map(|(a, b)| a * b).sum();
    assert!((h[0].score - want).abs() <= 1e-3 * want.abs().max(1.0));
}

#[test]
fn recall_holds_after_deleting_half_and_reinserting() {
    let data = clustered(10_000, 64, 50, 11);
    let queries = queries(100, 64, 50, 11);
    let mut ix = build(&data, Metric::Cosine, 7);
    for id in (0..10_000u64).step_by(2) {
        assert!(ix.delete(id));
    }
    assert_eq!(ix.len(), 5_000);
    let kept: Vec<(u64, &[f32])> = pairs(&data)
        .into_iter()
        .filter(|(id, _)| id % 2 == 1)
        .collect();
    let r = recall(&ix, &kept, &queries, 10, 64, None);
    assert!(r >= 0.95, "recall@10 after deleting half {r}");
    ix.consolidate();
    let fresh = clustered_from(5_000, 64, 50, 11, 3);
    for (i, v) in fresh.iter().enumerate() {
        ix.upsert(100_000 + i as u64, v).expect("upsert");
    }
    assert_eq!(ix.len(), 10_000);
    assert_eq!(ix.index().slots(), 10_000, "deleted slots are reused");
    let mut all = kept.clone();
    all.extend(
        fresh
            .iter()
            .enumerate()
            .map(|(i, v)| (100_000 + i as u64, v.as_slice())),
    );
    let r = recall(&ix, &all, &queries, 10, 64, None);
    assert!(r >= 0.95, "recall@10 after re-inserting {r}");
}

#[test]
fn filtered_recall_at_1_10_and_50_percent() {
    let data = clustered(30_000, 32, 50, 21);
    let queries = queries(50, 32, 50, 21);
    let ix = build(&data, Metric::Cosine, 7);
    let items = pairs(&data);
    for (percent, plan) in [
        (1, SearchPlan::Scan),
        (10, SearchPlan::Graph),
        (50, SearchPlan::Graph),
    ] {
        let f = move |id: u64| mix(id) % 100 < percent;
        let r = recall(&ix, &items, &queries, 10, 64, Some(&f));
        assert!(r >= 0.95, "filtered recall@10 at {percent}%: {r}");
        let (_, ran) = ix
            .search_planned(&queries[0], 10, 64, Some(&f))
            .expect("search");
        assert_eq!(ran, plan, "{percent}%");
    }
    // A filter correlated with the vectors: only items of 5 of the 50 clusters (10%).
    let f = |id: u64| (id as usize * 7919) % 50 < 5;
    let r = recall(&ix, &items, &queries, 10, 64, Some(&f));
    assert!(r >= 0.95, "cluster-correlated filter: {r}");
    // Nothing allowed: no hits, no error.
    let none = |_: u64| false;
    assert!(
        ix.search(&queries[0], 10, 64, Some(&none))
            .expect("search")
            .is_empty()
    );
}

#[test]
fn upsert_replaces_the_vector() {
    let data = clustered(2_000, 16, 10, 31);
    let mut ix = build(&data, Metric::Cosine, 7);
    let old = data[7].clone();
    let new: Vec<f32> = (0..16).map(|i| if i == 3 { 5.0 } else { 0.01 }).collect();
    ix.upsert(7, &new).expect("upsert");
    assert_eq!(ix.len(), 2_000);
    let h = ix.search(&new, 1, 32, None).expect("search");
    assert_eq!(h[0].id, 7);
    assert!((h[0].score - 1.0).abs() < 1e-5);
    let h = ix.search(&old, 5, 32, None).expect("search");
    assert!(h.iter().all(|x| x.id != 7 || x.score < 0.99));
}

/// The f32 bytes and int8 codes `id`'s vector leaves in a file, read from the index.
fn traces(ix: &VectorIndex, id: u64) -> (Vec<u8>, Vec<u8>) {
    let slot = ix.index().slot_of(id).expect("present");
    let f = ix.rows().row(slot).expect("row");
    let c = ix.index().code(slot);
    (
        f.iter().flat_map(|x| x.to_le_bytes()).collect(),
        c.iter().map(|c| *c as u8).collect(),
    )
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn deletion_is_physical_in_the_bytes() {
    let data = clustered(1_000, 48, 10, 41);
    let mut ix = build(&data, Metric::Cosine, 7);
    let gone = [3u64, 500, 999];
    let kept = [0u64, 4, 501, 998];
    let gone_traces: Vec<_> = gone.iter().map(|&id| traces(&ix, id)).collect();
    let kept_traces: Vec<_> = kept.iter().map(|&id| traces(&ix, id)).collect();
    for id in gone {
        let slot = ix.index().slot_of(id).expect("present");
        assert!(ix.delete(id));
        // In memory at once: codes and row zeroed, id unknown.
        assert!(ix.rows().row(slot).is_none());
        assert!(ix.index().code(slot).iter().all(|c| *c == 0));
        assert!(!ix.contains(id));
    }
    for consolidated in [false, true] {
        if consolidated {
            ix.consolidate();
        }
        for bytes in [ix.to_bytes(), ix.index().to_bytes(), ix.rows().to_bytes()] {
            for (id, (f, c)) in gone.iter().zip(&gone_traces) {
                assert!(!contains(&bytes, f), "f32 bytes of {id} remain");
                assert!(!contains(&bytes, c), "codes of {id} remain");
            }
        }
        let bytes = ix.to_bytes();
        for (id, (f, c)) in kept.iter().zip(&kept_traces) {
            assert!(contains(&bytes, f) && contains(&bytes, c), "kept {id}");
        }
        let back = VectorIndex::from_bytes(&bytes).expect("read");
        assert_eq!(back.len(), 997);
        let h = back.search(&data[500], 10, 64, None).expect("search");
        assert!(h.iter().all(|x| !gone.contains(&x.id)));
    }
}

#[test]
fn bytes_round_trip_and_builds_are_deterministic() {
    let data = clustered(3_000, 24, 10, 51);
    let queries = queries(20, 24, 10, 51);
    let mut a = build(&data, Metric::Cosine, 9);
    let mut b = build(&data, Metric::Cosine, 9);
    for id in (0..3_000).step_by(3) {
        a.delete(id);
        b.delete(id);
    }
    assert_eq!(a.to_bytes(), b.to_bytes());
    let back = VectorIndex::from_bytes(&a.to_bytes()).expect("read");
    assert_eq!(back.to_bytes(), a.to_bytes());
    for q in &queries {
        assert_eq!(back.search(q, 10, 50, None), a.search(q, 10, 50, None));
    }
    let c = build(&data, Metric::Cosine, 10);
    assert_ne!(
        c.index().to_bytes(),
        build(&data, Metric::Cosine, 9).index().to_bytes()
    );
    // An emptied index writes and reads too.
    let mut e = build(&data[..10], Metric::InnerProduct, 1);
    for id in 0..10 {
        e.delete(id);
    }
    let back = VectorIndex::from_bytes(&e.to_bytes()).expect("read");
    assert!(back.is_empty());
    assert!(
        back.search(&data[0], 3, 10, None)
            .expect("search")
            .is_empty()
    );
}

#[test]
fn damaged_bytes_are_refused() {
    let data = clustered(300, 8, 5, 61);
    let ix = build(&data, Metric::Cosine, 1);
    let bytes = ix.to_bytes();
    for cut in [0, 1, 10, 27, bytes.len() / 2, bytes.len() - 1] {
        assert!(VectorIndex::from_bytes(&bytes[..cut]).is_err());
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(VectorIndex::from_bytes(&longer).is_err());
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        assert!(VectorIndex::from_bytes(&b).is_err(), "flip at {i}");
    }
    assert!(
        AnnIndex::from_bytes(&bytes).is_err(),
        "a pair is not an index file"
    );
}

#[test]
fn arguments_are_checked() {
    let mut ix = VectorIndex::new(AnnParams::new(Metric::Cosine, 4)).expect("params");
    assert!(matches!(
        ix.upsert(1, &[1.0, 2.0]),
        Err(AnnError::WrongDimension { .. })
    ));
    assert!(matches!(
        ix.upsert(1, &[1.0, f32::NAN, 0.0, 0.0]),
        Err(AnnError::NotFinite { position: 1 })
    ));
    assert_eq!(ix.upsert(1, &[0.0; 4]), Err(AnnError::ZeroVector));
    ix.upsert(1, &[1.0, 0.0, 0.0, 0.0]).expect("upsert");
    assert!(matches!(
        ix.search(&[1.0; 4], 0, 10, None),
        Err(AnnError::KOutOfRange { .. })
    ));
    assert!(matches!(
        ix.search(&[1.0; 4], 1, 1_000_000, None),
        Err(AnnError::EfOutOfRange { .. })
    ));
    assert!(!ix.delete(2));
    for (dim, m, ef) in [
        (0u32, 16u32, 100u32),
        (4097, 16, 100),
        (4, 1, 100),
        (4, 65, 100),
        (4, 16, 0),
    ] {
        let mut p = AnnParams::new(Metric::Cosine, dim);
        p.m = m;
        p.ef_construction = ef;
        assert!(matches!(AnnIndex::new(p), Err(AnnError::BadParams { .. })));
    }
    let mut ip = VectorIndex::new(AnnParams::new(Metric::InnerProduct, 2)).expect("params");
    ip.upsert(5, &[0.0, 0.0])
        .expect("a zero vector is fine for inner product");
    assert_eq!(ip.search(&[1.0, 1.0], 1, 1, None).expect("search")[0].id, 5);
}

#[test]
fn memory_of_graph_and_codes_is_apart_from_the_rows() {
    let data = clustered(5_000, 384, 20, 71);
    let mut ix = build(&data, Metric::Cosine, 1);
    ix.shrink_to_fit();
    let m = ix.memory();
    let f32_bytes = 5_000 * 384 * 4;
    assert!(m.rows_bytes >= f32_bytes);
    assert_eq!(m.index.codes_bytes, 5_000 * 384);
    assert!(
        (m.index.total() as f64) < 0.36 * f32_bytes as f64,
        "graph and codes {} bytes against {} for float32",
        m.index.total(),
        f32_bytes
    );
}

mod damaged {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        BYTES
            .get_or_init(|| {
                let data = clustered(200, 8, 5, 81);
                let mut ix = build(&data, Metric::Cosine, 1);
                for id in (0..200).step_by(5) {
                    ix.delete(id);
                }
                ix.to_bytes()
            })
            .clone()
    }

    /// Re-seals a body changed in place: valid length and checksums, so the parser's own checks
    /// (not the checksum) must refuse or accept it, never panic.
    fn reseal(mut b: Vec<u8>) -> Vec<u8> {
        let n = b.len();
        b[16..24].copy_from_slice(&(n as u64).to_le_bytes());
        let crc = crc32c::crc32c(&b[..n - 4]);
        b[n - 4..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn flips_and_cuts_never_panic(pos in any::<usize>(), bit in 0u8..8, cut in any::<usize>()) {
            let bytes = sample();
            let mut b = bytes.clone();
            let i = pos % b.len();
            b[i] ^= 1 << bit;
            prop_assert!(VectorIndex::from_bytes(&b).is_err());
            let c = cut % bytes.len();
            prop_assert!(VectorIndex::from_bytes(&bytes[..c]).is_err());
            // The inner index file, changed and re-sealed: parsed, then refused or accepted.
            let inner_len = u64::from_le_bytes(bytes[24..32].try_into().unwrap()) as usize;
            let inner = bytes[32..32 + inner_len].to_vec();
            let mut m = inner.clone();
            let j = 24 + pos % (m.len() - 28);
            m[j] ^= 1 << bit;
            if let Ok(ix) = AnnIndex::from_bytes(&reseal(m)) {
                let rows = F32Rows::new(8);
                let _ = ix.search(&[1.0; 8], 5, 20, None, &rows);
                let _ = ix.to_bytes();
            }
        }
    }
}
