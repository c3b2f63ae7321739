//! `TopK`: the k best (item, score) pairs of a scan, in a bounded heap, so scoring the whole
//! catalogue costs O(items · log k) and never sorts it.
//!
//! Order is total and deterministic: higher score first, and on equal scores the lower item
//! index. NaN scores are never kept.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Heap entry ordered so that the *worst* kept entry is the heap's top.
#[derive(Debug, Clone, Copy)]
struct Entry {
    score: f32,
    item: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Greater = worse: a lower score, or the same score and a higher item index.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.item.cmp(&other.item))
    }
}

pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.saturating_add(1)),
        }
    }

    /// The `k` it keeps.
    pub(crate) fn capacity(&self) -> usize {
        self.k
    }

    /// Whether (item, score) would be kept now; lets a caller skip an expensive filter.
    #[inline]
    pub(crate) fn would_keep(&self, item: u32, score: f32) -> bool {
        if score.is_nan() || self.k == 0 {
            return false;
        }
        if self.heap.len() < self.k {
            return true;
        }
        self.heap
            .peek()
            .is_some_and(|worst| Entry { score, item } < *worst)
    }

    /// The score a candidate must beat (in `f32::total_cmp` order) to have a chance, for scans
    /// in ascending item order: `None` while the heap has room; once it is full, the worst
    /// kept score, which a later item (a higher index) must exceed strictly, ties going to the
    /// lower index. A positive NaN (above everything) when `k` is 0. A cheap pre-test only:
    /// [`TopK::would_keep`] stays the exact one.
    #[inline]
    pub(crate) fn bar(&self) -> Option<f32> {
        if self.k == 0 {
            return Some(f32::NAN);
        }
        if self.heap.len() < self.k {
            return None;
        }
        self.heap.peek().map(|worst| worst.score)
    }

    /// Whether `score` passes [`TopK::bar`]'s pre-test.
    #[inline(always)]
    pub(crate) fn passes(bar: Option<f32>, score: f32) -> bool {
        bar.is_none_or(|b| score.total_cmp(&b).is_gt())
    }

    /// Offers (item, score); keeps it if it is among the k best so far.
    #[inline]
    pub(crate) fn push(&mut self, item: u32, score: f32) {
        if !self.would_keep(item, score) {
            return;
        }
        if self.heap.len() == self.k {
            self.heap.pop();
        }
        self.heap.push(Entry { score, item });
    }

    /// Best first.
    pub(crate) fn into_sorted(self) -> Vec<(u32, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| (e.item, e.score))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_k_best_with_ties_to_the_lower_index() {
        let mut top = TopK::new(3);
        for (item, score) in [
            (0, 1.0),
            (1, 5.0),
            (2, f32::NAN),
            (3, 5.0),
            (4, 2.0),
            (5, 1.5),
            (6, 2.0),
        ] {
            top.push(item, score);
        }
        assert_eq!(top.into_sorted(), vec![(1, 5.0), (3, 5.0), (4, 2.0)]);
        let mut none = TopK::new(0);
        none.push(1, 1.0);
        assert!(none.into_sorted().is_empty());
        let mut more = TopK::new(10);
        more.push(2, 1.0);
        more.push(1, 1.0);
        assert_eq!(more.into_sorted(), vec![(1, 1.0), (2, 1.0)]);
    }
}
