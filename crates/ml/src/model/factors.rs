//! `Factors`: the body of an ALS or BPR model, one row of `f32` factors per user and per item
//! (row-major), and for BPR one bias per item. The only model kind holding user rows, so the
//! only one [`Factors::remove_users`] changes.

use crate::kernels::{dot, wide_fn};
use crate::model::topk::TopK;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Factors {
    pub(crate) factors: usize,
    pub(crate) users: u32,
    pub(crate) items: u32,
    pub(crate) user_factors: Vec<f32>,
    pub(crate) item_factors: Vec<f32>,
    pub(crate) item_bias: Option<Vec<f32>>,
    /// Euclidean norms of the item rows, derived (not stored in files) for cosine similar-items.
    item_norms: Vec<f32>,
}

impl Factors {
    /// `user_factors.len() == users * factors`, `item_factors.len() == items * factors` and the
    /// bias (if any) has one entry per item: checked by the callers (trainers and the file reader).
    pub(crate) fn new(
        factors: usize,
        users: u32,
        items: u32,
        user_factors: Vec<f32>,
        item_factors: Vec<f32>,
        item_bias: Option<Vec<f32>>,
    ) -> Factors {
        let item_norms = item_factors
            .chunks_exact(factors.max(1))
            .map(|row| dot(row, row).sqrt())
            .collect();
        Factors {
            factors,
            users,
            items,
            user_factors,
            item_factors,
            item_bias,
            item_norms,
        }
    }

    pub(crate) fn user_row(&self, row: u32) -> &[f32] {
        let f = self.factors;
        &self.user_factors[row as usize * f..(row as usize + 1) * f]
    }

    fn item_row(&self, item: u32) -> &[f32] {
        let f = self.factors;
        &self.item_factors[item as usize * f..(item as usize + 1) * f]
    }

    #[inline]
    pub(crate) fn score(&self, user: &[f32], item: u32) -> f32 {
        let bias = self.item_bias.as_ref().map_or(0.0, |b| b[item as usize]);
        dot(user, self.item_row(item)) + bias
    }

    /// Scores every item not in `exclude` (ascending) into `top`, asking `keep` only of items that
    /// would enter it.
    pub(crate) fn rank(
        &self,
        user: &[f32],
        exclude: &[u32],
        keep: &dyn Fn(u32) -> bool,
        top: &mut TopK,
    ) {
        rank_items(
            &self.item_factors,
            self.factors,
            self.item_bias.as_deref(),
            user,
            exclude,
            keep,
            top,
        );
    }

    /// Cosine similarity of `item` to every other item (factors only, bias left out).
    pub(crate) fn similar(&self, item: u32, keep: &dyn Fn(u32) -> bool, top: &mut TopK) {
        similar_items(
            &self.item_factors,
            self.factors,
            &self.item_norms,
            item,
            keep,
            top,
        );
    }

    /// Removes the rows in `rows` (strictly ascending, each < users, checked by the caller): later
    /// rows move down, and the freed tail is zeroed before the buffer shrinks, so no copy of a
    /// removed row stays in this model's memory (its old allocation is released, not scrubbed,
    /// by `shrink_to_fit`; see ModelFile's doc).
    pub(crate) fn remove_users(&mut self, rows: &[u32]) {
        let f = self.factors;
        let mut write = 0usize;
        let mut removed = rows.iter().peekable();
        for read in 0..self.users as usize {
            if removed.next_if_eq(&&(read as u32)).is_some() {
                continue;
            }
            if write != read {
                self.user_factors
                    .copy_within(read * f..(read + 1) * f, write * f);
            }
            write += 1;
        }
        self.user_factors[write * f..].fill(0.0);
        self.user_factors.truncate(write * f);
        self.user_factors.shrink_to_fit();
        self.users = write as u32;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        4 * (self.user_factors.capacity()
            + self.item_factors.capacity()
            + self.item_norms.capacity()
            + self.item_bias.as_ref().map_or(0, Vec::capacity))
    }
}

wide_fn! {
    fn rank_items(item_factors: &[f32], factors: usize, bias: Option<&[f32]>, user: &[f32], exclude: &[u32], keep: &dyn Fn(u32) -> bool, top: &mut TopK) {
        let mut skip = exclude.iter().peekable();
        for (item, row) in item_factors.chunks_exact(factors.max(1)).enumerate() {
            let item = item as u32;
            if skip.next_if_eq(&&item).is_some() {
                continue;
            }
            let score = dot(user, row) + bias.map_or(0.0, |b| b[item as usize]);
            if top.would_keep(item, score) && keep(item) {
                top.push(item, score);
            }
        }
    }
}

wide_fn! {
    fn similar_items(item_factors: &[f32], factors: usize, norms: &[f32], item: u32, keep: &dyn Fn(u32) -> bool, top: &mut TopK) {
        let query = &item_factors[item as usize * factors..(item as usize + 1) * factors];
        let norm = norms[item as usize];
        for (other, row) in item_factors.chunks_exact(factors.max(1)).enumerate() {
            let other = other as u32;
            if other == item {
                continue;
            }
            let denominator = norm * norms[other as usize];
            let score = if denominator > 0.0 { dot(query, row) / denominator } else { 0.0 };
            if top.would_keep(other, score) && keep(other) {
                top.push(other, score);
            }
        }
    }
}
