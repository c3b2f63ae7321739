//! `Model`: a trained model of any of the four kinds behind one API — recommend (full-catalogue
//! scoring into a bounded heap; one user or a batch), similar items, re-rank scores, fold-in of
//! a user vector from interactions, and removal of user rows.
//!
//! Indices are the dense ones of the training matrix; the caller maps keys with the
//! [`crate::IdMap`]s it kept (or a [`crate::ModelFile`]'s). A user is given as a [`UserRef`]:
//! ALS and BPR read the user's row of factors or a vector the caller holds (folded in),
//! item-kNN reads the items the user interacted with, popularity reads neither. A call
//! allocates at most O(items) (a batch: O(items) per thread plus its answers; a fold-in
//! O(factors²), 8 MiB at `FACTORS_MAX`).

mod factors;
mod foldin;
mod knn;
mod popularity;
mod quantized;
pub(crate) mod topk;

pub(crate) use factors::Factors;
pub use foldin::{BPR_FOLD_IN_ALPHA, FoldIn};
pub(crate) use knn::Neighbours;
pub(crate) use popularity::Popularity;

use crate::error::ModelError;
use crate::idmap::check_ascending_within;
use crate::limits::{BATCH_USERS_MAX, FOLD_IN_ITEMS_MAX, K_MAX, THREADS_MAX};
use crate::parallel::map_tasks;
use crate::params::{Algorithm, Params};
use topk::TopK;

/// Who to recommend for: the user's row in the model (ALS, BPR), a vector of factors that is not
/// a stored row (one folded in at request time, [`Model::fold_in`]), and/or the items they
/// interacted with, strictly ascending (item-kNN). Popularity needs none. ALS and BPR use
/// `vector` when it is given, else `row`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserRef<'a> {
    pub row: Option<u32>,
    pub items: &'a [u32],
    /// `factors()` finite values; checked by every call that reads it.
    pub vector: Option<&'a [f32]>,
}

impl<'a> UserRef<'a> {
    pub fn row(row: u32) -> UserRef<'a> {
        UserRef {
            row: Some(row),
            ..UserRef::default()
        }
    }

    pub fn items(items: &'a [u32]) -> UserRef<'a> {
        UserRef {
            items,
            ..UserRef::default()
        }
    }

    /// A user given by a vector of factors (`Model::factors()` finite values).
    pub fn vector(vector: &'a [f32]) -> UserRef<'a> {
        UserRef {
            vector: Some(vector),
            ..UserRef::default()
        }
    }
}

/// A business filter: `true` keeps the item. Called only for items that would enter the top k.
pub type ItemFilter<'a> = &'a dyn Fn(u32) -> bool;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Factors(Factors),
    Neighbours(Neighbours),
    Popularity(Popularity),
}

/// A trained model: its parameters, the seed it was trained with, and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    params: Params,
    seed: u64,
    body: Body,
}

fn keep_all(_: u32) -> bool {
    true
}

/// Users scored together against each block of item rows by [`Model::recommend_many`]: their
/// vectors and heaps stay in cache while a block (`SCORE_BLOCK_ITEMS` rows) is read once.
const BATCH_GROUP_USERS: usize = 16;

impl Model {
    /// `body` must match `params`' algorithm (factors for ALS/BPR, with a bias exactly for BPR):
    /// the trainers and the file reader build it so.
    pub(crate) fn new(params: Params, seed: u64, body: Body) -> Model {
        Model { params, seed, body }
    }

    /// An ALS or BPR model from factors trained elsewhere (another library, an older export),
    /// so it can be evaluated and served like one trained here: `user_factors` is
    /// `users x params.factors()` and `item_factors` `items x params.factors()`, row-major;
    /// `item_bias` has one entry per item, given exactly for BPR. Every value must be finite.
    pub fn from_factors(
        params: Params,
        seed: u64,
        users: u32,
        items: u32,
        user_factors: Vec<f32>,
        item_factors: Vec<f32>,
        item_bias: Option<Vec<f32>>,
    ) -> Result<Model, ModelError> {
        let bad = |what| Err(ModelError::BadFactors { what });
        if !params.algorithm().has_user_rows() {
            return Err(ModelError::Unsupported {
                algorithm: params.algorithm(),
                operation: "building from factors",
            });
        }
        if params.validate().is_err() {
            return bad("the parameters are out of range");
        }
        let f = params.factors() as usize;
        if user_factors.len() as u64 != u64::from(users) * f as u64
            || item_factors.len() as u64 != u64::from(items) * f as u64
        {
            return bad("a factor matrix does not have rows x factors values");
        }
        match (&item_bias, params.algorithm()) {
            (Some(b), Algorithm::Bpr) if b.len() == items as usize => {}
            (None, Algorithm::Als) => {}
            _ => return bad("BPR needs one bias per item, ALS none"),
        }
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if !finite(&user_factors)
            || !finite(&item_factors)
            || !item_bias.as_deref().is_none_or(finite)
        {
            return bad("a value is not finite");
        }
        Ok(Model::new(
            params,
            seed,
            Body::Factors(Factors::new(
                f,
                users,
                items,
                user_factors,
                item_factors,
                item_bias,
            )),
        ))
    }

    pub(crate) fn body(&self) -> &Body {
        &self.body
    }

    pub fn algorithm(&self) -> Algorithm {
        self.params.algorithm()
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// User rows held (0 for item-kNN and popularity, which hold none).
    pub fn user_count(&self) -> u32 {
        match &self.body {
            Body::Factors(f) => f.users,
            _ => 0,
        }
    }

    pub fn item_count(&self) -> u32 {
        match &self.body {
            Body::Factors(f) => f.items,
            Body::Neighbours(n) => n.items(),
            Body::Popularity(p) => p.scores.len() as u32,
        }
    }

    /// Factors per row (0 for item-kNN and popularity).
    pub fn factors(&self) -> usize {
        match &self.body {
            Body::Factors(f) => f.factors,
            _ => 0,
        }
    }

    /// All user factors, row-major (`user_count() x factors()`); `None` for models without.
    pub fn user_factors(&self) -> Option<&[f32]> {
        match &self.body {
            Body::Factors(f) => Some(&f.user_factors),
            _ => None,
        }
    }

    /// All item factors, row-major (`item_count() x factors()`); `None` for models without.
    pub fn item_factors(&self) -> Option<&[f32]> {
        match &self.body {
            Body::Factors(f) => Some(&f.item_factors),
            _ => None,
        }
    }

    /// BPR's item biases.
    pub fn item_bias(&self) -> Option<&[f32]> {
        match &self.body {
            Body::Factors(f) => f.item_bias.as_deref(),
            _ => None,
        }
    }

    /// Item-kNN's neighbours of `item`, best first.
    pub fn neighbours(&self, item: u32) -> Option<(&[u32], &[f32])> {
        match &self.body {
            Body::Neighbours(n) if item < n.items() => Some(n.of(item)),
            _ => None,
        }
    }

    /// Popularity's per-item scores.
    pub fn popularity(&self) -> Option<&[f32]> {
        match &self.body {
            Body::Popularity(p) => Some(&p.scores),
            _ => None,
        }
    }

    fn check_k(k: usize) -> Result<(), ModelError> {
        if k > K_MAX {
            Err(ModelError::KTooLarge { k, max: K_MAX })
        } else {
            Ok(())
        }
    }

    fn check_items(&self, items: &[u32], what: &'static str) -> Result<(), ModelError> {
        let count = self.item_count();
        if let Some(&item) = items.iter().find(|&&i| i >= count) {
            return Err(ModelError::UnknownItem { item, items: count });
        }
        check_ascending_within(items, count as usize).map_err(|_| ModelError::NotAscending { what })
    }

    /// The vector ALS and BPR score `user` with: `user.vector` (checked: `factors()` finite
    /// values), else the stored row `user.row`.
    fn user_vector<'m>(&self, f: &'m Factors, user: UserRef<'m>) -> Result<&'m [f32], ModelError> {
        if let Some(vector) = user.vector {
            if vector.len() != f.factors {
                return Err(ModelError::BadUserVector {
                    length: vector.len(),
                    factors: f.factors,
                });
            }
            if let Some(position) = vector.iter().position(|v| !v.is_finite()) {
                return Err(ModelError::UserVectorNotFinite { position });
            }
            return Ok(vector);
        }
        match user.row {
            None => Err(ModelError::NeedsUserRow {
                algorithm: self.algorithm(),
            }),
            Some(row) if row >= f.users => Err(ModelError::UnknownUser {
                row,
                users: f.users,
            }),
            Some(row) => Ok(f.user_row(row)),
        }
    }

    /// The `k` best items for `user`, best first, none of `exclude` (strictly ascending; pass
    /// the user's seen items to exclude them), each passing `filter`. Every item is scored; ties
    /// go to the lower index. Fewer than `k` come back when fewer qualify (item-kNN returns only
    /// items reachable from the user's items).
    pub fn recommend(
        &self,
        user: UserRef<'_>,
        k: usize,
        exclude: &[u32],
        filter: Option<ItemFilter<'_>>,
    ) -> Result<Vec<(u32, f32)>, ModelError> {
        Self::check_k(k)?;
        self.check_items(exclude, "exclude")?;
        let keep = filter.unwrap_or(&keep_all);
        let mut top = TopK::new(k);
        match &self.body {
            Body::Factors(f) => f.rank(self.user_vector(f, user)?, exclude, keep, &mut top),
            Body::Neighbours(n) => {
                self.check_items(user.items, "the user's items")?;
                n.rank(user.items, exclude, keep, &mut top);
            }
            Body::Popularity(p) => p.rank(exclude, keep, &mut top),
        }
        Ok(top.into_sorted())
    }

    /// [`Model::recommend`] for many users at once, without a filter: `exclude` is empty (no
    /// exclusions) or one strictly ascending list per user. Answers are exactly those of single
    /// calls, in the order of `users`. ALS and BPR over a large catalogue pre-scan the int8 copy
    /// of the item rows per user (a quarter of the f32 traffic); over a small one they score
    /// groups of `BATCH_GROUP_USERS` users against each block of f32 item rows while it is in
    /// cache. Groups run on up to `threads` threads (the answers do not depend on it). Every input is checked before any work.
    pub fn recommend_many(
        &self,
        users: &[UserRef<'_>],
        k: usize,
        exclude: &[&[u32]],
        threads: usize,
    ) -> Result<Vec<Vec<(u32, f32)>>, ModelError> {
        Self::check_k(k)?;
        if users.len() > BATCH_USERS_MAX {
            return Err(ModelError::BadBatch {
                what: "more users than BATCH_USERS_MAX",
            });
        }
        if !(1..=THREADS_MAX).contains(&threads) {
            return Err(ModelError::BadBatch {
                what: "threads must be between 1 and THREADS_MAX",
            });
        }
        if !exclude.is_empty() && exclude.len() != users.len() {
            return Err(ModelError::BadBatch {
                what: "exclude must be empty or hold one list per user",
            });
        }
        for list in exclude {
            self.check_items(list, "exclude")?;
        }
        let none: &[u32] = &[];
        let excluded = |u: usize| exclude.get(u).copied().unwrap_or(none);
        let Body::Factors(f) = &self.body else {
            if let Body::Neighbours(_) = &self.body {
                for user in users {
                    self.check_items(user.items, "the user's items")?;
                }
            }
            let tasks: Vec<usize> = (0..users.len()).collect();
            return map_tasks(
                tasks,
                threads,
                || (),
                |_, _, u| self.recommend(users[u], k, excluded(u), None),
            )
            .into_iter()
            .collect();
        };
        let vectors = users
            .iter()
            .map(|&user| self.user_vector(f, user))
            .collect::<Result<Vec<&[f32]>, ModelError>>()?;
        let groups: Vec<usize> = (0..vectors.len().div_ceil(BATCH_GROUP_USERS)).collect();
        let answers = map_tasks(
            groups,
            threads,
            || (),
            |_, _, g| {
                let range = g * BATCH_GROUP_USERS..((g + 1) * BATCH_GROUP_USERS).min(vectors.len());
                let lists: Vec<&[u32]> = range.clone().map(excluded).collect();
                f.rank_group(&vectors[range], &lists, k)
            },
        );
        Ok(answers.into_iter().flatten().collect())
    }

    /// The `k` items most similar to `item` (cosine of factors for ALS/BPR, the stored
    /// neighbours for item-kNN), best first, never `item` itself. Popularity has no notion of
    /// similarity and answers `Unsupported`.
    pub fn similar_items(
        &self,
        item: u32,
        k: usize,
        filter: Option<ItemFilter<'_>>,
    ) -> Result<Vec<(u32, f32)>, ModelError> {
        Self::check_k(k)?;
        let items = self.item_count();
        if item >= items {
            return Err(ModelError::UnknownItem { item, items });
        }
        let keep = filter.unwrap_or(&keep_all);
        let mut top = TopK::new(k);
        match &self.body {
            Body::Factors(f) => f.similar(item, keep, &mut top),
            Body::Neighbours(n) => {
                let (ns, ss) = n.of(item);
                for (&other, &score) in ns.iter().zip(ss) {
                    if top.would_keep(other, score) && keep(other) {
                        top.push(other, score);
                    }
                }
            }
            Body::Popularity(_) => {
                return Err(ModelError::Unsupported {
                    algorithm: self.algorithm(),
                    operation: "similar items",
                });
            }
        }
        Ok(top.into_sorted())
    }

    /// Scores of `items` (any order, repeats allowed) for `user`, in the order given: the
    /// re-rank primitive. The same scores `recommend` ranks by (0 for an item-kNN item not reached).
    pub fn score(&self, user: UserRef<'_>, items: &[u32]) -> Result<Vec<f32>, ModelError> {
        let count = self.item_count();
        if items.len() > K_MAX {
            return Err(ModelError::KTooLarge {
                k: items.len(),
                max: K_MAX,
            });
        }
        if let Some(&item) = items.iter().find(|&&i| i >= count) {
            return Err(ModelError::UnknownItem { item, items: count });
        }
        match &self.body {
            Body::Factors(f) => {
                let vector = self.user_vector(f, user)?;
                Ok(f.score_many(vector, items))
            }
            Body::Neighbours(n) => {
                self.check_items(user.items, "the user's items")?;
                let mut scores = vec![0f32; count as usize];
                n.accumulate(user.items, &mut scores);
                Ok(items.iter().map(|&i| scores[i as usize]).collect())
            }
            Body::Popularity(p) => Ok(items.iter().map(|&i| p.scores[i as usize]).collect()),
        }
    }

    /// What [`Model::fold_in`] needs of the item side (YᵀY), computed once:
    /// items · f² / 2 multiply-adds. The caller keeps it with the model. Item-kNN and popularity
    /// answer `Unsupported` (item-kNN ranks from the user's items directly, popularity needs no user).
    pub fn fold_in_prep(&self) -> Result<FoldIn, ModelError> {
        match &self.body {
            Body::Factors(f) => Ok(FoldIn::new(f)),
            _ => Err(ModelError::Unsupported {
                algorithm: self.algorithm(),
                operation: "fold-in",
            }),
        }
    }

    /// A user vector for ALS or BPR from the user's interactions `(item, weight)` (any order),
    /// solved against the model's fixed item factors: for ALS exactly the system ALS solves for
    /// a user row, (YᵀY + λI + Σ (c_i − 1) y_i y_iᵀ) x = Σ c_i y_i with c_i = 1 + α·w_i and the
    /// model's α and λ; for BPR the same system on its item factors with α =
    /// [`BPR_FOLD_IN_ALPHA`], the item bias left to scoring (an approximation: see
    /// `model/foldin.rs`). Use it with [`UserRef::vector`]. Repeats of an item are summed (as
    /// the interaction matrix sums them); at most `FOLD_IN_ITEMS_MAX` interactions; weights
    /// finite and >= 0. `prep` must come from this model's [`Model::fold_in_prep`] (its shape
    /// is checked). Item-kNN and popularity answer `Unsupported`.
    pub fn fold_in(&self, items: &[(u32, f32)], prep: &FoldIn) -> Result<Vec<f32>, ModelError> {
        let (f, alpha, lambda) = match (&self.body, &self.params) {
            (Body::Factors(f), Params::Als(p)) => (f, p.alpha, p.regularization),
            (Body::Factors(f), Params::Bpr(p)) => (f, BPR_FOLD_IN_ALPHA, p.regularization),
            _ => {
                return Err(ModelError::Unsupported {
                    algorithm: self.algorithm(),
                    operation: "fold-in",
                });
            }
        };
        prep.fits(f)?;
        let merged = merge_interactions(items, f.items)?;
        foldin::solve(f, prep, &merged, alpha, lambda)
    }

    /// Physically removes the user rows `rows` (strictly ascending): ALS and BPR drop those rows
    /// of user factors, and every later row moves down by the number removed before it (the same
    /// shift [`crate::IdMap::remove_ids`] applies). Item-kNN and popularity hold no user rows; for
    /// them this checks nothing and removes nothing (their item statistics change only by
    /// retraining). Returns the number of rows removed.
    pub fn remove_users(&mut self, rows: &[u32]) -> Result<usize, ModelError> {
        match &mut self.body {
            Body::Factors(f) => {
                let users = f.users;
                check_ascending_within(rows, users as usize).map_err(|_| {
                    match rows.iter().find(|&&r| r >= users) {
                        Some(&row) => ModelError::UnknownUser { row, users },
                        None => ModelError::NotAscending {
                            what: "rows to remove",
                        },
                    }
                })?;
                f.remove_users(rows);
                Ok(rows.len())
            }
            _ => Ok(0),
        }
    }

    /// Heap bytes held by the model.
    pub fn heap_bytes(&self) -> usize {
        match &self.body {
            Body::Factors(f) => f.heap_bytes(),
            Body::Neighbours(n) => n.heap_bytes(),
            Body::Popularity(p) => p.heap_bytes(),
        }
    }
}

/// Checks a fold-in's interactions (bounded count, items in range, weights finite and >= 0)
/// and sums the repeats of an item in the order given, in f64, as the interaction matrix does:
/// the result is ascending by item.
fn merge_interactions(items: &[(u32, f32)], count: u32) -> Result<Vec<(u32, f32)>, ModelError> {
    if items.len() > FOLD_IN_ITEMS_MAX {
        return Err(ModelError::TooManyInteractions {
            items: items.len(),
            max: FOLD_IN_ITEMS_MAX,
        });
    }
    for (position, &(item, weight)) in items.iter().enumerate() {
        if item >= count {
            return Err(ModelError::UnknownItem { item, items: count });
        }
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(ModelError::BadWeight { position });
        }
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&p| items[p].0); // stable: repeats stay in the order given
    let mut merged: Vec<(u32, f32)> = Vec::with_capacity(items.len());
    let mut k = 0;
    while k < order.len() {
        let item = items[order[k]].0;
        let mut sum = 0f64;
        let mut last = order[k];
        while k < order.len() && items[order[k]].0 == item {
            last = order[k];
            sum += f64::from(items[last].1);
            k += 1;
        }
        let weight = sum as f32;
        if !weight.is_finite() {
            return Err(ModelError::BadWeight { position: last });
        }
        merged.push((item, weight));
    }
    Ok(merged)
}
