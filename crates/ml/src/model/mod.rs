//! `Model`: a trained model of any of the four kinds behind one API — recommend (full-catalogue
//! scoring into a bounded heap), similar items, re-rank scores, and removal of user rows.
//!
//! Indices are the dense ones of the training matrix; the caller maps keys with the
//! [`crate::IdMap`]s it kept (or a [`crate::ModelFile`]'s). A user is given as a [`UserRef`]:
//! ALS and BPR read the user's row of factors, item-kNN reads the items the user interacted
//! with, popularity reads neither. Nothing here allocates more than O(items) per call.

mod factors;
mod knn;
mod popularity;
pub(crate) mod topk;

pub(crate) use factors::Factors;
pub(crate) use knn::Neighbours;
pub(crate) use popularity::Popularity;

use crate::error::ModelError;
use crate::idmap::check_ascending_within;
use crate::limits::K_MAX;
use crate::params::{Algorithm, Params};
use topk::TopK;

/// Who to recommend for: the user's row in the model (ALS, BPR) and/or the items they
/// interacted with, strictly ascending (item-kNN). Popularity needs neither.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserRef<'a> {
    pub row: Option<u32>,
    pub items: &'a [u32],
}

impl<'a> UserRef<'a> {
    pub fn row(row: u32) -> UserRef<'a> {
        UserRef {
            row: Some(row),
            items: &[],
        }
    }

    pub fn items(items: &'a [u32]) -> UserRef<'a> {
        UserRef { row: None, items }
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

    fn user_vector<'m>(&self, f: &'m Factors, user: UserRef<'_>) -> Result<&'m [f32], ModelError> {
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
                Ok(items.iter().map(|&i| f.score(vector, i)).collect())
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
