"""Unit tests of verify.py's primitives: RFC 8032 vectors for the pure-Python Ed25519 and the
RFC 6962 example tree for the Merkle code. Run: python3 -m unittest discover python/audit_verify"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify  # noqa: E402

# RFC 8032 section 7.1, tests 1 and 2: (public key, message, signature).
VECTORS = [
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
]


class Ed25519Test(unittest.TestCase):
    def test_rfc8032_vectors_verify(self):
        for public, message, signature in VECTORS:
            self.assertTrue(verify.ed25519_verify_pure(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)))

    def test_altered_inputs_fail(self):
        public, message, signature = (bytes.fromhex(x) for x in VECTORS[1])
        self.assertFalse(verify.ed25519_verify_pure(public, b"\x73", signature))
        bad = bytearray(signature)
        bad[5] ^= 1
        self.assertFalse(verify.ed25519_verify_pure(public, message, bytes(bad)))
        other = bytes.fromhex(VECTORS[0][0])
        self.assertFalse(verify.ed25519_verify_pure(other, message, signature))
        # S >= L is refused (malleability).
        s = int.from_bytes(signature[32:], "little") + verify.L
        self.assertFalse(verify.ed25519_verify_pure(public, message, signature[:32] + s.to_bytes(32, "little")))


class MerkleTest(unittest.TestCase):
    def test_rfc6962_example_proofs(self):
        d = [verify.leaf_hash(bytes([i])) for i in range(7)]
        f = verify.Frontier()
        for h in d:
            f.push(h)
        g, h, i = verify.node_hash(d[0], d[1]), verify.node_hash(d[2], d[3]), verify.node_hash(d[4], d[5])
        k, l = verify.node_hash(g, h), verify.node_hash(i, d[6])
        root = verify.node_hash(k, l)
        self.assertEqual(f.root(), root)
        self.assertTrue(verify.verify_inclusion(d[3], 3, 7, [d[2], g, l], root))
        self.assertFalse(verify.verify_inclusion(d[3], 2, 7, [d[2], g, l], root))
        root3 = verify.node_hash(g, d[2])
        self.assertTrue(verify.verify_consistency(3, 7, root3, root, [d[2], d[3], g, l]))
        self.assertTrue(verify.verify_consistency(4, 7, k, root, [l]))
        self.assertFalse(verify.verify_consistency(4, 7, k, root, [k]))
        self.assertEqual(verify.Frontier().root().hex(),
                         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


if __name__ == "__main__":
    unittest.main()
