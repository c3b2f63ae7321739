//! `Interactions`: the user × item matrix every trainer and the evaluation read, stored both
//! ways (CSR by user and CSR by item, i.e. CSC of the user matrix), `u32` indices, `f32`
//! weights, optional `i64` times.
//!
//! Built from (user index, item index, weight, time?) triples by [`InteractionsBuilder`]:
//! duplicates of a (user, item) pair are one entry whose weight is their sum (added in push
//! order, in f64) and whose time is the latest. Rows are sorted by column index. The caller
//! keeps the id maps ([`crate::IdMap`]) and gives the dimensions up front, so items nobody has
//! touched yet are still columns (they can be recommended by popularity, never by
//! collaborative models). Every dimension is bounded by [`MatrixLimits`], checked as triples
//! arrive, so a builder never holds more than the limit.

use crate::error::MatrixError;
use crate::limits::{ITEMS_MAX_DEFAULT, NNZ_MAX_DEFAULT, USERS_MAX_DEFAULT};

/// Bounds of one matrix; the registry sets them from its memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixLimits {
    pub users_max: u32,
    pub items_max: u32,
    pub nnz_max: u64,
}

impl Default for MatrixLimits {
    fn default() -> Self {
        MatrixLimits {
            users_max: USERS_MAX_DEFAULT,
            items_max: ITEMS_MAX_DEFAULT,
            nnz_max: NNZ_MAX_DEFAULT,
        }
    }
}

/// Compressed sparse rows: `indices[indptr[r]..indptr[r + 1]]` are row `r`'s columns, ascending.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Csr {
    pub(crate) indptr: Vec<usize>,
    pub(crate) indices: Vec<u32>,
    pub(crate) values: Vec<f32>,
}

impl Csr {
    pub(crate) fn rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Row `r` (callers pass `r < rows()`: an internal invariant, not input).
    #[inline]
    pub(crate) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (start, end) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[start..end], &self.values[start..end])
    }

    pub(crate) fn row_len(&self, r: usize) -> usize {
        self.indptr[r + 1] - self.indptr[r]
    }

    fn heap_bytes(&self) -> usize {
        self.indptr.capacity() * 8 + self.indices.capacity() * 4 + self.values.capacity() * 4
    }
}

/// One user's interactions: items ascending, their summed weights and latest times.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub items: &'a [u32],
    pub weights: &'a [f32],
    pub times: Option<&'a [i64]>,
}

/// The interaction matrix. Immutable once built.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    users: u32,
    items: u32,
    by_user: Csr,
    by_item: Csr,
    /// Aligned with `by_user`'s entries.
    times: Option<Vec<i64>>,
}

impl Interactions {
    pub fn builder(
        users: u32,
        items: u32,
        limits: MatrixLimits,
    ) -> Result<InteractionsBuilder, MatrixError> {
        if users > limits.users_max {
            return Err(MatrixError::TooManyUsers {
                users,
                max: limits.users_max,
            });
        }
        if items > limits.items_max {
            return Err(MatrixError::TooManyItems {
                items,
                max: limits.items_max,
            });
        }
        Ok(InteractionsBuilder {
            users,
            items,
            limits,
            entries: Vec::new(),
            times: None,
            pushed: 0,
        })
    }

    pub fn users(&self) -> u32 {
        self.users
    }

    pub fn items(&self) -> u32 {
        self.items
    }

    /// Stored (deduplicated) entries.
    pub fn nnz(&self) -> usize {
        self.by_user.indices.len()
    }

    pub fn has_times(&self) -> bool {
        self.times.is_some()
    }

    pub fn user_row(&self, user: u32) -> Option<Row<'_>> {
        if user >= self.users {
            return None;
        }
        let u = user as usize;
        let (start, end) = (self.by_user.indptr[u], self.by_user.indptr[u + 1]);
        Some(Row {
            items: &self.by_user.indices[start..end],
            weights: &self.by_user.values[start..end],
            times: self.times.as_ref().map(|t| &t[start..end]),
        })
    }

    /// The users of `item`, ascending, with their weights.
    pub fn item_users(&self, item: u32) -> Option<(&[u32], &[f32])> {
        (item < self.items).then(|| self.by_item.row(item as usize))
    }

    /// The latest interaction time, if the matrix has times and entries.
    pub fn newest_time(&self) -> Option<i64> {
        self.times.as_ref().and_then(|t| t.iter().copied().max())
    }

    pub(crate) fn by_user(&self) -> &Csr {
        &self.by_user
    }

    pub(crate) fn by_item(&self) -> &Csr {
        &self.by_item
    }

    pub(crate) fn times(&self) -> Option<&[i64]> {
        self.times.as_deref()
    }

    /// Heap bytes held (both orientations and the times).
    pub fn heap_bytes(&self) -> usize {
        self.by_user.heap_bytes()
            + self.by_item.heap_bytes()
            + self.times.as_ref().map_or(0, |t| t.capacity() * 8)
    }
}

/// Collects triples, checking each against the dimensions and limits as it arrives.
#[derive(Debug)]
pub struct InteractionsBuilder {
    users: u32,
    items: u32,
    limits: MatrixLimits,
    entries: Vec<(u32, u32, f32)>,
    /// `Some` once the first timed triple arrived; then every triple must be timed.
    times: Option<Vec<i64>>,
    pushed: u64,
}

impl InteractionsBuilder {
    /// Reserves room for `additional` more triples (capped by the limit), so a caller that knows the
    /// count avoids the doubling growth that would hold up to twice the triples' memory. A hint:
    /// if the memory is not there, nothing is reserved (and nothing aborts).
    pub fn reserve(&mut self, additional: u64) {
        let room = self
            .limits
            .nnz_max
            .saturating_sub(self.pushed)
            .min(additional);
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        if self.entries.try_reserve_exact(room).is_ok()
            && let Some(times) = self.times.as_mut()
        {
            let _ = times.try_reserve_exact(room);
        }
    }

    /// An untimed interaction.
    pub fn push(&mut self, user: u32, item: u32, weight: f32) -> Result<(), MatrixError> {
        if self.times.is_some() {
            return Err(MatrixError::MixedTimes {
                position: self.pushed,
            });
        }
        self.check(user, item, weight)?;
        self.entries.push((user, item, weight));
        self.pushed += 1;
        Ok(())
    }

    /// A timed interaction (any `i64` time unit; the caller's choice, used consistently).
    pub fn push_timed(
        &mut self,
        user: u32,
        item: u32,
        weight: f32,
        time: i64,
    ) -> Result<(), MatrixError> {
        if self.times.is_none() && self.pushed > 0 {
            return Err(MatrixError::MixedTimes {
                position: self.pushed,
            });
        }
        self.check(user, item, weight)?;
        self.entries.push((user, item, weight));
        self.times.get_or_insert_with(Vec::new).push(time);
        self.pushed += 1;
        Ok(())
    }

    fn check(&self, user: u32, item: u32, weight: f32) -> Result<(), MatrixError> {
        let position = self.pushed;
        if self.pushed >= self.limits.nnz_max {
            return Err(MatrixError::TooManyInteractions {
                max: self.limits.nnz_max,
            });
        }
        if user >= self.users {
            return Err(MatrixError::UserOutOfRange {
                position,
                user,
                users: self.users,
            });
        }
        if item >= self.items {
            return Err(MatrixError::ItemOutOfRange {
                position,
                item,
                items: self.items,
            });
        }
        if !weight.is_finite() || weight < 0.0 {
            return Err(MatrixError::BadWeight { position });
        }
        Ok(())
    }

    /// Sorts (a counting sort by user, then each row by item, stable so duplicates add up in
    /// push order) and builds both orientations.
    pub fn build(self) -> Result<Interactions, MatrixError> {
        let InteractionsBuilder {
            users,
            items,
            entries,
            times,
            ..
        } = self;
        let n_users = users as usize;
        let mut indptr = vec![0usize; n_users + 1];
        for &(u, _, _) in &entries {
            indptr[u as usize + 1] += 1;
        }
        for r in 0..n_users {
            indptr[r + 1] += indptr[r];
        }
        // Scatter by user, keeping push order within a user.
        let mut next = indptr.clone();
        let mut scattered: Vec<(u32, f32, i64)> = vec![(0, 0.0, 0); entries.len()];
        for (position, &(u, i, w)) in entries.iter().enumerate() {
            let t = times.as_ref().map_or(0, |t| t[position]);
            let slot = &mut next[u as usize];
            scattered[*slot] = (i, w, t);
            *slot += 1;
        }
        drop(entries);
        let timed = times.is_some();
        drop(times);

        let mut out_indptr = Vec::with_capacity(n_users + 1);
        out_indptr.push(0usize);
        let mut out_items = Vec::with_capacity(scattered.len());
        let mut out_weights = Vec::with_capacity(scattered.len());
        let mut out_times = if timed {
            Vec::with_capacity(scattered.len())
        } else {
            Vec::new()
        };
        for u in 0..n_users {
            let row = &mut scattered[indptr[u]..indptr[u + 1]];
            row.sort_by_key(|&(i, _, _)| i); // stable: duplicates stay in push order
            let mut k = 0;
            while k < row.len() {
                let item = row[k].0;
                let (mut sum, mut latest) = (0f64, i64::MIN);
                while k < row.len() && row[k].0 == item {
                    sum += f64::from(row[k].1);
                    latest = latest.max(row[k].2);
                    k += 1;
                }
                let weight = sum as f32;
                if !weight.is_finite() {
                    return Err(MatrixError::WeightOverflow {
                        user: u as u32,
                        item,
                    });
                }
                out_items.push(item);
                out_weights.push(weight);
                if timed {
                    out_times.push(latest);
                }
            }
            out_indptr.push(out_items.len());
        }
        drop(scattered);
        out_items.shrink_to_fit();
        out_weights.shrink_to_fit();
        out_times.shrink_to_fit();
        let by_user = Csr {
            indptr: out_indptr,
            indices: out_items,
            values: out_weights,
        };
        let by_item = transpose(&by_user, items as usize);
        Ok(Interactions {
            users,
            items,
            by_user,
            by_item,
            times: timed.then_some(out_times),
        })
    }
}

/// The transpose of `m` with `columns` columns; rows of the result come out sorted because `m`'s
/// rows are visited in order.
pub(crate) fn transpose(m: &Csr, columns: usize) -> Csr {
    let mut indptr = vec![0usize; columns + 1];
    for &c in &m.indices {
        indptr[c as usize + 1] += 1;
    }
    for c in 0..columns {
        indptr[c + 1] += indptr[c];
    }
    let mut next = indptr.clone();
    let mut indices = vec![0u32; m.indices.len()];
    let mut values = vec![0f32; m.indices.len()];
    for r in 0..m.rows() {
        let (cols, vals) = m.row(r);
        for (&c, &v) in cols.iter().zip(vals) {
            let slot = &mut next[c as usize];
            indices[*slot] = r as u32;
            values[*slot] = v;
            *slot += 1;
        }
    }
    Csr {
        indptr,
        indices,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> MatrixLimits {
        MatrixLimits {
            users_max: 10,
            items_max: 10,
            nnz_max: 8,
        }
    }

    #[test]
    fn duplicates_sum_and_keep_the_latest_time() {
        let mut b = Interactions::builder(3, 4, limits()).unwrap();
        b.reserve(u64::MAX);
        b.push_timed(1, 3, 1.0, 10).unwrap();
        b.push_timed(1, 0, 2.0, 5).unwrap();
        b.push_timed(1, 3, 0.5, 7).unwrap();
        b.push_timed(0, 2, 1.0, 1).unwrap();
        let m = b.build().unwrap();
        assert_eq!(m.nnz(), 3);
        let row = m.user_row(1).unwrap();
        assert_eq!(row.items, [0, 3]);
        assert_eq!(row.weights, [2.0, 1.5]);
        assert_eq!(row.times.unwrap(), [5, 10]);
        assert_eq!(m.user_row(2).unwrap().items.len(), 0);
        assert_eq!(m.item_users(3).unwrap(), (&[1u32][..], &[1.5f32][..]));
        assert_eq!(m.item_users(1).unwrap().0.len(), 0);
        assert!(m.user_row(3).is_none() && m.item_users(4).is_none());
        assert_eq!(m.newest_time(), Some(10));
    }

    #[test]
    fn bad_input_is_refused_with_its_position() {
        let mut b = Interactions::builder(2, 2, limits()).unwrap();
        b.push(0, 0, 1.0).unwrap();
        assert_eq!(
            b.push(2, 0, 1.0),
            Err(MatrixError::UserOutOfRange {
                position: 1,
                user: 2,
                users: 2
            })
        );
        assert_eq!(
            b.push(0, 5, 1.0),
            Err(MatrixError::ItemOutOfRange {
                position: 1,
                item: 5,
                items: 2
            })
        );
        for w in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1.0] {
            assert_eq!(b.push(0, 1, w), Err(MatrixError::BadWeight { position: 1 }));
        }
        assert_eq!(
            b.push_timed(0, 1, 1.0, 3),
            Err(MatrixError::MixedTimes { position: 1 })
        );
        for _ in 1..8 {
            b.push(1, 1, 1.0).unwrap();
        }
        assert_eq!(
            b.push(1, 1, 1.0),
            Err(MatrixError::TooManyInteractions { max: 8 })
        );
        assert!(matches!(
            Interactions::builder(11, 1, limits()),
            Err(MatrixError::TooManyUsers { .. })
        ));
        assert!(matches!(
            Interactions::builder(1, 11, limits()),
            Err(MatrixError::TooManyItems { .. })
        ));
    }

    #[test]
    fn overflowing_sums_are_refused() {
        let mut b = Interactions::builder(1, 1, limits()).unwrap();
        b.push(0, 0, f32::MAX).unwrap();
        b.push(0, 0, f32::MAX).unwrap();
        assert_eq!(
            b.build(),
            Err(MatrixError::WeightOverflow { user: 0, item: 0 })
        );
    }

    #[test]
    fn empty_matrix_builds() {
        let m = Interactions::builder(0, 0, limits())
            .unwrap()
            .build()
            .unwrap();
        assert_eq!((m.users(), m.items(), m.nnz()), (0, 0, 0));
        assert_eq!(m.newest_time(), None);
    }
}
