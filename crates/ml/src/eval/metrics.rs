//! Ranking metrics of one user at one cutoff, and their averages.
//!
//! Binary relevance: an item is relevant when it is among the user's held-out entries (R). With
//! L the model's ranking (training items already excluded) and hits@k = |L[..k] ∩ R|:
//! - precision@k = hits@k / k — the textbook definition, k even when fewer than k items could be
//!   ranked. (`implicit`'s `ranking_metrics_at_k` calls hits / min(k, |R|) "precision" and sums
//!   over users before dividing; ours is that quantity's per-user mean, under the name recall.)
//! - recall@k = hits@k / min(k, |R|) — capped so a perfect ranking scores 1 even when a user
//!   holds out more than k items; plain hits / |R| would punish a model for k being small.
//! - NDCG@k = DCG / IDCG with DCG = Σ over hits at 0-based rank r < k of 1 / log2(r + 2) and the
//!   ideal DCG over the first min(k, |R|) ranks.
//! - AP@k = (1 / min(k, |R|)) Σ over hits at rank r < k of hits@(r + 1) / (r + 1); MAP@k its mean.
//! - coverage@k = distinct items in any evaluated user's top k / catalogue size.
//!
//! Every per-user metric is averaged over evaluated users (users with at least one held-out and
//! one training entry), each user counting once.

/// Per-user sums at one cutoff.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sums {
    pub(crate) recall: f64,
    pub(crate) precision: f64,
    pub(crate) ndcg: f64,
    pub(crate) ap: f64,
}

impl Sums {
    pub(crate) fn add(&mut self, other: &Sums) {
        self.recall += other.recall;
        self.precision += other.precision;
        self.ndcg += other.ndcg;
        self.ap += other.ap;
    }
}

/// One user's metrics at cutoff `k` (k ≥ 1), `ranked` best first (any length), `relevant`
/// ascending and non-empty.
pub(crate) fn at_k(ranked: &[u32], relevant: &[u32], k: usize) -> Sums {
    let ideal = k.min(relevant.len());
    let (mut hits, mut dcg, mut precision_sum) = (0usize, 0f64, 0f64);
    for (r, item) in ranked.iter().take(k).enumerate() {
        if relevant.binary_search(item).is_ok() {
            hits += 1;
            dcg += 1.0 / ((r + 2) as f64).log2();
            precision_sum += hits as f64 / (r + 1) as f64;
        }
    }
    let idcg: f64 = (0..ideal).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
    let ideal = ideal.max(1) as f64;
    Sums {
        recall: hits as f64 / ideal,
        precision: hits as f64 / k as f64,
        ndcg: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        ap: precision_sum / ideal,
    }
}

/// Metrics at one cutoff, averaged over evaluated users.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricsAtK {
    pub k: usize,
    pub recall: f64,
    pub precision: f64,
    pub ndcg: f64,
    pub map: f64,
    pub coverage: f64,
}

/// Metrics at every requested cutoff.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Users whose rankings were scored (held-out and training entries both present, and in the
    /// sample if one was asked for).
    pub users_evaluated: u32,
    /// Users with held-out entries but no training entry, left out (not produced by [`super::split`]).
    pub users_cold: u32,
    /// Ascending by k.
    pub at: Vec<MetricsAtK>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// Worked by hand (0-based ranks; log2(2) = 1, log2(3) = 1.5849625, log2(4) = 2):
    /// A: R = {2, 5}, L = [5, 1, 2, 7]
    ///   k=1: hit at 0. P = 1/1, recall = 1/min(1,2) = 1, DCG = 1, IDCG = 1 → 1, AP = (1/1)(1/1) = 1
    ///   k=3: hits at 0 and 2. P = 2/3, recall = 2/min(3,2) = 1,
    ///        DCG = 1 + 1/2 = 1.5, IDCG = 1 + 1/1.5849625 = 1.6309298 → NDCG 0.9197208,
    ///        AP = (1/2)(1/1 + 2/3) = 0.8333333
    /// B: R = {7}, L = [1, 2, 3]: no hits, everything 0 at both k
    /// C: R = {1, 2, 3, 4}, L = [4, 9, 8]
    ///   k=1: hit at 0: P = 1, recall = 1/min(1,4) = 1, NDCG = 1, AP = 1
    ///   k=3: hit at 0: P = 1/3, recall = 1/min(3,4) = 1/3,
    ///        DCG = 1, IDCG = 1 + 0.6309298 + 0.5 = 2.1309298 → NDCG 0.4692787, AP = (1/3)(1/1)
    /// Means k=1: P = R = NDCG = MAP = 2/3.
    /// Means k=3: P = (2/3 + 0 + 1/3)/3 = 1/3, recall = (1 + 0 + 1/3)/3 = 0.4444444,
    ///            NDCG = (0.9197208 + 0.4692787)/3 = 0.4629998, MAP = (0.8333333 + 1/3)/3 = 0.3888889
    #[test]
    fn every_metric_matches_a_case_worked_by_hand() {
        let users: [(&[u32], &[u32]); 3] = [
            (&[5, 1, 2, 7], &[2, 5]),
            (&[1, 2, 3], &[7]),
            (&[4, 9, 8], &[1, 2, 3, 4]),
        ];
        let mean = |k: usize| {
            let mut s = Sums::default();
            for (ranked, relevant) in users {
                s.add(&at_k(ranked, relevant, k));
            }
            (s.precision / 3.0, s.recall / 3.0, s.ndcg / 3.0, s.ap / 3.0)
        };
        let a3 = at_k(&[5, 1, 2, 7], &[2, 5], 3);
        assert!(
            close(a3.precision, 2.0 / 3.0)
                && close(a3.recall, 1.0)
                && close(a3.ndcg, 0.9197208)
                && close(a3.ap, 0.8333333),
            "{a3:?}"
        );
        let c3 = at_k(&[4, 9, 8], &[1, 2, 3, 4], 3);
        assert!(
            close(c3.precision, 1.0 / 3.0)
                && close(c3.recall, 1.0 / 3.0)
                && close(c3.ndcg, 0.4692787)
                && close(c3.ap, 1.0 / 3.0),
            "{c3:?}"
        );
        let (p, r, n, m) = mean(1);
        assert!(
            close(p, 2.0 / 3.0)
                && close(r, 2.0 / 3.0)
                && close(n, 2.0 / 3.0)
                && close(m, 2.0 / 3.0)
        );
        let (p, r, n, m) = mean(3);
        assert!(
            close(p, 1.0 / 3.0)
                && close(r, 0.4444444)
                && close(n, 0.4629998)
                && close(m, 0.3888889),
            "{p} {r} {n} {m}"
        );
    }

    #[test]
    fn short_rankings_still_divide_precision_by_k() {
        let s = at_k(&[3], &[3], 5);
        assert_eq!((s.precision, s.recall, s.ndcg, s.ap), (0.2, 1.0, 1.0, 1.0));
        assert_eq!(at_k(&[], &[3], 5), Sums::default());
    }
}
