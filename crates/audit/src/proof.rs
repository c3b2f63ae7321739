//! Proof verification exactly as RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency)
//! describe it; free functions so a client needs no log to check what a log handed it.

use crate::hash::{Hash, node_hash};

/// Whether `proof` shows that `leaf_hash` is leaf `index` of the tree of `tree_size` leaves
/// whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= tree_size {
        return false;
    }
    let mut fn_ = index;
    let mut sn = tree_size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Whether `proof` shows that the tree of `from` leaves with root `root_from` is a prefix of the
/// tree of `to` leaves with root `root_to` (RFC 9162 §2.1.4.2).
///
/// The RFC defines proofs for `0 < from < to`; the two edge cases are decided here without one:
/// `from == to` holds when the roots are equal and the proof is empty, and `from == 0` (the
/// empty tree is a prefix of every tree) holds when the proof is empty.
pub fn verify_consistency(
    from: u64,
    to: u64,
    root_from: &Hash,
    root_to: &Hash,
    proof: &[Hash],
) -> bool {
    if from > to {
        return false;
    }
    if from == to {
        return proof.is_empty() && root_from == root_to;
    }
    if from == 0 {
        return proof.is_empty();
    }
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    // Step 2: when `from` is a power of two the first subtree is the old root itself, which the
    // proof omits; prepend it.
    let (seed, rest) = if from.is_power_of_two() {
        (root_from, proof)
    } else {
        (first, rest)
    };
    let mut fn_ = from - 1;
    let mut sn = to - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = *seed;
    let mut sr = *seed;
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *root_from && sr == *root_to && sn == 0
}

/// An inclusion proof with everything a client needs to check it (see `FORMAT.md` for JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    /// The audit path, leaf-level sibling first.
    pub path: Vec<Hash>,
    /// Root of the tree of `tree_size` records; trust it by matching a signed head.
    pub root: Hash,
}

impl InclusionProof {
    /// Whether the proof holds (RFC 9162 §2.1.3.2).
    pub fn verify(&self) -> bool {
        verify_inclusion(
            &self.leaf_hash,
            self.index,
            self.tree_size,
            &self.path,
            &self.root,
        )
    }
}

/// A consistency proof between two tree sizes, with both roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub root_from: Hash,
    pub root_to: Hash,
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// Whether the proof holds (RFC 9162 §2.1.4.2).
    pub fn verify(&self) -> bool {
        verify_consistency(
            self.from,
            self.to,
            &self.root_from,
            &self.root_to,
            &self.path,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MerkleTree;
    use crate::hash::leaf_hash;

    #[test]
    fn every_proof_of_a_small_tree_verifies_and_a_changed_one_does_not() {
        let leaves: Vec<Hash> = (0u32..40).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let tree = MerkleTree::from_leaves(leaves.iter().copied());
        for n in 1..=40u64 {
            let root = tree.root_at(n).unwrap();
            for m in 0..n {
                let proof = tree.inclusion_proof(m, n).unwrap();
                assert!(
                    verify_inclusion(&leaves[m as usize], m, n, &proof, &root),
                    "inclusion {m} in {n}"
                );
                assert!(!verify_inclusion(&leaves[m as usize], m + 1, n, &proof, &root) || n == 1);
                let root_m = tree.root_at(m).unwrap();
                let proof = tree.consistency_proof(m, n).unwrap();
                assert!(
                    verify_consistency(m, n, &root_m, &root, &proof),
                    "consistency {m} -> {n}"
                );
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_consistency(m, n, &root_m, &root, &bad));
                }
            }
        }
    }
}
