//! Approximate nearest-neighbour search: our own HNSW over int8 codes, with exact re-scoring from
//! full-precision rows, filtered search, upsert, physical deletion and a checksummed file format.
//!
//! Main types:
//! - [`AnnIndex`]: the graph (HNSW, Malkov & Yashunin 2016) and one int8 code per dimension per
//!   vector (a per-vector scale, `kernel.rs`); the ids are the caller's `u64`s.
//! - [`FullVectors`] / [`FullVectorsMut`]: where re-scoring reads (and upsert writes) each slot's
//!   f32 row; [`F32Rows`] keeps them in memory. Kept apart so the graph's memory is measured on
//!   its own (about a quarter of a float32 index plus the links) and the rows may live elsewhere.
//! - [`VectorIndex`]: the two together with one file format; what the server holds.
//!
//! Search: greedy descent through the upper layers, a best-first search of width `ef` on layer 0
//! scored by int8 dot products, then every one of those `ef` candidates is re-scored exactly
//! (f32 dot with the normalized query) and the best `k` returned. With a filter, the index
//! estimates the allowed fraction from a fixed sample of slots: when few items are allowed it
//! scans them exactly (filter first); otherwise it searches the graph through disallowed nodes,
//! collecting only allowed ones, which widens the search by itself as the allowed share falls;
//! should that find fewer than `k`, it falls back to the scan.
//!
//! Deletion is physical: the slot's codes, scale, id and f32 row are overwritten with zeros at
//! once and the id leaves the id table. Its links (slot numbers only) stay until the next
//! consolidation, which repairs every list that pointed at a deleted slot from the survivors and
//! the deleted slots' own neighbours (as FreshDiskANN does), then frees the slots for reuse.
//! Consolidation runs by itself once deleted slots reach a 32nd of the live ones, and on demand
//! ([`AnnIndex::consolidate`]); [`AnnIndex::to_bytes`] never writes a deleted slot's links, nor
//! links to it, whether or not it has run.
//!
//! Determinism: given the seed and the same sequence of calls, the graph, codes and results are
//! the same on every CPU (integer kernels; f32 re-scoring through `kernels::dot`).

mod format;
mod hnsw;
mod idtable;
mod kernel;
mod rows;
#[cfg(test)]
mod tests;

use std::sync::Mutex;

use crate::error::{AnnError, AnnFormatError};
use crate::limits::{ANN_DIM_MAX, ANN_EF_MAX, ANN_M_MAX, ANN_M_MIN, ANN_SLOTS_MAX, K_MAX};
use idtable::IdTable;
use kernel::I8Kernel;

pub use format::ANN_FORMAT_VERSION;
pub use rows::{F32Rows, FullVectors, FullVectorsMut};

/// How two vectors compare; higher scores are nearer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `a·b / (|a| |b|)`: vectors (and queries) are normalized on the way in; a zero vector is
    /// refused.
    Cosine,
    /// `a·b`, vectors stored as given.
    InnerProduct,
}

/// Build parameters of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnParams {
    pub metric: Metric,
    /// Dimensions, 1 to `ANN_DIM_MAX`.
    pub dim: u32,
    /// Links per node on the upper layers; layer 0 keeps up to `2 m`.
    pub m: u32,
    /// Width of the search that places a new vector.
    pub ef_construction: u32,
    /// Seed of the level draws.
    pub seed: u64,
}

impl AnnParams {
    /// Defaults for `dim`-dimensional vectors: `m` 16, `ef_construction` 100, seed 0.
    pub fn new(metric: Metric, dim: u32) -> AnnParams {
        AnnParams {
            metric,
            dim,
            m: 16,
            ef_construction: 100,
            seed: 0,
        }
    }

    fn validate(&self) -> Result<(), AnnError> {
        if self.dim == 0 || self.dim as usize > ANN_DIM_MAX {
            return Err(AnnError::BadParams {
                field: "dim",
                reason: "must be between 1 and ANN_DIM_MAX (4096)",
            });
        }
        if self.m < ANN_M_MIN || self.m > ANN_M_MAX {
            return Err(AnnError::BadParams {
                field: "m",
                reason: "must be between ANN_M_MIN (2) and ANN_M_MAX (64)",
            });
        }
        if self.ef_construction == 0 || self.ef_construction as usize > ANN_EF_MAX {
            return Err(AnnError::BadParams {
                field: "ef_construction",
                reason: "must be between 1 and ANN_EF_MAX",
            });
        }
        Ok(())
    }
}

/// One search result: the caller's id and its exact score (re-scored from the f32 row; the int8
/// estimate when the row source has none for the slot).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
}

/// How a search ran (for tests, benchmarks and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPlan {
    /// Graph search, without a filter or filtering during traversal.
    Graph,
    /// Exact scan of the allowed items (the filter is selective, or the graph found too few).
    Scan,
}

/// Memory an index holds, by part (heap bytes, capacities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnMemory {
    /// int8 codes.
    pub codes_bytes: usize,
    /// Links of every layer.
    pub links_bytes: usize,
    /// Ids, scales, levels, states, the id table and free lists.
    pub slots_bytes: usize,
}

impl AnnMemory {
    pub fn total(&self) -> usize {
        self.codes_bytes + self.links_bytes + self.slots_bytes
    }
}

pub(crate) const STATE_FREE: u8 = 0;
pub(crate) const STATE_LIVE: u8 = 1;
pub(crate) const STATE_DELETED: u8 = 2;
const NONE: u32 = u32::MAX;

/// The graph and int8 codes of an HNSW index. Full-precision rows are read and written through
/// [`FullVectors`]; see the module doc.
pub struct AnnIndex {
    params: AnnParams,
    dim: usize,
    kernel: I8Kernel,
    /// Per slot: the caller's id (0 when not live), scale, level, state.
    ids: Vec<u64>,
    scales: Vec<f32>,
    levels: Vec<u8>,
    states: Vec<u8>,
    /// `dim` codes per slot.
    codes: Vec<i8>,
    /// Layer 0: `2m + 1` words per slot, a count then the neighbours.
    links0: Vec<u32>,
    /// Layers 1..=level of the slots above layer 0: `m + 1` words per layer.
    upper: std::collections::HashMap<u32, Box<[u32]>>,
    table: IdTable,
    free: Vec<u32>,
    deleted: Vec<u32>,
    entry: u32,
    top_level: u8,
    live: usize,
    /// Insertions so far: the level draw of each comes from `(seed, inserts)`.
    inserts: u64,
    scratch: Mutex<Vec<hnsw::Scratch>>,
}

impl std::fmt::Debug for AnnIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnIndex")
            .field("params", &self.params)
            .field("live", &self.live)
            .field("slots", &self.ids.len())
            .field("top_level", &self.top_level)
            .finish_non_exhaustive()
    }
}

impl Clone for AnnIndex {
    fn clone(&self) -> AnnIndex {
        AnnIndex {
            params: self.params,
            dim: self.dim,
            kernel: self.kernel,
            ids: self.ids.clone(),
            scales: self.scales.clone(),
            levels: self.levels.clone(),
            states: self.states.clone(),
            codes: self.codes.clone(),
            links0: self.links0.clone(),
            upper: self.upper.clone(),
            table: self.table.clone(),
            free: self.free.clone(),
            deleted: self.deleted.clone(),
            entry: self.entry,
            top_level: self.top_level,
            live: self.live,
            inserts: self.inserts,
            scratch: Mutex::new(Vec::new()),
        }
    }
}

/// Grows `v`'s capacity to at least `len` by about an eighth at a time, not doubling, so a
/// grown index holds at most ~12% slack (memory figures count capacity).
pub(crate) fn grow_exact<T>(v: &mut Vec<T>, len: usize) {
    if len > v.capacity() {
        let target = len.max(v.capacity() + v.capacity() / 8).max(64);
        v.reserve_exact(target - v.len());
    }
}

impl AnnIndex {
    pub fn new(params: AnnParams) -> Result<AnnIndex, AnnError> {
        params.validate()?;
        Ok(AnnIndex {
            params,
            dim: params.dim as usize,
            kernel: I8Kernel::detect(),
            ids: Vec::new(),
            scales: Vec::new(),
            levels: Vec::new(),
            states: Vec::new(),
            codes: Vec::new(),
            links0: Vec::new(),
            upper: std::collections::HashMap::new(),
            table: IdTable::default(),
            free: Vec::new(),
            deleted: Vec::new(),
            entry: NONE,
            top_level: 0,
            live: 0,
            inserts: 0,
            scratch: Mutex::new(Vec::new()),
        })
    }

    pub fn params(&self) -> AnnParams {
        self.params
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn contains(&self, id: u64) -> bool {
        self.table.get(id, &self.ids).is_some()
    }

    /// The slot holding `id` (the row [`FullVectors`] serves for it).
    pub fn slot_of(&self, id: u64) -> Option<u32> {
        self.table.get(id, &self.ids)
    }

    /// Slots allocated (live, deleted awaiting consolidation, free).
    pub fn slots(&self) -> usize {
        self.ids.len()
    }

    /// Ids of the live vectors, in slot order.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.ids
            .iter()
            .zip(&self.states)
            .filter(|(_, s)| **s == STATE_LIVE)
            .map(|(id, _)| *id)
    }

    pub fn memory(&self) -> AnnMemory {
        let upper: usize = self
            .upper
            .values()
            .map(|b| b.len() * 4 + 8 + std::mem::size_of::<u32>())
            .sum::<usize>()
            + self.upper.capacity() * (std::mem::size_of::<(u32, Box<[u32]>)>() + 1);
        AnnMemory {
            codes_bytes: self.codes.capacity(),
            links_bytes: self.links0.capacity() * 4 + upper,
            slots_bytes: self.ids.capacity() * 8
                + self.scales.capacity() * 4
                + self.levels.capacity()
                + self.states.capacity()
                + self.table.bytes()
                + (self.free.capacity() + self.deleted.capacity()) * 4,
        }
    }

    /// Releases spare capacity (after a bulk load).
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.scales.shrink_to_fit();
        self.levels.shrink_to_fit();
        self.states.shrink_to_fit();
        self.codes.shrink_to_fit();
        self.links0.shrink_to_fit();
        self.upper.shrink_to_fit();
        self.free.shrink_to_fit();
        self.deleted.shrink_to_fit();
    }

    /// Checks a vector and returns it as stored: normalized for cosine.
    fn prepare(&self, vector: &[f32]) -> Result<Vec<f32>, AnnError> {
        if vector.len() != self.dim {
            return Err(AnnError::WrongDimension {
                expected: self.dim,
                got: vector.len(),
            });
        }
        if let Some(position) = vector.iter().position(|x| !x.is_finite()) {
            return Err(AnnError::NotFinite { position });
        }
        let mut v = vector.to_vec();
        if self.params.metric == Metric::Cosine {
            let norm = crate::kernels::dot(&v, &v).sqrt();
            if !(norm > 0.0 && norm.is_finite()) {
                return Err(AnnError::ZeroVector);
            }
            for x in &mut v {
                *x /= norm;
            }
        }
        Ok(v)
    }

    /// Inserts `vector` under `id`, replacing (and physically deleting) the vector `id` had.
    /// The stored row (normalized for cosine) goes to `rows` at the slot chosen.
    pub fn upsert(
        &mut self,
        id: u64,
        vector: &[f32],
        rows: &mut dyn FullVectorsMut,
    ) -> Result<(), AnnError> {
        let v = self.prepare(vector)?;
        let replacing = self.contains(id);
        if !replacing && self.live >= ANN_SLOTS_MAX as usize {
            return Err(AnnError::Full {
                max: ANN_SLOTS_MAX as usize,
            });
        }
        if replacing {
            self.delete(id, rows);
        }
        if self.free.is_empty() && self.ids.len() >= ANN_SLOTS_MAX as usize {
            // Live < max, so some slot is deleted: consolidation frees it.
            self.consolidate();
        }
        let slot = self.allocate();
        self.insert_at(slot, id, &v);
        rows.put(slot, &v);
        Ok(())
    }

    /// Deletes `id`: its codes, scale, id and f32 row are zeroed now; its links go at the next
    /// consolidation (automatic, see the module doc). Returns whether `id` was present.
    pub fn delete(&mut self, id: u64, rows: &mut dyn FullVectorsMut) -> bool {
        let Some(slot) = self.table.remove(id, &self.ids) else {
            return false;
        };
        let s = slot as usize;
        self.ids[s] = 0;
        self.scales[s] = 0.0;
        self.codes[s * self.dim..(s + 1) * self.dim].fill(0);
        self.states[s] = STATE_DELETED;
        self.live -= 1;
        self.deleted.push(slot);
        rows.erase(slot);
        debug_assert_eq!(self.table.len(), self.live);
        if self.entry == slot {
            self.choose_entry();
        }
        if self.deleted.len() >= crate::limits::ANN_CONSOLIDATE_DELETED_MIN.max(self.live / 32) {
            self.consolidate();
        }
        true
    }

    /// Nearest `k` live vectors to `query` with a search width `ef` (raised to `k` if below),
    /// among ids the filter allows; re-scored exactly from `rows`, best first (ties by id).
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
        rows: &dyn FullVectors,
    ) -> Result<Vec<Hit>, AnnError> {
        self.search_planned(query, k, ef, filter, rows)
            .map(|(hits, _)| hits)
    }

    /// [`AnnIndex::search`], also saying how it ran.
    pub fn search_planned(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
        rows: &dyn FullVectors,
    ) -> Result<(Vec<Hit>, SearchPlan), AnnError> {
        if k == 0 || k > K_MAX {
            return Err(AnnError::KOutOfRange { k, max: K_MAX });
        }
        if ef > ANN_EF_MAX {
            return Err(AnnError::EfOutOfRange {
                ef,
                max: ANN_EF_MAX,
            });
        }
        let q = self.prepare(query)?;
        Ok(self.run_search(&q, k, ef.max(k), filter, rows))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        format::write_index(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<AnnIndex, AnnFormatError> {
        format::read_index(bytes)
    }
}

/// An [`AnnIndex`] with its f32 rows in memory ([`F32Rows`]): what the server holds.
#[derive(Debug, Clone)]
pub struct VectorIndex {
    index: AnnIndex,
    rows: F32Rows,
}

/// Memory of a [`VectorIndex`]: the graph with its codes, and the f32 rows, apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VectorIndexMemory {
    pub index: AnnMemory,
    pub rows_bytes: usize,
}

impl VectorIndex {
    pub fn new(params: AnnParams) -> Result<VectorIndex, AnnError> {
        Ok(VectorIndex {
            index: AnnIndex::new(params)?,
            rows: F32Rows::new(params.dim as usize),
        })
    }

    pub fn index(&self) -> &AnnIndex {
        &self.index
    }

    pub fn rows(&self) -> &F32Rows {
        &self.rows
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.index.contains(id)
    }

    pub fn upsert(&mut self, id: u64, vector: &[f32]) -> Result<(), AnnError> {
        self.index.upsert(id, vector, &mut self.rows)
    }

    pub fn delete(&mut self, id: u64) -> bool {
        self.index.delete(id, &mut self.rows)
    }

    /// Repairs the links of deleted slots now and frees them (see [`AnnIndex::consolidate`]).
    pub fn consolidate(&mut self) {
        self.index.consolidate();
    }

    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
    ) -> Result<Vec<Hit>, AnnError> {
        self.index.search(query, k, ef, filter, &self.rows)
    }

    pub fn search_planned(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
    ) -> Result<(Vec<Hit>, SearchPlan), AnnError> {
        self.index.search_planned(query, k, ef, filter, &self.rows)
    }

    pub fn memory(&self) -> VectorIndexMemory {
        VectorIndexMemory {
            index: self.index.memory(),
            rows_bytes: self.rows.memory_bytes(),
        }
    }

    pub fn shrink_to_fit(&mut self) {
        self.index.shrink_to_fit();
        self.rows.shrink_to_fit();
    }

    /// One file: the index's bytes and the rows' bytes, each checksummed, in an envelope of its
    /// own (`format.rs`).
    pub fn to_bytes(&self) -> Vec<u8> {
        format::write_pair(&self.index, &self.rows)
    }

    /// Reads [`VectorIndex::to_bytes`], checking that the rows are exactly the live slots'.
    pub fn from_bytes(bytes: &[u8]) -> Result<VectorIndex, AnnFormatError> {
        let (index, rows) = format::read_pair(bytes)?;
        Ok(VectorIndex { index, rows })
    }
}
