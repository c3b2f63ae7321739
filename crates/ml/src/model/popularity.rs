//! `Popularity`: the body of a popularity model, one score per item (summed, optionally
//! time-decayed weights). Non-personalized: it holds no user rows and ranks the same for
//! everyone, minus what each user has already seen; it is also the evaluation baseline.

use crate::model::topk::TopK;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Popularity {
    pub(crate) scores: Vec<f32>,
}

impl Popularity {
    pub(crate) fn rank(&self, exclude: &[u32], keep: &dyn Fn(u32) -> bool, top: &mut TopK) {
        let mut skip = exclude.iter().peekable();
        for (item, &score) in self.scores.iter().enumerate() {
            let item = item as u32;
            if skip.next_if_eq(&&item).is_some() {
                continue;
            }
            if top.would_keep(item, score) && keep(item) {
                top.push(item, score);
            }
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.scores.capacity() * 4
    }
}
