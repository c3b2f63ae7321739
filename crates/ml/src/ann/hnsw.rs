//! The HNSW algorithms over an [`AnnIndex`]'s arrays: placing a vector (layered search, the
//! neighbour-selection heuristic, back-links with pruning), searching (optionally filtered, or by
//! exact scan) and consolidating deleted slots.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::kernel::quantize;
use super::{
    AnnIndex, FullVectors, Hit, NONE, STATE_DELETED, STATE_FREE, STATE_LIVE, SearchPlan, grow_exact,
};
use crate::limits::{
    ANN_FILTER_SAMPLE_SLOTS, ANN_FILTER_SCAN_FRACTION, ANN_FILTER_SCAN_ITEMS, ANN_LEVELS_MAX,
};
use crate::rng::Rng;

/// Stream id of the filter sample (level draws use the insertion count, far below it).
const FILTER_SAMPLE_STREAM: u64 = u64::MAX;

/// A slot and its similarity to the query at hand; ordered by similarity, ties to the lower
/// slot (so every heap pops in one defined order).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub(crate) sim: f32,
    pub(crate) slot: u32,
}

impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sim
            .total_cmp(&other.sim)
            .then(other.slot.cmp(&self.slot))
    }
}
impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Cand {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Cand {}

/// Per-search buffers, pooled by the index so a search allocates nothing once warm.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    visited: Vec<u32>,
    epoch: u32,
    cands: BinaryHeap<Cand>,
    results: BinaryHeap<Reverse<Cand>>,
    query: Vec<i8>,
    /// The unvisited live neighbours of the node being expanded, and their int8 dots.
    batch: Vec<u32>,
    dots: Vec<i32>,
}

impl Scratch {
    fn begin(&mut self, slots: usize) {
        if self.visited.len() < slots {
            self.visited.resize(slots, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.visited.fill(0);
            self.epoch = 1;
        }
        self.cands.clear();
        self.results.clear();
    }

    /// Marks `slot` visited; true the first time in this search.
    #[inline]
    fn visit(&mut self, slot: u32) -> bool {
        match self.visited.get_mut(slot as usize) {
            Some(v) if *v != self.epoch => {
                *v = self.epoch;
                true
            }
            _ => false,
        }
    }

    fn worst(&self) -> f32 {
        self.results.peek().map_or(f32::NEG_INFINITY, |r| r.0.sim)
    }

    /// The results, best first.
    fn drain_sorted(&mut self) -> Vec<Cand> {
        let mut out: Vec<Cand> = self.results.drain().map(|r| r.0).collect();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out
    }
}

impl AnnIndex {
    pub(crate) fn m(&self) -> usize {
        self.params.m as usize
    }

    pub(crate) fn stride0(&self) -> usize {
        2 * self.m() + 1
    }

    /// Most links a node keeps on `level`.
    pub(crate) fn cap(&self, level: u8) -> usize {
        if level == 0 { 2 * self.m() } else { self.m() }
    }

    #[inline]
    pub(crate) fn links(&self, slot: u32, level: u8) -> &[u32] {
        if level == 0 {
            let base = slot as usize * self.stride0();
            let count = self.links0[base] as usize;
            &self.links0[base + 1..base + 1 + count]
        } else {
            match self.upper.get(&slot) {
                Some(b) => {
                    let base = (level as usize - 1) * (self.m() + 1);
                    match b.get(base) {
                        Some(&count) => &b[base + 1..base + 1 + count as usize],
                        None => &[],
                    }
                }
                None => &[],
            }
        }
    }

    pub(crate) fn set_links(&mut self, slot: u32, level: u8, list: &[u32]) {
        debug_assert!(list.len() <= self.cap(level));
        if level == 0 {
            let base = slot as usize * self.stride0();
            self.links0[base] = list.len() as u32;
            self.links0[base + 1..base + 1 + list.len()].copy_from_slice(list);
        } else {
            let base = (level as usize - 1) * (self.m() + 1);
            if let Some(b) = self.upper.get_mut(&slot) {
                b[base] = list.len() as u32;
                b[base + 1..base + 1 + list.len()].copy_from_slice(list);
            }
        }
    }

    #[inline]
    pub(crate) fn code(&self, slot: u32) -> &[i8] {
        let s = slot as usize * self.dim;
        &self.codes[s..s + self.dim]
    }

    #[inline]
    fn sim_to(&self, q: &[i8], qs: f32, slot: u32) -> f32 {
        let dot = self.kernel.dot(q, self.code(slot));
        qs * self.scales[slot as usize] * dot as f32
    }

    #[inline]
    fn sim_slots(&self, a: u32, b: u32) -> f32 {
        self.sim_to(self.code(a), self.scales[a as usize], b)
    }

    #[inline]
    fn is_live(&self, slot: u32) -> bool {
        self.states.get(slot as usize) == Some(&STATE_LIVE)
    }

    fn take_scratch(&self) -> Scratch {
        match self.scratch.lock() {
            Ok(mut pool) => pool.pop().unwrap_or_default(),
            Err(_) => Scratch::default(),
        }
    }

    fn put_scratch(&self, s: Scratch) {
        if let Ok(mut pool) = self.scratch.lock()
            && pool.len() < 64
        {
            pool.push(s);
        }
    }

    /// A free slot, or a new one at the end of every per-slot array.
    pub(crate) fn allocate(&mut self) -> u32 {
        if let Some(s) = self.free.pop() {
            return s;
        }
        let n = self.ids.len() + 1;
        grow_exact(&mut self.ids, n);
        grow_exact(&mut self.scales, n);
        grow_exact(&mut self.levels, n);
        grow_exact(&mut self.states, n);
        grow_exact(&mut self.codes, n * self.dim);
        let stride = self.stride0();
        grow_exact(&mut self.links0, n * stride);
        self.ids.push(0);
        self.scales.push(0.0);
        self.levels.push(0);
        self.states.push(STATE_FREE);
        self.codes.resize(n * self.dim, 0);
        self.links0.resize(n * stride, 0);
        (n - 1) as u32
    }

    fn random_level(&mut self) -> u8 {
        let mut rng = Rng::derive(self.params.seed, &[self.inserts]);
        self.inserts += 1;
        let u = f64::from(rng.unit_f32());
        let ml = 1.0 / (self.m() as f64).ln();
        let level = (-(1.0 - u).ln() * ml).floor();
        level.clamp(0.0, f64::from(ANN_LEVELS_MAX - 1)) as u8
    }

    /// Stores `v` (already checked and normalized) at the free `slot` and links it in.
    pub(crate) fn insert_at(&mut self, slot: u32, id: u64, v: &[f32]) {
        let s = slot as usize;
        let dim = self.dim;
        self.scales[s] = quantize(v, &mut self.codes[s * dim..(s + 1) * dim]);
        self.ids[s] = id;
        self.states[s] = STATE_LIVE;
        self.live += 1;
        self.table.insert(id, slot, &self.ids);
        let level = self.random_level();
        self.levels[s] = level;
        let base = s * self.stride0();
        self.links0[base] = 0;
        if level > 0 {
            let words = level as usize * (self.m() + 1);
            self.upper
                .insert(slot, vec![0u32; words].into_boxed_slice());
        } else {
            self.upper.remove(&slot);
        }
        self.link(slot, level);
    }

    fn link(&mut self, slot: u32, level: u8) {
        if self.entry == NONE {
            self.entry = slot;
            self.top_level = level;
            return;
        }
        let mut sc = self.take_scratch();
        let mut q = std::mem::take(&mut sc.query);
        q.clear();
        q.extend_from_slice(self.code(slot));
        let qs = self.scales[slot as usize];
        let top = self.top_level;
        let mut cur = Cand {
            sim: self.sim_to(&q, qs, self.entry),
            slot: self.entry,
        };
        for lev in (level.saturating_add(1)..=top).rev() {
            cur = self.greedy(&q, qs, cur, lev);
        }
        let mut entries = vec![cur];
        let ef = self.params.ef_construction as usize;
        for lev in (0..=level.min(top)).rev() {
            self.search_layer(&q, qs, &entries, ef, lev, None, &mut sc);
            let found: Vec<Cand> = sc
                .drain_sorted()
                .into_iter()
                .filter(|c| c.slot != slot)
                .collect();
            let chosen = self.select(&found, self.m());
            self.set_links(slot, lev, &chosen);
            for &n in &chosen {
                self.add_link(n, lev, slot);
            }
            if !found.is_empty() {
                entries = found;
            }
        }
        if level > top {
            self.entry = slot;
            self.top_level = level;
        }
        sc.query = q;
        self.put_scratch(sc);
    }

    /// The neighbour-selection heuristic: candidates in descending similarity to the base; keep
    /// one when it is nearer the base than to every one kept so far (spreads links across
    /// directions, which keeps clustered data connected).
    fn select(&self, cands: &[Cand], cap: usize) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::with_capacity(cap);
        for c in cands {
            if out.len() >= cap {
                break;
            }
            if out.iter().all(|&s| self.sim_slots(c.slot, s) <= c.sim) {
                out.push(c.slot);
            }
        }
        out
    }

    /// Adds `new` to `n`'s list on `level`, re-selecting when the list is full.
    fn add_link(&mut self, n: u32, level: u8, new: u32) {
        let list = self.links(n, level);
        if list.contains(&new) {
            return;
        }
        let cap = self.cap(level);
        if list.len() < cap {
            let mut l = list.to_vec();
            l.push(new);
            self.set_links(n, level, &l);
            return;
        }
        let mut cands: Vec<Cand> = list
            .iter()
            .chain(std::iter::once(&new))
            .filter(|&&x| self.is_live(x))
            .map(|&x| Cand {
                sim: self.sim_slots(n, x),
                slot: x,
            })
            .collect();
        cands.sort_unstable_by(|a, b| b.cmp(a));
        let chosen = self.select(&cands, cap);
        self.set_links(n, level, &chosen);
    }

    /// Greedy descent on one layer from `cur`.
    fn greedy(&self, q: &[i8], qs: f32, mut cur: Cand, level: u8) -> Cand {
        loop {
            let mut moved = false;
            for &n in self.links(cur.slot, level) {
                let through: &[u32] = match self.states[n as usize] {
                    STATE_DELETED => self.links(n, level),
                    _ => std::slice::from_ref(&n),
                };
                for &x in through {
                    if !self.is_live(x) {
                        continue;
                    }
                    let c = Cand {
                        sim: self.sim_to(q, qs, x),
                        slot: x,
                    };
                    if c > cur {
                        cur = c;
                        moved = true;
                    }
                }
            }
            if !moved {
                return cur;
            }
        }
    }

    /// Best-first search of width `ef` on one layer from `entries`; the best `ef` allowed live
    /// slots end in `sc.results`. Disallowed live slots are traversed but not collected.
    #[allow(clippy::too_many_arguments)]
    fn search_layer(
        &self,
        q: &[i8],
        qs: f32,
        entries: &[Cand],
        ef: usize,
        level: u8,
        filter: Option<&dyn Fn(u64) -> bool>,
        sc: &mut Scratch,
    ) {
        sc.begin(self.ids.len());
        let allowed = |slot: u32| filter.is_none_or(|f| f(self.ids[slot as usize]));
        for &e in entries {
            if sc.visit(e.slot) && self.is_live(e.slot) {
                sc.cands.push(e);
                if allowed(e.slot) {
                    sc.results.push(Reverse(e));
                    if sc.results.len() > ef {
                        sc.results.pop();
                    }
                }
            }
        }
        while let Some(c) = sc.cands.pop() {
            if sc.results.len() >= ef && c.sim < sc.worst() {
                break;
            }
            let mut batch = std::mem::take(&mut sc.batch);
            let mut dots = std::mem::take(&mut sc.dots);
            batch.clear();
            for &n in self.links(c.slot, level) {
                if !sc.visit(n) {
                    continue;
                }
                match self.states[n as usize] {
                    STATE_LIVE => batch.push(n),
                    // A deleted slot awaiting consolidation has no codes left, but its links
                    // still bridge its region: look through it, one hop.
                    STATE_DELETED => {
                        for &x in self.links(n, level) {
                            if sc.visit(x) && self.is_live(x) {
                                batch.push(x);
                            }
                        }
                    }
                    _ => {}
                }
            }
            self.prefetch_codes(&batch);
            self.kernel
                .dots(q, &self.codes, self.dim, &batch, &mut dots);
            for (&n, &dot) in batch.iter().zip(&dots) {
                let sim = qs * self.scales[n as usize] * dot as f32;
                self.consider(sim, n, ef, &allowed, sc);
            }
            sc.batch = batch;
            sc.dots = dots;
        }
    }

    /// Asks the CPU to load the codes of `slots` (every cache line) while the loop starts.
    #[inline]
    fn prefetch_codes(&self, slots: &[u32]) {
        #[cfg(target_arch = "x86_64")]
        for &n in slots {
            let start = n as usize * self.dim;
            for line in (0..self.dim).step_by(64) {
                // SAFETY: prefetching is a hint; any address is allowed.
                unsafe {
                    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                    let p = self.codes.as_ptr().wrapping_add(start + line);
                    _mm_prefetch::<_MM_HINT_T0>(p.cast());
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slots;
    }

    /// Scores live `n` and keeps it as a candidate (and a result, if allowed) when it is among
    /// the best `ef` so far.
    #[inline]
    fn consider(
        &self,
        sim: f32,
        n: u32,
        ef: usize,
        allowed: &impl Fn(u32) -> bool,
        sc: &mut Scratch,
    ) {
        if sc.results.len() < ef || sim > sc.worst() {
            let cand = Cand { sim, slot: n };
            sc.cands.push(cand);
            if allowed(n) {
                sc.results.push(Reverse(cand));
                if sc.results.len() > ef {
                    sc.results.pop();
                }
            }
        }
    }

    /// The best `ef` allowed live slots by int8 score, scanning every slot.
    fn scan(
        &self,
        q: &[i8],
        qs: f32,
        ef: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
        sc: &mut Scratch,
    ) -> Vec<Cand> {
        sc.results.clear();
        for (slot, (&state, &id)) in self.states.iter().zip(&self.ids).enumerate() {
            if state != STATE_LIVE || !filter.is_none_or(|f| f(id)) {
                continue;
            }
            let slot = slot as u32;
            let sim = self.sim_to(q, qs, slot);
            if sc.results.len() < ef || sim > sc.worst() {
                sc.results.push(Reverse(Cand { sim, slot }));
                if sc.results.len() > ef {
                    sc.results.pop();
                }
            }
        }
        sc.drain_sorted()
    }

    /// Filter first or during traversal, from the allowed share of a fixed sample of slots.
    fn plan_filter(&self, filter: &dyn Fn(u64) -> bool) -> SearchPlan {
        if self.live <= ANN_FILTER_SCAN_ITEMS {
            return SearchPlan::Scan;
        }
        // Sampled at positions drawn from a fixed stream, not a stride, so a filter periodic in
        // the slot order cannot alias with the sample.
        let slots = self.ids.len() as u32;
        let mut rng = Rng::derive(self.params.seed, &[FILTER_SAMPLE_STREAM]);
        let (mut seen, mut allowed) = (0usize, 0usize);
        for _ in 0..ANN_FILTER_SAMPLE_SLOTS {
            let slot = rng.below(slots) as usize;
            if self.states[slot] == STATE_LIVE {
                seen += 1;
                allowed += usize::from(filter(self.ids[slot]));
            }
        }
        let share = allowed as f64 / seen.max(1) as f64;
        let estimate = share * self.live as f64;
        if share <= ANN_FILTER_SCAN_FRACTION || estimate <= ANN_FILTER_SCAN_ITEMS as f64 {
            SearchPlan::Scan
        } else {
            SearchPlan::Graph
        }
    }

    /// The search behind [`AnnIndex::search_planned`]: `q` checked and normalized, `ef >= k`.
    pub(crate) fn run_search(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(u64) -> bool>,
        rows: &dyn FullVectors,
    ) -> (Vec<Hit>, SearchPlan) {
        if self.live == 0 || self.entry == NONE {
            return (Vec::new(), SearchPlan::Graph);
        }
        let mut sc = self.take_scratch();
        let mut qc = std::mem::take(&mut sc.query);
        qc.resize(self.dim, 0);
        let qs = quantize(q, &mut qc);
        let mut plan = filter.map_or(SearchPlan::Graph, |f| self.plan_filter(f));
        let mut found = Vec::new();
        if plan == SearchPlan::Graph {
            let mut cur = Cand {
                sim: self.sim_to(&qc, qs, self.entry),
                slot: self.entry,
            };
            for lev in (1..=self.top_level).rev() {
                cur = self.greedy(&qc, qs, cur, lev);
            }
            self.search_layer(&qc, qs, &[cur], ef, 0, filter, &mut sc);
            found = sc.drain_sorted();
            if filter.is_some() && found.len() < k {
                plan = SearchPlan::Scan;
            }
        }
        if plan == SearchPlan::Scan {
            found = self.scan(&qc, qs, ef, filter, &mut sc);
        }
        #[cfg(target_arch = "x86_64")]
        for c in &found {
            if let Some(r) = rows.row(c.slot) {
                // SAFETY: prefetching is a hint; any address is allowed.
                unsafe {
                    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                    _mm_prefetch::<_MM_HINT_T0>(r.as_ptr().cast());
                }
            }
        }
        let mut hits: Vec<Hit> = found
            .iter()
            .map(|c| Hit {
                id: self.ids[c.slot as usize],
                score: rows
                    .row(c.slot)
                    .map_or(c.sim, |r| crate::kernels::dot(q, r)),
            })
            .collect();
        hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(k);
        sc.query = qc;
        self.put_scratch(sc);
        (hits, plan)
    }

    /// A live slot on the highest level (the first in slot order), or none.
    pub(crate) fn choose_entry(&mut self) {
        let best = (0..self.ids.len())
            .filter(|&s| self.states[s] == STATE_LIVE)
            .max_by(|&a, &b| self.levels[a].cmp(&self.levels[b]).then(b.cmp(&a)));
        match best {
            Some(s) => {
                self.entry = s as u32;
                self.top_level = self.levels[s];
            }
            None => {
                self.entry = NONE;
                self.top_level = 0;
            }
        }
    }

    /// Repairs every list that links to a deleted slot, then frees the deleted slots (their
    /// links cleared) for reuse. A repaired list is re-selected from its live links, the live
    /// links of the deleted slots it pointed to and, through a deleted slot's deleted
    /// neighbours, one hop further.
    pub fn consolidate(&mut self) {
        if self.deleted.is_empty() {
            return;
        }
        for slot in 0..self.ids.len() as u32 {
            if !self.is_live(slot) {
                continue;
            }
            for level in 0..=self.levels[slot as usize] {
                let list = self.links(slot, level);
                if list.iter().all(|&x| self.is_live(x)) {
                    continue;
                }
                let mut pool: Vec<u32> = Vec::new();
                for &x in list {
                    if self.is_live(x) {
                        pool.push(x);
                        continue;
                    }
                    for &y in self.links(x, level) {
                        if self.is_live(y) {
                            pool.push(y);
                        } else {
                            pool.extend(self.links(y, level).iter().filter(|&&z| self.is_live(z)));
                        }
                    }
                }
                pool.sort_unstable();
                pool.dedup();
                let mut cands: Vec<Cand> = pool
                    .into_iter()
                    .filter(|&x| x != slot)
                    .map(|x| Cand {
                        sim: self.sim_slots(slot, x),
                        slot: x,
                    })
                    .collect();
                cands.sort_unstable_by(|a, b| b.cmp(a));
                let cap = self.cap(level);
                let mut chosen = self.select(&cands, cap);
                // Keep the nearest of the pruned too, up to half the cap: a repaired node has
                // lost in-links, and extra out-links keep its region reachable.
                for c in &cands {
                    if chosen.len() >= cap / 2 {
                        break;
                    }
                    if !chosen.contains(&c.slot) {
                        chosen.push(c.slot);
                    }
                }
                self.set_links(slot, level, &chosen);
            }
        }
        let deleted = std::mem::take(&mut self.deleted);
        for &d in &deleted {
            let s = d as usize;
            debug_assert_eq!(self.states[s], STATE_DELETED);
            let stride = self.stride0();
            self.links0[s * stride..(s + 1) * stride].fill(0);
            self.upper.remove(&d);
            self.levels[s] = 0;
            self.states[s] = STATE_FREE;
        }
        let want = self.free.len() + deleted.len();
        grow_exact(&mut self.free, want);
        self.free.extend(deleted.iter().rev());
        self.deleted = deleted;
        self.deleted.clear();
    }
}
