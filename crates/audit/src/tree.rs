//! An in-memory Merkle tree over leaf hashes that answers roots at any past size, inclusion
//! proofs and consistency proofs (generation per RFC 9162 §2.1.3.1 and §2.1.4.1).
//!
//! Memory: the leaf hashes (32 B per record) plus complete subtree hashes from level
//! [`CACHE_LEVEL_MIN`] up (about 4 B per record at level 4), so a proof costs O(log n) cached
//! lookups plus at most `2^CACHE_LEVEL_MIN - 1` hashes per level below the cache.

use crate::error::ProofError;
use crate::frontier::Frontier;
use crate::hash::{Hash, empty_root, node_hash, split_point};
use crate::limits::CACHE_LEVEL_MIN;

/// Leaf hashes and cached subtree hashes of a growing tree.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    leaves: Vec<Hash>,
    /// `levels[j]` holds the complete, aligned subtrees of `2^j` leaves, left to right; empty
    /// for `j < CACHE_LEVEL_MIN`.
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MerkleTree {
    /// The empty tree.
    pub fn new() -> MerkleTree {
        MerkleTree::default()
    }

    /// A tree over `leaves` (leaf hashes, in order).
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> MerkleTree {
        let mut tree = MerkleTree::new();
        for leaf in leaves {
            tree.push(leaf);
        }
        tree
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// Appends one leaf hash (`leaf_hash(record bytes)`).
    pub fn push(&mut self, leaf: Hash) {
        self.leaves.push(leaf);
        let levels = &mut self.levels;
        self.frontier.push_with(leaf, |level, hash| {
            if level >= CACHE_LEVEL_MIN {
                let level = level as usize;
                if levels.len() <= level {
                    levels.resize_with(level + 1, Vec::new);
                }
                levels[level].push(*hash);
            }
        });
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.leaves.get(i))
            .copied()
    }

    /// The root of the whole tree (O(log n), from the frontier).
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The root the tree had when it held `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        Ok(self.mth(0, size))
    }

    /// The audit path of leaf `index` in the tree of the first `tree_size` leaves, leaf-level
    /// sibling first (RFC 9162 §2.1.3.1 `PATH(m, D[n])`).
    pub fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(tree_size)?;
        if index >= tree_size {
            return Err(ProofError::IndexOutOfRange { index, tree_size });
        }
        let mut proof = Vec::with_capacity(64 - tree_size.leading_zeros() as usize);
        self.path(index, 0, tree_size, &mut proof);
        Ok(proof)
    }

    /// The proof that the tree of `from` leaves is a prefix of the tree of `to` leaves (RFC 9162
    /// §2.1.4.1 `PROOF(m, D[n])`). Empty when `from == to` or `from == 0`, where there is nothing
    /// to prove beyond comparing roots.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(to)?;
        if from > to {
            return Err(ProofError::FromAfterTo { from, to });
        }
        let mut proof = Vec::new();
        if from > 0 && from < to {
            self.subproof(from, 0, to, true, &mut proof);
        }
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        if size > self.size() {
            return Err(ProofError::SizeOutOfRange {
                size,
                tree_size: self.size(),
            });
        }
        Ok(())
    }

    /// `PATH(m, D[start..start + n])`, appended bottom-up.
    fn path(&self, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = split_point(n);
        if m < k {
            self.path(m, start, k, out);
            out.push(self.mth(start + k, n - k));
        } else {
            self.path(m - k, start + k, n - k, out);
            out.push(self.mth(start, k));
        }
    }

    /// `SUBPROOF(m, D[start..start + n], b)`, appended bottom-up.
    fn subproof(&self, m: u64, start: u64, n: u64, complete_subtree: bool, out: &mut Vec<Hash>) {
        if m == n {
            if !complete_subtree {
                out.push(self.mth(start, n));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, k, complete_subtree, out);
            out.push(self.mth(start + k, n - k));
        } else {
            self.subproof(m - k, start + k, n - k, false, out);
            out.push(self.mth(start, k));
        }
    }

    /// `MTH(D[start..start + n])`. Every range the RFC recursion asks for starts at a multiple of
    /// its split point, so its left part is always a complete aligned subtree.
    fn mth(&self, start: u64, n: u64) -> Hash {
        match n {
            0 => empty_root(),
            _ if n.is_power_of_two() => self.perfect(start, n.trailing_zeros()),
            _ => {
                let k = split_point(n);
                node_hash(
                    &self.perfect(start, k.trailing_zeros()),
                    &self.mth(start + k, n - k),
                )
            }
        }
    }

    /// Hash of the complete subtree of `2^level` leaves starting at `start` (a multiple of it).
    fn perfect(&self, start: u64, level: u32) -> Hash {
        debug_assert_eq!(start % (1 << level), 0, "subtrees are aligned");
        if level == 0 {
            return self.leaves[start as usize];
        }
        if level >= CACHE_LEVEL_MIN
            && let Some(hash) = self
                .levels
                .get(level as usize)
                .and_then(|l| l.get((start >> level) as usize))
        {
            return *hash;
        }
        let half = 1 << (level - 1);
        node_hash(
            &self.perfect(start, level - 1),
            &self.perfect(start + half, level - 1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    fn reference_mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference_mth(&leaves[..k]), &reference_mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_at_past_sizes_match_the_recursive_definition() {
        let leaves: Vec<Hash> = (0u32..130).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let tree = MerkleTree::from_leaves(leaves.iter().copied());
        for size in 0..=leaves.len() {
            assert_eq!(
                tree.root_at(size as u64).unwrap(),
                reference_mth(&leaves[..size]),
                "size {size}"
            );
        }
        assert_eq!(tree.root(), reference_mth(&leaves));
        assert!(matches!(
            tree.root_at(131),
            Err(ProofError::SizeOutOfRange { .. })
        ));
    }

    /// The worked example of RFC 6962 §2.1.3 (7 leaves d0..d6), with its node names.
    #[test]
    fn proofs_match_the_rfc_example() {
        let d: Vec<Hash> = (0u8..7).map(|i| leaf_hash(&[i])).collect();
        let (a, b, c, dd, e, f, j) = (d[0], d[1], d[2], d[3], d[4], d[5], d[6]);
        let g = node_hash(&a, &b);
        let h = node_hash(&c, &dd);
        let i = node_hash(&e, &f);
        let k = node_hash(&g, &h);
        let l = node_hash(&i, &j);
        let tree = MerkleTree::from_leaves(d.iter().copied());
        assert_eq!(tree.root(), node_hash(&k, &l));
        assert_eq!(tree.inclusion_proof(0, 7).unwrap(), vec![b, h, l]);
        assert_eq!(tree.inclusion_proof(3, 7).unwrap(), vec![c, g, l]);
        assert_eq!(tree.inclusion_proof(4, 7).unwrap(), vec![f, j, k]);
        assert_eq!(tree.inclusion_proof(6, 7).unwrap(), vec![i, k]);
        assert_eq!(tree.consistency_proof(3, 7).unwrap(), vec![c, dd, g, l]);
        assert_eq!(tree.consistency_proof(4, 7).unwrap(), vec![l]);
        assert_eq!(tree.consistency_proof(6, 7).unwrap(), vec![i, j, k]);
    }
}
