#!/usr/bin/env bash
# Text models against their peers (issue 13, items 1, 4 and 6), same machine, same threads:
#
# 1. Embeddings: steward-text's Embedder (candle, crates/text) vs sentence-transformers 6.2 on
#    PyTorch CPU, on the same COUNT texts (python/tests/embed_reference.py's generator: short,
#    long past 128 and 256 tokens, unicode, punctuation, numbers, empty-ish), batch BATCH
#    (both sort by length and pad each batch to its longest; both cut at 256 tokens), THREADS
#    threads (RAYON_NUM_THREADS for candle, torch.set_num_threads for torch). texts/s per run.
# 2. The chain: sentence-transformers' vectors and Rust's against the NumPy reference (the
#    torch-free forward pass CI compares Rust with), and against each other: cosine ≥ 0.999.
# 3. Generation: steward-text's Generator (candle quantized llama) vs llama.cpp (PyPI
#    llama-cpp-python built from source) on the same GGUF (SmolLM2-135M-Instruct Q4_1), same
#    ChatML prompt, greedy, no repeat penalty, MAX_TOKENS new tokens at most, THREADS threads:
#    time to first token and decode tokens/s. The Rust side runs each WeightFormat in WEIGHTS
#    (default all three: q8_0, the default, re-quantized at load; f32; q4_1 as stored).
#
# RUNS timed runs per side after a warm-up (medians reported); the 1-minute load average and
# any running cargo/rustc is recorded before every step (others build on this machine).
#
#   bash bench/setup-text.sh    once: bench/.venv-text (torch, sentence-transformers, llama-cpp-python)
#   bash scripts/models.sh      once: the model files
#   bash bench/embed.sh         RUNS=3 COUNT=1000 BATCH=32 THREADS=2 MAX_TOKENS=128
#
# Raw JSON lines go to bench/out/text-<timestamp>.jsonl. NO_BUILD=1 skips the cargo build;
# CARGO_TARGET_DIR as cargo uses it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
RUNS="${RUNS:-3}"
COUNT="${COUNT:-1000}"
BATCH="${BATCH:-32}"
THREADS="${THREADS:-2}"
MAX_TOKENS="${MAX_TOKENS:-128}"
export STEWARD_MODELS="${STEWARD_MODELS:-$root/models}"
out="$root/bench/out"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
raw="$out/text-$stamp.jsonl"
work="$out/text-$stamp"
mkdir -p "$work"
peer_py="$root/bench/.venv-text/bin/python"
ref_py="$root/python/.venv/bin/python"
[ -x "$peer_py" ] || { echo "run bash bench/setup-text.sh first" >&2; exit 2; }
[ -x "$ref_py" ] || bash python/setup.sh
bash scripts/models.sh
target="${CARGO_TARGET_DIR:-$root/target}"
[ -n "${NO_BUILD:-}" ] || cargo build --release -p steward-text --example text_bench
bin="$target/release/examples/text_bench"

load() {
    local busy
    busy="$(pgrep -c -x 'cargo|rustc' || true)"
    echo "{\"what\":\"load\",\"step\":\"$1\",\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"cargo_rustc_processes\":${busy:-0}}" | tee -a "$raw"
}
threads_env() { env RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" "$@"; }

# The texts, and the NumPy reference vectors for the first 200 (the CI set).
"$ref_py" python/tests/embed_reference.py --texts-only --count "$COUNT" > "$work/texts.json"
"$ref_py" python/tests/embed_reference.py --models "$STEWARD_MODELS" > "$work/reference.json"

load embed-steward
threads_env "$bin" embed "$work/texts.json" "$RUNS" "$work/steward-vectors.json" | tee -a "$raw"
load embed-sentence-transformers
threads_env "$peer_py" bench/embed_peer.py st "$work/texts.json" "$RUNS" "$THREADS" "$BATCH" "$work/st-vectors.json" | tee -a "$raw"
"$peer_py" bench/embed_peer.py check "$work/reference.json" "$work/st-vectors.json" "$work/steward-vectors.json" | tee -a "$raw"

for weights in ${WEIGHTS:-q8_0 f32 q4_1}; do
    load "generate-steward-$weights"
    threads_env "$bin" generate "$MAX_TOKENS" "$RUNS" "$weights" | tee -a "$raw"
done
if "$peer_py" -c 'import llama_cpp' 2>/dev/null; then
    load generate-llama.cpp
    threads_env "$peer_py" bench/embed_peer.py llama "$STEWARD_MODELS/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MAX_TOKENS" "$RUNS" "$THREADS" | tee -a "$raw"
else
    echo '{"what":"skipped","side":"llama.cpp","reason":"llama_cpp not importable (bench/setup-text.sh builds it)"}' | tee -a "$raw"
fi

# Medians.
"$ref_py" - "$raw" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(side, what, key, weights=None):
    xs = [r[key] for r in rows if r.get("side") == side and r.get("what") == what
          and (weights is None or r.get("weights") == weights)]
    return statistics.median(xs) if xs else None
e_s, e_p = med("steward", "embed", "texts_per_s"), med("sentence-transformers", "embed", "texts_per_s")
print(f"embed texts/s: steward {e_s:.1f}, sentence-transformers {e_p:.1f}, ratio {e_s / e_p:.2f}x")
for side, weights in [("steward", "Q8_0"), ("steward", "F32"), ("steward", "AsStored"), ("llama.cpp", None)]:
    tps, ttft = med(side, "generate", "tokens_per_s", weights), med(side, "generate", "ttft_ms", weights)
    if tps is not None:
        print(f"generate {side} {weights or 'Q4_1'}: {tps:.1f} tokens/s, ttft {ttft:.1f} ms")
PY
echo "raw: $raw"
