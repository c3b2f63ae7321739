//! `Factors`: the body of an ALS or BPR model, one row of `f32` factors per user and per item
//! (row-major), and for BPR one bias per item. The only model kind holding user rows, so the
//! only one [`Factors::remove_users`] changes.

use crate::kernels::{dot, dot_rows, prefetch, wide_fn};
use crate::model::quantized::{QUANTIZE_MIN_ITEMS, QuantItems};
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
    /// The int8 copy of the item rows recommend pre-scans with (derived, not stored in files;
    /// `None` for small catalogues), see [`QuantItems`].
    quant: Option<QuantItems>,
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
        let quant = QuantItems::build(
            &item_factors,
            factors,
            item_bias.as_deref(),
            QUANTIZE_MIN_ITEMS,
        );
        Factors {
            factors,
            users,
            items,
            user_factors,
            item_factors,
            item_bias,
            item_norms,
            quant,
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

    /// `score` of each of `items` (any order, checked by the caller), prefetching the rows a
    /// few items ahead: a re-rank's rows are scattered over the whole matrix, so each would
    /// otherwise wait for memory in turn.
    pub(crate) fn score_many(&self, user: &[f32], items: &[u32]) -> Vec<f32> {
        const AHEAD: usize = 4;
        for &i in items.iter().take(AHEAD) {
            prefetch(self.item_row(i));
        }
        items
            .iter()
            .enumerate()
            .map(|(n, &i)| {
                if let Some(&next) = items.get(n + AHEAD) {
                    prefetch(self.item_row(next));
                }
                self.score(user, i)
            })
            .collect()
    }

    /// Ranks every item not in `exclude` (ascending) into `top`, asking `keep` only of items that
    /// could enter it: the int8 pre-scan where the model has one and the user vector allows it,
    /// else the exact scan; the answer is the exact scan's either way.
    pub(crate) fn rank(
        &self,
        user: &[f32],
        exclude: &[u32],
        keep: &dyn Fn(u32) -> bool,
        top: &mut TopK,
    ) {
        if let Some(q) = &self.quant
            && q.rank(
                &self.item_factors,
                self.factors,
                self.item_bias.as_deref(),
                user,
                exclude,
                keep,
                top,
            )
        {
            return;
        }
        self.rank_exact(user, exclude, keep, top);
    }

    /// Scores every item not in `exclude` (ascending) in f32 into `top`, asking `keep` only of
    /// items that would enter it.
    pub(crate) fn rank_exact(
        &self,
        user: &[f32],
        exclude: &[u32],
        keep: &dyn Fn(u32) -> bool,
        top: &mut TopK,
    ) {
        rank_items(
            &self.item_factors,
            self.factors,
            0,
            self.item_bias.as_deref(),
            user,
            &mut exclude.iter().peekable(),
            keep,
            top,
        );
    }

    /// `rank` for several users at once, best first, the answers `rank`'s for each. With the
    /// int8 copy, its pre-scan for four users per read of the codes; without, block of
    /// items by block of items, so each block of f32 item rows is read from memory once for all
    /// of them (the same scores, the same order of offers to each heap).
    pub(crate) fn rank_group(
        &self,
        users: &[&[f32]],
        exclude: &[&[u32]],
        k: usize,
    ) -> Vec<Vec<(u32, f32)>> {
        if let Some(q) = &self.quant {
            let answers = q.rank_group(
                &self.item_factors,
                self.factors,
                self.item_bias.as_deref(),
                users,
                exclude,
                k,
            );
            return answers
                .into_iter()
                .zip(users.iter().zip(exclude))
                .map(|(answer, (user, exclude))| {
                    answer.unwrap_or_else(|| {
                        let mut top = TopK::new(k);
                        self.rank_exact(user, exclude, &keep_all, &mut top);
                        top.into_sorted()
                    })
                })
                .collect();
        }
        let f = self.factors.max(1);
        let mut tops: Vec<TopK> = users.iter().map(|_| TopK::new(k)).collect();
        let mut skips: Vec<_> = exclude.iter().map(|e| e.iter().peekable()).collect();
        for (b, block) in self.item_factors.chunks(SCORE_BLOCK_ITEMS * f).enumerate() {
            for ((user, skip), top) in users.iter().zip(&mut skips).zip(&mut tops) {
                rank_items(
                    block,
                    self.factors,
                    b * SCORE_BLOCK_ITEMS,
                    self.item_bias.as_deref(),
                    user,
                    skip,
                    &keep_all,
                    top,
                );
            }
        }
        tops.into_iter().map(TopK::into_sorted).collect()
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
            + self.quant.as_ref().map_or(0, QuantItems::heap_bytes)
    }
}

/// Items scored per pass of [`rank_items`] (their scores sit in a buffer on the stack): large
/// enough to amortize the loop overhead, small enough that the rows just read are still in the
/// L1/L2 cache when the batch path scores the next user against them.
pub(crate) const SCORE_BLOCK_ITEMS: usize = 256;

fn keep_all(_: u32) -> bool {
    true
}

wide_fn! {
    /// Scores the items `first..first + rows / f` (row-major `rows`) for `user` into `top`,
    /// skipping those `skip` yields (ascending), and asking `keep` only of items that would enter.
    /// A block at a time: the scores by [`dot_rows`] (four rows per pass, `dot`'s bits), the bias
    /// added (or 0.0, as [`Factors::score`] adds it, so a -0.0 product reads +0.0 alike), then the
    /// heap's pre-test against the current k-th score before its exact test.
    pub(crate) fn rank_items(rows: &[f32], f: usize, first: usize, bias: Option<&[f32]>, user: &[f32], skip: &mut std::iter::Peekable<std::slice::Iter<'_, u32>>, keep: &dyn Fn(u32) -> bool, top: &mut TopK) {
        let f = f.max(1);
        let mut scores = [0f32; SCORE_BLOCK_ITEMS];
        let mut bar = top.bar();
        for (b, block) in rows.chunks(SCORE_BLOCK_ITEMS * f).enumerate() {
            let n = block.len() / f;
            let start = first + b * SCORE_BLOCK_ITEMS;
            let scores = &mut scores[..n];
            dot_rows(user, block, scores);
            match bias {
                Some(bias) => {
                    for (s, &x) in scores.iter_mut().zip(&bias[start..start + n]) {
                        *s += x;
                    }
                }
                None => {
                    for s in scores.iter_mut() {
                        *s += 0.0;
                    }
                }
            }
            scan(scores, start, skip, keep, top, &mut bar);
        }
    }
}

/// Scores per group of [`scan`]'s test: one vector comparison of the group against the bar.
const SCAN_GROUP: usize = 16;

/// `f32::total_cmp`'s order as an `i32` order (the same transform the standard library uses),
/// so a group's test is an integer max the compiler vectorizes.
#[inline(always)]
fn order_key(x: f32) -> i32 {
    let bits = x.to_bits() as i32;
    bits ^ (((bits >> 31) as u32) >> 1) as i32
}

/// Offers the items `start..start + scores.len()` to `top` in ascending order, minus those
/// `skip` yields. Once the heap is full, a group of `SCAN_GROUP` scores none of which beats the
/// k-th (the common case: most of a catalogue) costs one vector compare; otherwise each item
/// of the group goes through the pre-test, the heap's exact test, and `keep`, as before.
#[inline(always)]
fn scan(
    scores: &[f32],
    start: usize,
    skip: &mut std::iter::Peekable<std::slice::Iter<'_, u32>>,
    keep: &dyn Fn(u32) -> bool,
    top: &mut TopK,
    bar: &mut Option<f32>,
) {
    for (g, group) in scores.chunks(SCAN_GROUP).enumerate() {
        let first = start + g * SCAN_GROUP;
        if let Some(b) = *bar {
            let best = group.iter().fold(i32::MIN, |m, &s| m.max(order_key(s)));
            if best <= order_key(b) {
                continue;
            }
        }
        // Exclusions before this group (skipped in groups that had no candidate) are passed.
        while skip.next_if(|&&e| (e as usize) < first).is_some() {}
        for (i, &score) in group.iter().enumerate() {
            let item = (first + i) as u32;
            if skip.next_if_eq(&&item).is_some() {
                continue;
            }
            if TopK::passes(*bar, score) && top.would_keep(item, score) && keep(item) {
                top.push(item, score);
                *bar = top.bar();
            }
        }
    }
}

wide_fn! {
    fn similar_items(item_factors: &[f32], factors: usize, norms: &[f32], item: u32, keep: &dyn Fn(u32) -> bool, top: &mut TopK) {
        let f = factors.max(1);
        let query = &item_factors[item as usize * factors..(item as usize + 1) * factors];
        let norm = norms[item as usize];
        let itself = [item];
        let mut skip = itself.iter().peekable();
        let mut scores = [0f32; SCORE_BLOCK_ITEMS];
        let mut bar = top.bar();
        for (b, block) in item_factors.chunks(SCORE_BLOCK_ITEMS * f).enumerate() {
            let n = block.len() / f;
            let start = b * SCORE_BLOCK_ITEMS;
            let scores = &mut scores[..n];
            dot_rows(query, block, scores);
            for (score, &other_norm) in scores.iter_mut().zip(&norms[start..start + n]) {
                let denominator = norm * other_norm;
                *score = if denominator > 0.0 { *score / denominator } else { 0.0 };
            }
            scan(scores, start, &mut skip, keep, top, &mut bar);
        }
    }
}
