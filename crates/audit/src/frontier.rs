//! The right edge of a Merkle tree: enough to append a leaf and compute the root in O(log n).
//!
//! For `n` leaves the frontier holds one complete subtree per set bit of `n`, largest (leftmost)
//! first. Appending merges equal-sized subtrees like binary carry; the root folds the frontier
//! from the right, which is exactly RFC 9162's MTH with its largest-power-of-two split. This is
//! what the offline verifier keeps, so verification costs about two hashes per record and never
//! recomputes the tree at a signed head.

use crate::hash::{Hash, empty_root, node_hash};

/// Complete subtrees on the right edge of a tree; O(log n) memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    /// Subtree hashes, largest first; their sizes are the set bits of `size`, descending.
    stack: Vec<Hash>,
    size: u64,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash. `completed` sees every complete subtree formed by the merge, as
    /// `(level, hash)` with `level >= 1` (a subtree of `2^level` leaves), smallest first.
    pub fn push_with(&mut self, leaf: Hash, mut completed: impl FnMut(u32, &Hash)) {
        let mut hash = leaf;
        let mut level = 0;
        while self.size >> level & 1 == 1 {
            let left = self
                .stack
                .pop()
                .unwrap_or_else(|| unreachable!("one subtree per set bit"));
            hash = node_hash(&left, &hash);
            level += 1;
            completed(level, &hash);
        }
        self.stack.push(hash);
        self.size += 1;
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_with(leaf, |_, _| {});
    }

    /// The Merkle tree hash of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.stack.iter().rev();
        let Some(last) = subtrees.next() else {
            return empty_root();
        };
        subtrees.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    /// MTH straight from the RFC's recursive definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = crate::hash::split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn root_matches_the_recursive_definition_at_every_size() {
        let mut frontier = Frontier::new();
        let mut leaves = Vec::new();
        assert_eq!(frontier.root(), empty_root());
        for i in 0u32..200 {
            let leaf = leaf_hash(&i.to_be_bytes());
            leaves.push(leaf);
            frontier.push(leaf);
            assert_eq!(frontier.root(), mth(&leaves), "size {}", i + 1);
            assert_eq!(frontier.stack.len(), frontier.size.count_ones() as usize);
        }
    }
}
