//! `Neighbours`: the body of an item-kNN model, the top-N most similar items of every item
//! (best first). It holds no user rows: a user is scored from the items they interacted with,
//! which the caller passes, so removing a user changes nothing here (their influence on the
//! similarities goes only by retraining on the rebuilt data set).

use crate::model::topk::TopK;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Neighbours {
    /// `neighbours[offsets[i]..offsets[i + 1]]` are item `i`'s neighbours.
    pub(crate) offsets: Vec<usize>,
    pub(crate) neighbours: Vec<u32>,
    pub(crate) similarities: Vec<f32>,
}

impl Neighbours {
    pub(crate) fn items(&self) -> u32 {
        self.offsets.len().saturating_sub(1) as u32
    }

    pub(crate) fn of(&self, item: u32) -> (&[u32], &[f32]) {
        let (start, end) = (self.offsets[item as usize], self.offsets[item as usize + 1]);
        (&self.neighbours[start..end], &self.similarities[start..end])
    }

    /// Adds, for every item of `history`, its neighbours' similarities into `scores` (dense, one
    /// per item), returning the items reached in first-reached order.
    pub(crate) fn accumulate(&self, history: &[u32], scores: &mut [f32]) -> Vec<u32> {
        let mut reached = Vec::new();
        for &item in history {
            let (ns, ss) = self.of(item);
            for (&n, &s) in ns.iter().zip(ss) {
                let slot = &mut scores[n as usize];
                if *slot == 0.0 {
                    reached.push(n);
                }
                *slot += s;
            }
        }
        reached
    }

    /// Ranks the items reached from `history` (a user's score for an item is the sum of its
    /// similarities to the user's items; items reached by none score nothing and are left out).
    pub(crate) fn rank(
        &self,
        history: &[u32],
        exclude: &[u32],
        keep: &dyn Fn(u32) -> bool,
        top: &mut TopK,
    ) {
        let mut scores = vec![0f32; self.items() as usize];
        for item in self.accumulate(history, &mut scores) {
            let score = scores[item as usize];
            if exclude.binary_search(&item).is_err() && top.would_keep(item, score) && keep(item) {
                top.push(item, score);
            }
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * 8
            + self.neighbours.capacity() * 4
            + self.similarities.capacity() * 4
    }
}
