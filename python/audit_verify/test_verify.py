"""Unit tests of verify.py's primitives: RFC 8032 vectors for the pure-Python Ed25519, the
RFC 6962 example tree for the Merkle code, record decoding (a version 1 leaf written by the
Rust encoder, version 2 with a statement, non-canonical leaves refused), and the shutdown rule
(an export of a log closed cleanly must have every record signed).
Run: python3 -m unittest discover python/audit_verify"""

import json
import os
import sys
import tempfile
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


# The Rust unit tests' sample record as encoded by version 1 (crates/audit/src/record.rs).
SAMPLE_V1 = bytes.fromhex(
    "0100060a24181e4000000a6b65793a6b5f30314858000b6576656e74732e72656164010007737570706f7274"
    "001274656e616e742f61636d652f6576656e7473010000000000000001010707070707070707070707070707"
    "0707070707070707070707070707070707070200027031000c726f6c652e616e616c79737400077265712d31"
    "3233000000000000002a")
SAMPLE_FIELDS = {
    "time_us": 1700000000000000, "principal": "key:k_01HX", "action": "events.read", "purpose": "support",
    "resource": "tenant/acme/events", "decision": "allow", "subject_count": 1, "subject_refs": ["07" * 32],
    "policy_ids": ["p1", "role.analyst"], "request_id": "req-123", "result_rows": 42, "statement": None,
}


def with_statement(raw, version=2):
    return bytes([version]) + SAMPLE_V1[1:] + len(raw).to_bytes(2, "big") + raw


class DecodeTest(unittest.TestCase):
    def test_version_1_decodes_without_a_statement(self):
        self.assertEqual(verify.decode_leaf(SAMPLE_V1), SAMPLE_FIELDS)

    def test_version_2_carries_the_statement(self):
        statement = 'SELECT "subject", count(*) FROM events WHERE kind = ? LIMIT ?'
        fields = verify.decode_leaf(with_statement(statement.encode()))
        self.assertEqual(fields, dict(SAMPLE_FIELDS, statement=statement))
        self.assertEqual(verify.decode_leaf(with_statement(b"?" * 4096))["statement"], "?" * 4096)

    def test_non_canonical_leaves_are_refused(self):
        bad = [
            with_statement(b""),                       # version 2 with an empty statement
            b"\x02" + SAMPLE_V1[1:],                   # version 2 without a statement
            with_statement(b"x", version=1),           # version 1 never has one
            with_statement(b"?" * 4097),               # too long
            b"\x03" + SAMPLE_V1[1:],                   # unknown version
            with_statement(b"SELECT ?")[:-1],          # cut short
            with_statement(b"SELECT ?") + b"\x00",     # trailing byte
        ]
        bad += [with_statement(b"SELECT * FROM t WHERE a = " + c) for c in
                (b"'x'", b"\\x", b"`t`", b"\n", b"\x7f", "\u00e9".encode())]
        for leaf in bad:
            with self.assertRaises(ValueError, msg=leaf.hex()):
                verify.decode_leaf(leaf)


class ShutdownTest(unittest.TestCase):
    """One unsigned record: allowed with a warning unless the log was closed cleanly."""

    def export(self, directory, shutdown):
        record = dict(SAMPLE_FIELDS, index=0, leaf=SAMPLE_V1.hex(), leaf_hash=verify.leaf_hash(SAMPLE_V1).hex())
        with open(os.path.join(directory, "records.ndjson"), "w") as f:
            f.write(json.dumps(record) + "\n")
        doc = {"format": verify.FORMAT, "tenant": "acme", "public_key": "00" * 32, "hash": "sha256",
               "records": 1, "heads": []}
        if shutdown is not None:
            doc["shutdown"] = shutdown
        with open(os.path.join(directory, "heads.json"), "w") as f:
            json.dump(doc, f)

    def test_closed_requires_every_record_signed(self):
        with tempfile.TemporaryDirectory() as directory:
            self.export(directory, "closed")
            with self.assertRaises(verify.Bad) as caught:
                verify.verify_export(directory)
            self.assertEqual(caught.exception.index, 0)
            for shutdown in ("open", "unmarked", None):
                self.export(directory, shutdown)
                result = verify.verify_export(directory)
                self.assertEqual(result["shutdown"], shutdown)
                self.assertTrue(any("no signed head" in w for w in result["warnings"]), result)
            self.export(directory, "tidy")
            with self.assertRaises(verify.Bad):
                verify.verify_export(directory)


if __name__ == "__main__":
    unittest.main()
