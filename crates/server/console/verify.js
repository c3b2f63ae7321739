// Steward console: checks done in the browser with WebCrypto: erasure receipts (Ed25519
// signature, RFC 9162 inclusion proof, subject hash) and the audit log (signed heads and a
// consistency proof between the oldest and newest signed head, and to the current tree).

import * as api from './api.js';

const enc = new TextEncoder();

export function unhex(text) {
  if (typeof text !== 'string' || text.length % 2 || /[^0-9a-f]/.test(text)) throw new Error('expected lowercase hex');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function hex(bytes) {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

const node = (left, right) => sha256(concat(Uint8Array.of(1), left, right));
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** RFC 9162 §2.1.3.2: an inclusion proof of leaf `index` in a tree of `size`. */
export async function verifyInclusion(leaf, index, size, path, root) {
  if (index >= size) return false;
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await node(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await node(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equal(r, root);
}

/** RFC 9162 §2.1.4.2: a consistency proof between tree sizes `first` and `second`. */
export async function verifyConsistency(first, second, firstRoot, secondRoot, path) {
  if (first > second) return false;
  if (first === second) return path.length === 0 && equal(firstRoot, secondRoot);
  if (first === 0) return path.length === 0;
  if (path.length === 0) return false;
  let proof = path;
  if ((first & (first - 1)) === 0) proof = [firstRoot, ...path];
  let fn = BigInt(first - 1);
  let sn = BigInt(second - 1);
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = proof[0];
  let sr = proof[0];
  for (const c of proof.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await node(c, fr);
      sr = await node(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      sr = await node(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equal(fr, firstRoot) && equal(sr, secondRoot);
}

async function ed25519(publicKeyHex, message, signatureHex) {
  const key = await crypto.subtle.importKey('raw', unhex(publicKeyHex), { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, unhex(signatureHex), message);
}

async function check(checks, what, fn) {
  try {
    const result = await fn();
    const ok = result === true || (result && result.ok);
    checks.push({ what, ok: Boolean(ok), detail: result && result.detail });
  } catch (e) {
    checks.push({ what, ok: false, detail: e.message });
  }
}

/**
 * Checks an erasure receipt: its format, the Ed25519 signature over
 * `steward-erasure-receipt-v1\n ‖ body` (the body re-serialized as served: keys in order,
 * compact), by the deployment key the audit head names; the inclusion proof of the completion
 * record; its last state `done`; and, when the salt and pseudonym are known (this session filed
 * it), that subject_hash = SHA-256(salt ‖ pseudonym).
 */
export async function verifyReceipt(receipt, { trustedKey, salt, pseudonym } = {}) {
  const checks = [];
  const body = receipt && receipt.body;
  await check(checks, 'format steward-erasure-receipt-v1', () => receipt.format === 'steward-erasure-receipt-v1');
  await check(checks, 'signature by the key the receipt names', () => ed25519(body.public_key,
    concat(enc.encode('steward-erasure-receipt-v1\n'), enc.encode(JSON.stringify(body))), receipt.signature));
  if (trustedKey) await check(checks, 'signed by this deployment\'s audit key', () => body.public_key === trustedKey);
  await check(checks, 'completion record included in the audit log (RFC 9162 proof)', () => {
    const a = body.audit;
    return verifyInclusion(unhex(a.leaf_hash), a.index, a.tree_size, a.path.map(unhex), unhex(a.root));
  });
  await check(checks, 'last state is done', () => (body.states || []).at(-1)?.state === 'done');
  if (salt && pseudonym) {
    await check(checks, 'about this subject (salted hash)', async () => hex(await sha256(concat(unhex(salt), unhex(pseudonym)))) === body.subject_hash);
  }
  return checks;
}

function headMessage(tenant, size, root, timeUs) {
  const t = enc.encode(tenant);
  const out = new Uint8Array(21 + 2 + t.length + 8 + 32 + 8);
  const view = new DataView(out.buffer);
  out.set(enc.encode('steward-audit-head-v1'), 0);
  view.setUint16(21, t.length);
  out.set(t, 23);
  view.setBigUint64(23 + t.length, BigInt(size));
  out.set(root, 31 + t.length);
  view.setBigInt64(63 + t.length, BigInt(timeUs));
  return out;
}

/**
 * Checks a tenant's audit log as a monitor would: every signed head on the first page has a
 * valid signature over the message rebuilt from its fields, and the log is consistent from the
 * oldest signed head to the newest and from the newest to the current tree.
 */
export async function verifyAudit(tenant) {
  const checks = [];
  const head = await api.get(api.t('/audit/head'));
  const page = await api.get(api.t(`/audit/heads${api.qs({ limit: 1000 })}`));
  const heads = page.heads || [];
  checks.push({ what: `${heads.length} signed head(s) read, log size ${head.size}`, ok: true });
  await check(checks, 'every head\'s signature is valid and covers its size, root and time', async () => {
    for (const sh of heads) {
      const msg = headMessage(tenant, sh.size, unhex(sh.root), sh.time_us);
      if (hex(msg) !== sh.message) return { ok: false, detail: `head of size ${sh.size}: message does not match its fields` };
      if (!(await ed25519(page.public_key, msg, sh.signature))) return { ok: false, detail: `head of size ${sh.size}: bad signature` };
    }
    return true;
  });
  if (heads.length > 1) {
    const a = heads[0];
    const b = heads[heads.length - 1];
    await check(checks, `consistent from size ${a.size} to ${b.size} (RFC 9162 proof)`, async () => {
      const p = await api.get(api.t(`/audit/proofs/consistency${api.qs({ from: a.size, to: b.size })}`));
      return verifyConsistency(a.size, b.size, unhex(a.root), unhex(b.root), p.path.map(unhex));
    });
  }
  if (heads.length > 0) {
    const b = heads[heads.length - 1];
    await check(checks, `consistent from the newest signed head (${b.size}) to the current tree (${head.size})`, async () => {
      const p = await api.get(api.t(`/audit/proofs/consistency${api.qs({ from: b.size, to: head.size })}`));
      return verifyConsistency(b.size, head.size, unhex(b.root), unhex(p.root_to), p.path.map(unhex)) && p.root_to === head.root ? true : { ok: false, detail: 'proof does not hold' };
    });
  }
  return checks;
}
