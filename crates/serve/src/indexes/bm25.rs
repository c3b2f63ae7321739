//! BM25 over the same texts as the vectors, for hybrid search: a document keeps its terms as
//! 32-bit hashes with counts (no text), and an inverted list per term hash finds candidates.
//! Hybrid results fuse the vector ranking and the BM25 ranking by reciprocal rank (k = 60),
//! which needs no score calibration between the two.

use std::collections::HashMap;

/// BM25's parameters (the usual ones).
const K1: f32 = 1.2;
const B: f32 = 0.75;
/// Reciprocal rank fusion's constant.
pub const RRF_K: f32 = 60.0;
/// Distinct terms kept per document (longer texts keep their first ones).
pub const TERMS_PER_DOC_MAX: usize = 512;

/// FNV-1a over the term's bytes: stable across versions and platforms (it is persisted).
fn term_hash(term: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in term.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Lower-cased alphanumeric runs of two or more characters, hashed, with counts; and the
/// number of terms.
pub fn terms(text: &str) -> (Vec<(u32, u16)>, u32) {
    let mut counts: HashMap<u32, u16> = HashMap::new();
    let mut order = Vec::new();
    let mut total = 0u32;
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
    {
        total = total.saturating_add(1);
        let h = term_hash(&word.to_lowercase());
        let distinct = counts.len();
        match counts.get_mut(&h) {
            Some(c) => *c = c.saturating_add(1),
            None if distinct < TERMS_PER_DOC_MAX => {
                counts.insert(h, 1);
                order.push(h);
            }
            None => {}
        }
    }
    (order.into_iter().map(|h| (h, counts[&h])).collect(), total)
}

/// The inverted lists and length statistics of one index.
#[derive(Default)]
pub struct Bm25 {
    postings: HashMap<u32, Vec<(u64, u16)>>,
    lengths: HashMap<u64, u32>,
    total_length: u64,
}

impl Bm25 {
    pub fn add(&mut self, id: u64, terms: &[(u32, u16)], length: u32) {
        for &(t, tf) in terms {
            self.postings.entry(t).or_default().push((id, tf));
        }
        self.lengths.insert(id, length);
        self.total_length += u64::from(length);
    }

    pub fn remove(&mut self, id: u64, terms: &[(u32, u16)]) {
        for (t, _) in terms {
            if let Some(list) = self.postings.get_mut(t) {
                list.retain(|&(d, _)| d != id);
                if list.is_empty() {
                    self.postings.remove(t);
                }
            }
        }
        if let Some(length) = self.lengths.remove(&id) {
            self.total_length -= u64::from(length);
        }
    }

    /// The `n` best documents `admit` keeps for the query text, best first.
    pub fn search(&self, query: &str, n: usize, admit: &dyn Fn(u64) -> bool) -> Vec<(u64, f32)> {
        let docs = self.lengths.len() as f32;
        if docs == 0.0 {
            return Vec::new();
        }
        let average = (self.total_length as f32 / docs).max(1.0);
        let (query_terms, _) = terms(query);
        let mut scores: HashMap<u64, f32> = HashMap::new();
        for (t, _) in query_terms {
            let Some(list) = self.postings.get(&t) else {
                continue;
            };
            let df = list.len() as f32;
            let idf = ((docs - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(id, tf) in list {
                let length = self.lengths.get(&id).copied().unwrap_or(0) as f32;
                let tf = f32::from(tf);
                let s = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length / average));
                *scores.entry(id).or_insert(0.0) += s;
            }
        }
        let mut ranked: Vec<(u64, f32)> = scores.into_iter().filter(|&(id, _)| admit(id)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(n);
        ranked
    }
}

/// Reciprocal rank fusion of rankings (best first): ids with their fused score, best first.
pub fn fuse(rankings: &[Vec<u64>], k: usize) -> Vec<(u64, f32)> {
    let mut fused: HashMap<u64, f32> = HashMap::new();
    for ranking in rankings {
        for (rank, &id) in ranking.iter().enumerate() {
            *fused.entry(id).or_insert(0.0) += 1.0 / (RRF_K + rank as f32 + 1.0);
        }
    }
    let mut out: Vec<(u64, f32)> = fused.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(k);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_lowercased_counted_and_bounded() {
        let (t, n) = terms("Refund, refund! a REFUND of 42 euros");
        assert_eq!(n, 6, "one-letter words are dropped");
        assert_eq!(t[0], (term_hash("refund"), 3));
        let long: String = (0..2000).map(|i| format!("w{i} ")).collect();
        assert_eq!(terms(&long).0.len(), TERMS_PER_DOC_MAX);
    }

    #[test]
    fn bm25_ranks_the_matching_document_first_and_forgets_removed_ones() {
        let mut index = Bm25::default();
        let docs = [
            (1, "the parcel never arrived"),
            (2, "charged twice for my subscription, refund please"),
            (3, "refund the parcel shipping cost"),
        ];
        for (id, text) in docs {
            let (t, n) = terms(text);
            index.add(id, &t, n);
        }
        let all = |_: u64| true;
        let hits = index.search("subscription refund", 3, &all);
        assert_eq!(hits[0].0, 2, "{hits:?}");
        assert_eq!(hits.len(), 2, "only documents with a query term: {hits:?}");
        let (t, _) = terms(docs[1].1);
        index.remove(2, &t);
        let hits = index.search("subscription refund", 3, &all);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![3]);
        assert!(
            index.search("refund", 3, &|id| id != 3).is_empty(),
            "the filter applies"
        );
    }

    #[test]
    fn fusion_rewards_agreement() {
        let fused = fuse(&[vec![1, 2, 3], vec![3, 1, 4]], 3);
        assert_eq!(fused[0].0, 1);
        assert_eq!(fused[1].0, 3);
    }
}
