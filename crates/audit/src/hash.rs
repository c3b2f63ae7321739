//! RFC 9162 §2.1.1 hashing: leaf and interior node hashes with their domain-separation prefixes.

use sha2::{Digest, Sha256};

/// A SHA-256 output: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// Prefix of a leaf hash input; keeps a leaf from ever hashing like an interior node (RFC 9162).
const LEAF_PREFIX: u8 = 0x00;
/// Prefix of an interior node hash input.
const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 ‖ leaf)`: the hash of one encoded record.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(leaf);
    hasher.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut block = [0u8; 65];
    block[0] = NODE_PREFIX;
    block[1..33].copy_from_slice(left);
    block[33..].copy_from_slice(right);
    Sha256::digest(block).into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Lowercase hex of a hash, the form used in exports, logs and errors.
pub fn to_hex(hash: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(hash)
}

/// Largest power of two strictly less than `n` (`n >= 2`): RFC 9162's split point `k`.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            to_hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn split_point_is_the_largest_power_of_two_below() {
        let cases = [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (1 << 40, 1 << 39),
            ((1 << 40) + 1, 1 << 40),
        ];
        for (n, k) in cases {
            assert_eq!(split_point(n), k, "n = {n}");
        }
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let mut as_leaf = a.to_vec();
        as_leaf.extend_from_slice(&b);
        assert_ne!(node_hash(&a, &b), leaf_hash(&as_leaf));
        assert_ne!(leaf_hash(b""), empty_root());
    }
}
