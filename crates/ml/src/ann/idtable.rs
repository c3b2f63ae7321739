//! Caller ids to slots: an open-addressing table of slot numbers (linear probing, backward-shift
//! deletion), whose keys are read from the index's own `ids` array, so it costs 4 bytes a bucket
//! (about 5 bytes an item) instead of a `HashMap<u64, u32>`'s 17 or more.

const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Default)]
pub(crate) struct IdTable {
    buckets: Vec<u32>,
    len: usize,
}

fn hash(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl IdTable {
    pub(crate) fn with_items(items: usize) -> IdTable {
        let mut t = IdTable::default();
        t.resize_for(items);
        t
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn bytes(&self) -> usize {
        self.buckets.capacity() * 4
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// Buckets for `items` at a load of at most 4/5.
    fn resize_for(&mut self, items: usize) {
        let want = (items.saturating_mul(5) / 4 + 1)
            .next_power_of_two()
            .max(16);
        self.buckets = vec![EMPTY; want];
    }

    pub(crate) fn get(&self, id: u64, ids: &[u64]) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash(id) as usize & mask;
        loop {
            let slot = self.buckets[i];
            if slot == EMPTY {
                return None;
            }
            if ids.get(slot as usize) == Some(&id) {
                return Some(slot);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `id` (not present) at `slot`; `ids[slot]` must already be `id`.
    pub(crate) fn insert(&mut self, id: u64, slot: u32, ids: &[u64]) {
        if self.buckets.is_empty() || (self.len + 1) * 5 > self.buckets.len() * 4 {
            let old = std::mem::take(&mut self.buckets);
            self.resize_for((self.len + 1) * 2);
            for s in old.into_iter().filter(|&s| s != EMPTY) {
                self.place(ids[s as usize], s);
            }
        }
        self.place(id, slot);
        self.len += 1;
    }

    fn place(&mut self, id: u64, slot: u32) {
        let mask = self.mask();
        let mut i = hash(id) as usize & mask;
        while self.buckets[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.buckets[i] = slot;
    }

    /// Removes `id` and returns its slot; `ids` still holds it.
    pub(crate) fn remove(&mut self, id: u64, ids: &[u64]) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash(id) as usize & mask;
        let found = loop {
            let slot = self.buckets[i];
            if slot == EMPTY {
                return None;
            }
            if ids[slot as usize] == id {
                break slot;
            }
            i = (i + 1) & mask;
        };
        // Backward shift: pull later entries of the run into the hole when their home allows.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while self.buckets[j] != EMPTY {
            let home = hash(ids[self.buckets[j] as usize]) as usize & mask;
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.buckets[hole] = self.buckets[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::collections::HashMap;

    #[test]
    fn behaves_like_a_map() {
        let mut rng = Rng::derive(9, &[]);
        let mut ids: Vec<u64> = Vec::new();
        let mut t = IdTable::default();
        let mut model: HashMap<u64, u32> = HashMap::new();
        for step in 0..20_000u32 {
            let id = u64::from(rng.below(3000)) * 0x1_0000_0001;
            if rng.below(3) == 0 {
                assert_eq!(t.remove(id, &ids), model.remove(&id));
            } else if let std::collections::hash_map::Entry::Vacant(e) = model.entry(id) {
                ids.push(id);
                let slot = ids.len() as u32 - 1;
                t.insert(id, slot, &ids);
                e.insert(slot);
            }
            if step % 997 == 0 {
                for (k, v) in &model {
                    assert_eq!(t.get(*k, &ids), Some(*v));
                }
            }
            assert_eq!(t.len(), model.len());
        }
    }
}
