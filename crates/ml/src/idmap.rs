//! `IdMap`: external keys (32-byte user pseudonyms, item id strings) to dense `u32` indices.
//!
//! The matrix, the trainers and the model know only dense indices; the caller keeps the map and
//! the model file stores it. Indices are deterministic: either the order keys were first seen in
//! ([`IdMap::get_or_insert`]) or sorted key order ([`IdMap::from_sorted`]), never a hash order.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use crate::error::IdMapError;

/// A user key: the 32-byte pseudonym (never the external id).
pub type UserKey = [u8; 32];

/// Dense ids for keys, bounded by `len_max`.
#[derive(Debug, Clone)]
pub struct IdMap<K> {
    keys: Vec<K>,
    index: HashMap<K, u32>,
    len_max: u32,
}

impl<K: Clone + Eq + Hash + Ord> IdMap<K> {
    /// An empty map that refuses more than `len_max` keys (at most `u32::MAX - 1`).
    pub fn new(len_max: u32) -> IdMap<K> {
        IdMap {
            keys: Vec::new(),
            index: HashMap::new(),
            len_max: len_max.min(u32::MAX - 1),
        }
    }

    /// The id of `key`, giving it the next id if it is new (first-seen order).
    pub fn get_or_insert(&mut self, key: &K) -> Result<u32, IdMapError> {
        if let Some(&id) = self.index.get(key) {
            return Ok(id);
        }
        let id =
            u32::try_from(self.keys.len()).map_err(|_| IdMapError::Full { max: self.len_max })?;
        if id >= self.len_max {
            return Err(IdMapError::Full { max: self.len_max });
        }
        self.keys.push(key.clone());
        self.index.insert(key.clone(), id);
        Ok(id)
    }

    /// A map whose ids follow sorted key order (duplicates collapse), so the same set of keys
    /// gets the same ids whatever order it arrived in.
    pub fn from_sorted(
        keys: impl IntoIterator<Item = K>,
        len_max: u32,
    ) -> Result<IdMap<K>, IdMapError> {
        let mut keys: Vec<K> = keys.into_iter().collect();
        keys.sort_unstable();
        keys.dedup();
        Self::from_ordered(keys, len_max)
    }

    /// A map whose ids are the positions in `keys`; a repeated key is refused (model files).
    pub fn from_ordered(keys: Vec<K>, len_max: u32) -> Result<IdMap<K>, IdMapError> {
        let len_max = len_max.min(u32::MAX - 1);
        if keys.len() > len_max as usize {
            return Err(IdMapError::Full { max: len_max });
        }
        let mut index = HashMap::with_capacity(keys.len());
        for (position, key) in keys.iter().enumerate() {
            // Fits: keys.len() <= len_max < u32::MAX.
            if index.insert(key.clone(), position as u32).is_some() {
                return Err(IdMapError::Duplicate { position });
            }
        }
        Ok(IdMap {
            keys,
            index,
            len_max,
        })
    }

    pub fn get<Q>(&self, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.index.get(key).copied()
    }

    pub fn key(&self, id: u32) -> Option<&K> {
        self.keys.get(id as usize)
    }

    /// Keys in id order.
    pub fn keys(&self) -> &[K] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len_max(&self) -> u32 {
        self.len_max
    }

    /// Removes the ids in `ids` (strictly ascending); the keys after each removed one move down,
    /// exactly as [`crate::Model::remove_users`] moves rows, so map and model stay aligned.
    /// The index is rebuilt rather than edited so no removed key is left in its table.
    pub fn remove_ids(&mut self, ids: &[u32]) -> Result<(), IdMapError> {
        check_ascending_within(ids, self.keys.len())?;
        let mut removed = ids.iter().peekable();
        let mut position = 0u32;
        self.keys.retain(|_| {
            let drop = removed.peek().is_some_and(|&&id| id == position);
            if drop {
                removed.next();
            }
            position += 1;
            !drop
        });
        self.keys.shrink_to_fit();
        self.index = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as u32))
            .collect();
        Ok(())
    }

    /// Heap bytes held, for memory accounting (keys twice: the list and the index).
    pub fn heap_bytes(&self) -> usize
    where
        K: KeyBytes,
    {
        let keys: usize = self.keys.iter().map(KeyBytes::heap_bytes).sum();
        2 * keys
            + self.keys.capacity() * std::mem::size_of::<K>()
            + self.index.capacity() * (std::mem::size_of::<K>() + 4 + 1)
    }
}

/// Heap bytes a key owns beyond its own size (a `String`'s buffer).
pub trait KeyBytes {
    fn heap_bytes(&self) -> usize;
}

impl KeyBytes for UserKey {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl KeyBytes for String {
    fn heap_bytes(&self) -> usize {
        self.capacity()
    }
}

/// `ids` strictly ascending and each below `len`.
pub(crate) fn check_ascending_within(ids: &[u32], len: usize) -> Result<(), IdMapError> {
    let mut previous: Option<u32> = None;
    for &id in ids {
        if previous.is_some_and(|p| p >= id) || id as usize >= len {
            return Err(IdMapError::UnknownId { id });
        }
        previous = Some(id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_seen_and_sorted_orders_are_deterministic() {
        let mut map = IdMap::new(10);
        assert_eq!(map.get_or_insert(&"b".to_owned()), Ok(0));
        assert_eq!(map.get_or_insert(&"a".to_owned()), Ok(1));
        assert_eq!(map.get_or_insert(&"b".to_owned()), Ok(0));
        assert_eq!(map.get("a"), Some(1));
        let sorted = IdMap::from_sorted(["c", "a", "b", "a"].map(String::from), 10).unwrap();
        assert_eq!(sorted.keys(), ["a", "b", "c"]);
        assert_eq!(sorted.get("c"), Some(2));
    }

    #[test]
    fn bounded_and_duplicates_refused() {
        let mut map = IdMap::new(2);
        map.get_or_insert(&1u8).unwrap();
        map.get_or_insert(&2u8).unwrap();
        assert_eq!(map.get_or_insert(&3u8), Err(IdMapError::Full { max: 2 }));
        assert_eq!(
            IdMap::from_ordered(vec![1u8, 2, 1], 10).unwrap_err(),
            IdMapError::Duplicate { position: 2 }
        );
        assert!(IdMap::from_sorted(0u8..5, 4).is_err());
    }

    #[test]
    fn removal_shifts_later_ids_down() {
        let mut map = IdMap::from_ordered(vec![10u8, 11, 12, 13, 14], 10).unwrap();
        map.remove_ids(&[1, 3]).unwrap();
        assert_eq!(map.keys(), [10, 12, 14]);
        assert_eq!(map.get(&12), Some(1));
        assert_eq!(map.get(&11), None);
        assert!(map.remove_ids(&[2, 1]).is_err());
        assert!(map.remove_ids(&[3]).is_err());
    }
}
