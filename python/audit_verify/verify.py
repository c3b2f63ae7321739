#!/usr/bin/env python3
"""Independent verifier of a Steward audit export (format: crates/audit/FORMAT.md).

Usage:
    verify.py EXPORT_DIR [--inclusion PROOF.json] [--consistency PROOF.json]

Reads EXPORT_DIR/heads.json and EXPORT_DIR/records.ndjson, recomputes every leaf hash and the
RFC 9162 Merkle tree, checks that each record's decoded fields match its leaf bytes, that every
signed head's Ed25519 signature verifies with the exported public key (which you should compare
with the deployment key you trust) and that its root equals the recomputed root at its size, that
a log exported as closed cleanly ("shutdown": "closed", FORMAT.md section 4.4) has every record
covered by its last signed head, and optionally verifies an inclusion or consistency proof.
Prints one JSON object and exits 0 when everything verifies (with "warnings" for what is not
proven); otherwise prints {"ok": false, "error": ..., "first_bad_index": ...} and exits 1.

Only the standard library is required: Ed25519 uses the `cryptography` package when it is
installed and a pure-Python RFC 8032 implementation otherwise (or when the environment
variable AUDIT_VERIFY_PURE_PYTHON=1 is set).
"""

import hashlib
import json
import os
import struct
import sys

FORMAT = "steward-audit-export-v1"
HEAD_CONTEXT = b"steward-audit-head-v1"
CHARSET = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:/.-")
# The statement (normalized SQL, version 2 records): printable ASCII except ' \ and `.
STATEMENT_CHARSET = set(range(0x20, 0x7F)) - set(b"'\\`")
STRING_BYTES_MAX = 256
STATEMENT_BYTES_MAX = 4096


class Bad(Exception):
    def __init__(self, message, index=None):
        super().__init__(message)
        self.index = index


# --- RFC 9162 hashing -------------------------------------------------------------------------

def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(leaf):
    return sha256(b"\x00" + leaf)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


class Frontier:
    """Right edge of the tree: one complete subtree per set bit of the size."""

    def __init__(self):
        self.stack, self.size = [], 0

    def push(self, h):
        n = self.size
        while n & 1:
            h = node_hash(self.stack.pop(), h)
            n >>= 1
        self.stack.append(h)
        self.size += 1

    def root(self):
        if not self.stack:
            return sha256(b"")
        acc = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            acc = node_hash(left, acc)
        return acc


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, path):
    """RFC 9162 section 2.1.4.2, plus the trivial cases first == second and first == 0."""
    if first > second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root] + list(path)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# --- Ed25519 (RFC 8032) -----------------------------------------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def _add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa, bb = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    cc, dd = 2 * t1 * t2 * D % P, 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, point):
    acc = (0, 1, 1, 0)
    while s:
        if s & 1:
            acc = _add(acc, point)
        point = _add(point, point)
        s >>= 1
    return acc


def _decompress(data):
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


_GY = 4 * pow(5, P - 2, P) % P
_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % P)


def ed25519_verify_pure(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _decompress(public), _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _equal(_mul(s, _G), _add(r, _mul(k, a)))


def signature_verifier():
    if os.environ.get("AUDIT_VERIFY_PURE_PYTHON") != "1":
        try:
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            def verify(public, message, signature):
                try:
                    Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
                    return True
                except (InvalidSignature, ValueError):
                    return False

            return "cryptography", verify
        except ImportError:
            pass
    return "pure-python", ed25519_verify_pure


# --- records ----------------------------------------------------------------------------------

def decode_leaf(leaf):
    """Parses leaf bytes (FORMAT.md, "Record encoding") into the exported field names.

    Version 1 has no statement (exported as null); version 2 is the version 1 layout followed by
    a non-empty statement. Anything the writer would not produce raises ValueError."""
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(leaf):
            raise ValueError("record ends early")
        out = leaf[pos:pos + n]
        pos += n
        return out

    def string():
        (n,) = struct.unpack(">H", take(2))
        raw = take(n)
        if n > STRING_BYTES_MAX or not set(raw) <= CHARSET:
            raise ValueError("string outside the audit charset")
        return raw.decode("ascii")

    version = take(1)[0]
    if version not in (1, 2):
        raise ValueError("unknown record version")
    out = {"time_us": struct.unpack(">q", take(8))[0], "principal": string(), "action": string()}
    flag = take(1)[0]
    if flag not in (0, 1):
        raise ValueError("bad purpose flag")
    out["purpose"] = string() if flag else None
    out["resource"] = string()
    decision = take(1)[0]
    if decision not in (0, 1):
        raise ValueError("bad decision")
    out["decision"] = "allow" if decision else "deny"
    out["subject_count"] = struct.unpack(">Q", take(8))[0]
    out["subject_refs"] = [take(32).hex() for _ in range(take(1)[0])]
    out["policy_ids"] = [string() for _ in range(take(1)[0])]
    out["request_id"] = string()
    out["result_rows"] = struct.unpack(">Q", take(8))[0]
    out["statement"] = None
    if version == 2:
        (n,) = struct.unpack(">H", take(2))
        if n == 0 or n > STATEMENT_BYTES_MAX:
            raise ValueError("statement empty or longer than 4096 bytes")
        raw = take(n)
        if not set(raw) <= STATEMENT_CHARSET:
            raise ValueError("statement outside its charset")
        out["statement"] = raw.decode("ascii")
    if pos != len(leaf):
        raise ValueError("trailing bytes")
    return out


def head_message(tenant, size, root, time_us):
    t = tenant.encode()
    return HEAD_CONTEXT + struct.pack(">H", len(t)) + t + struct.pack(">Q", size) + root + struct.pack(">q", time_us)


def verify_export(directory, inclusion=None, consistency=None):
    with open(os.path.join(directory, "heads.json")) as f:
        doc = json.load(f)
    if doc.get("format") != FORMAT:
        raise Bad("unknown export format")
    tenant, public = doc["tenant"], bytes.fromhex(doc["public_key"])
    backend, ed_verify = signature_verifier()
    heads = doc["heads"]
    for i, head in enumerate(heads):
        message = head_message(tenant, head["size"], bytes.fromhex(head["root"]), head["time_us"])
        if not ed_verify(public, message, bytes.fromhex(head["signature"])):
            raise Bad("signed head #%d: signature does not verify" % i)
        if i and head["size"] < heads[i - 1]["size"]:
            raise Bad("signed head #%d: size goes backwards" % i)
    frontier, leaves, next_head, proven = Frontier(), [], 0, 0

    def check_heads():
        nonlocal next_head, proven
        while next_head < len(heads) and heads[next_head]["size"] == frontier.size:
            if bytes.fromhex(heads[next_head]["root"]) != frontier.root():
                raise Bad("signed head #%d does not match the records" % next_head, proven)
            proven = frontier.size
            next_head += 1

    check_heads()
    with open(os.path.join(directory, "records.ndjson")) as f:
        for position, line in enumerate(f):
            record = json.loads(line)
            if record["index"] != position:
                raise Bad("record claims index %s" % record["index"], position)
            leaf = bytes.fromhex(record["leaf"])
            h = leaf_hash(leaf)
            if record["leaf_hash"] != h.hex():
                raise Bad("leaf_hash does not match the leaf", position)
            try:
                fields = decode_leaf(leaf)
            except ValueError as error:
                raise Bad("leaf does not decode: %s" % error, position)
            if any(record.get(name) != value for name, value in fields.items()):
                raise Bad("decoded fields differ from the leaf", position)
            leaves.append(h)
            frontier.push(h)
            check_heads()
    if next_head < len(heads):
        raise Bad("signed head #%d covers %d records but the export has %d"
                  % (next_head, heads[next_head]["size"], frontier.size), frontier.size)
    if doc.get("records") != frontier.size:
        raise Bad("heads.json announces %s records, records.ndjson has %d" % (doc.get("records"), frontier.size))
    signed_size = heads[-1]["size"] if heads else 0
    # Exports written before shutdown markers existed lack the field.
    shutdown = doc.get("shutdown")
    if shutdown not in (None, "open", "closed", "unmarked"):
        raise Bad("unknown shutdown state")
    if shutdown == "closed" and signed_size < frontier.size:
        raise Bad("records %d..%d are covered by no signed head, but the log was closed cleanly "
                  "(a clean close signs every record): heads were removed or records added"
                  % (signed_size, frontier.size), signed_size)
    warnings = []
    if shutdown == "open":
        warnings.append("the log was marked open (its writer was running or had crashed) when exported")
    elif shutdown != "closed":
        warnings.append("the export does not say the log was closed cleanly")
    if signed_size < frontier.size:
        warnings.append("records %d..%d are covered by no signed head" % (signed_size, frontier.size))
    result = {"ok": True, "size": frontier.size, "root": frontier.root().hex(), "heads": len(heads),
              "signed_size": signed_size, "shutdown": shutdown, "warnings": warnings,
              "signature_backend": backend}
    head_roots = {h["size"]: h["root"] for h in heads}
    if inclusion:
        with open(inclusion) as f:
            proof = json.load(f)
        index, size = proof["index"], proof["tree_size"]
        if index >= len(leaves) or proof["leaf_hash"] != leaves[index].hex():
            raise Bad("inclusion proof is for another leaf", index)
        if size in head_roots and head_roots[size] != proof["root"]:
            raise Bad("inclusion proof root differs from the signed head of that size")
        path = [bytes.fromhex(h) for h in proof["path"]]
        if not verify_inclusion(leaves[index], index, size, path, bytes.fromhex(proof["root"])):
            raise Bad("inclusion proof does not verify", index)
        result["inclusion"] = {"index": index, "tree_size": size, "signed": size in head_roots}
    if consistency:
        with open(consistency) as f:
            proof = json.load(f)
        first, second = proof["from"], proof["to"]
        for size, root in ((first, proof["root_from"]), (second, proof["root_to"])):
            if size in head_roots and head_roots[size] != root:
                raise Bad("consistency proof root differs from the signed head of size %d" % size)
        path = [bytes.fromhex(h) for h in proof["path"]]
        if not verify_consistency(first, second, bytes.fromhex(proof["root_from"]),
                                  bytes.fromhex(proof["root_to"]), path):
            raise Bad("consistency proof does not verify")
        result["consistency"] = {"from": first, "to": second}
    return result


def main(argv):
    args, options = [], {}
    it = iter(argv)
    for arg in it:
        if arg in ("--inclusion", "--consistency"):
            options[arg[2:]] = next(it, None)
        else:
            args.append(arg)
    if len(args) != 1 or None in options.values():
        print("usage: verify.py EXPORT_DIR [--inclusion PROOF.json] [--consistency PROOF.json]", file=sys.stderr)
        return 2
    try:
        result = verify_export(args[0], **options)
    except Bad as error:
        print(json.dumps({"ok": False, "error": str(error), "first_bad_index": error.index}))
        return 1
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(json.dumps({"ok": False, "error": "unreadable export: %s" % error, "first_bad_index": None}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
