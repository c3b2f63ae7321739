#!/usr/bin/env bash
# Vector index speed (issue 13, item 6, ANN bullets): steward-ml's VectorIndex (own HNSW over int8
# codes, exact re-scoring) against hnswlib and faiss-cpu (IndexHNSWFlat), on the SAME vectors:
# bench/ann_peers.py prepare writes 100k x 384 clustered vectors, 1,000 queries and the exact
# top 10 (unfiltered and at 1/10/50% selectivity) once; every side reads those files.
# Build on 1 thread for every library; search single-threaded; ef swept; per run and library
# the QPS at recall@10 >= 0.95 is the best QPS among the ef values reaching 0.95. M = 16 for all
# three (efConstruction 100) and M = 12 for Steward and hnswlib. Medians over RUNS runs.
#
#   bash bench/ann.sh              RUNS=3
#   RUNS=1 N=20000 bash bench/ann.sh
#   VECTORS=minilm bash bench/ann.sh   real MiniLM embeddings of generated texts
#
# Needs bench/.venv-ml with hnswlib and faiss-cpu (bash bench/setup-ml.sh). Writes
# bench/out/ann-<stamp>.md and the raw output beside it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
RUNS="${RUNS:-3}"
N="${N:-100000}"
out="$root/bench/out"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out/ann-$stamp.txt"
py=bench/.venv-ml/bin/python
[ -x "$py" ] && "$py" -c 'import hnswlib, faiss' 2>/dev/null || bash bench/setup-ml.sh
target="${CARGO_TARGET_DIR:-$root/target}"
[ -n "${NO_BUILD:-}" ] || cargo build --release -p steward-ml --example bench_ann
# VECTORS=clustered (default): Gaussian clusters. VECTORS=minilm: real all-MiniLM-L6-v2
# embeddings (steward-text, checked equal to sentence-transformers' by CI) of N + 1,000 generated
# texts (support messages, reviews, product descriptions; bench/ann_peers.py texts), the last
# 1,000 the queries.
VECTORS="${VECTORS:-clustered}"
if [ "$VECTORS" = minilm ]; then
  data="${DATA:-$out/ann-minilm-$N}"
  if [ ! -f "$data/truth-50.u32" ]; then
    bash scripts/models.sh
    [ -n "${NO_BUILD:-}" ] || cargo build --release -p steward-text --example text_bench
    "$py" bench/ann_peers.py texts --dir "$data" --n "$N"
    RAYON_NUM_THREADS="$(nproc)" STEWARD_MODELS="${STEWARD_MODELS:-$root/models}" \
      "$target/release/examples/text_bench" embed-raw "$data/texts.json" "$data/all.f32"
    "$py" - "$data" "$N" <<'PY'
import numpy as np, os, sys
d, n = sys.argv[1], int(sys.argv[2])
v = np.fromfile(os.path.join(d, "all.f32"), "<f4").reshape(-1, 384)
v[:n].tofile(os.path.join(d, "base.f32")); v[n:].tofile(os.path.join(d, "queries.f32"))
os.remove(os.path.join(d, "all.f32"))
PY
    "$py" bench/ann_peers.py truth --dir "$data"
  fi
else
  data="${DATA:-$out/ann-data-$N}"
  [ -f "$data/truth-50.u32" ] || "$py" bench/ann_peers.py prepare --dir "$data" --n "$N"
fi
{
  echo "vectors $VECTORS data $data"
  echo "commit $(git rev-parse --short HEAD) dirty=$([ -z "$(git status --porcelain -- crates/ml)" ] && echo no || echo yes) nproc $(nproc) cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  for run in $(seq 1 "$RUNS"); do
    for m in 16 12; do
      echo "== run $run steward m $m load $(cut -d' ' -f1-3 /proc/loadavg)"
      "$target/release/examples/bench_ann" --dir "$data" --m "$m"
      echo "== run $run peers m $m load $(cut -d' ' -f1-3 /proc/loadavg)"
      peers=hnswlib; [ "$m" = 16 ] && peers=hnswlib,faiss
      OMP_NUM_THREADS=1 "$py" bench/ann_peers.py run --dir "$data" --m "$m" --peers "$peers"
    done
  done
} | tee "$raw"
"$py" - "$raw" "$out/ann-$stamp.md" <<'PY'
import re, statistics, sys
from collections import defaultdict
raw, md = sys.argv[1], sys.argv[2]
run = 0
build = defaultdict(list); mem = defaultdict(list); rss = defaultdict(list)
sweep = defaultdict(lambda: defaultdict(list))      # (lib, m, filter) -> run -> [(ef, qps, recall)]
loads = []
for line in open(raw):
    m = re.match(r"== run (\d+) .* load ([\d.]+)", line)
    if m:
        run = int(m[1]); loads.append(float(m[2])); continue
    m = re.match(r"(\w+) m (\d+) build ([\d.]+) s threads \d+ memory_rss (\d+)", line)
    if m:
        build[(m[1], m[2])].append(float(m[3])); rss[(m[1], m[2])].append(int(m[4])); continue
    m = re.match(r"steward m (\d+) memory graph\+codes (\d+) .* float32 (\d+) ratio ([\d.]+)", line)
    if m:
        mem[m[1]].append(float(m[4])); continue
    m = re.match(r"(\w+) m (\d+) (?:filter (\d+) )?ef (\d+) qps ([\d.]+) recall ([\d.]+)", line)
    if m:
        sweep[(m[1], m[2], int(m[3] or 0))][run].append((int(m[4]), float(m[5]), float(m[6])))
med = statistics.median
def best(points, target=0.95):
    ok = [(q, ef, r) for ef, q, r in points if r >= target]
    return max(ok) if ok else None
lines = [f"# Vector index benchmark ({open(raw).readline().strip()})", "",
         f"load average at the start of each side: min {min(loads):.2f}, median {med(loads):.2f}, max {max(loads):.2f}", "",
         "## QPS at recall@10 >= 0.95 (single-threaded search), build (1 thread), memory", "",
         "| library | M | QPS (median) | ef (per run) | recall | build s (median) | memory |", "| --- | --- | --- | --- | --- | --- | --- |"]
qps = {}
for key in sorted(k for k in sweep if k[2] == 0):
    lib, m, _ = key
    per = [best(p) for p in sweep[key].values()]
    got = [b for b in per if b]
    q = med([b[0] for b in got]) if got else 0.0
    qps[(lib, m)] = q
    memtxt = f"graph+codes {med(mem[m]):.3f}x float32 (rows apart)" if lib == "steward" else f"RSS delta {med(rss[(lib, m)]) / 1e6:.1f} MB"
    lines.append(f"| {lib} | {m} | {q:.0f} | {[b[1] if b else None for b in per]} | {[b[2] if b else None for b in per]} | {med(build[(lib, m)]):.1f} | {memtxt} |")
lines += ["", "Ratios (Steward / hnswlib): "]
for m in ["16", "12"]:
    if ("steward", m) in qps and ("hnswlib", m) in qps and qps[("hnswlib", m)]:
        lines.append(f"- M {m}: QPS {qps[('steward', m)] / qps[('hnswlib', m)]:.2f}x (target >= 1.5), build {med(build[('steward', m)]) / med(build[('hnswlib', m)]):.2f}x (target <= 1)")
if ("steward", "12") in qps and ("hnswlib", "16") in qps:
    lines.append(f"- Steward M 12 vs hnswlib M 16: QPS {qps[('steward', '12')] / qps[('hnswlib', '16')]:.2f}x")
lines += ["", "## Filtered search (recall@10 and QPS per ef; medians over runs)", "", "| library | M | allowed | ef | QPS | recall |", "| --- | --- | --- | --- | --- | --- |"]
for key in sorted(k for k in sweep if k[2] != 0):
    lib, m, p = key
    efs = sorted({ef for pts in sweep[key].values() for ef, _, _ in pts})
    for ef in efs:
        qs = [q for pts in sweep[key].values() for e, q, _ in pts if e == ef]
        rs = [r for pts in sweep[key].values() for e, _, r in pts if e == ef]
        lines.append(f"| {lib} | {m} | {p}% | {ef} | {med(qs):.0f} | {med(rs):.4f} |")
open(md, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
