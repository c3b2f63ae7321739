#!/usr/bin/env bash
# Authorization and audit benchmarks (issue 3), RUNS times each; prints medians and verdicts.
#
# Usage: bench/authz.sh
#
# First (the measurement most sensitive to other work on the machine):
#   `steward-bench http-guard --pairs RUNS`, durable HTTP NDJSON ingest against an in-process
#   server with authorization and audit on (`steward_server::app`) and off (`app_unguarded`),
#   alternating in ABBA order after a warm-up run of each, each run on a fresh data directory.
# Then RUNS rounds of:
#   1. the decision latency example of steward-policy (default policies, 100k decisions:
#      Cedar uncached, through the decision cache, visible_classes cached and uncached),
#      at high priority (`nice -n -15`) where permitted
#   2. the Criterion benches of steward-policy (`decide`) and steward-audit (`audit`: durable
#      appends of 1000-record batches, batched appends, verify_dir over 1M records, proofs)
# Raw output goes to bench/out/authz-<timestamp>/ (latency-N.txt, criterion-N.json,
# http-guard.jsonl), the summary to stdout and bench/out/authz-<timestamp>/summary.md.
#
# Environment (defaults): RUNS (3), EVENTS (1000000, per ingest run), CONNECTIONS (4),
# BATCH (1000), SEED (1), NO_BUILD=1 to skip the release builds, CARGO_TARGET_DIR as cargo uses it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

RUNS="${RUNS:-3}"
EVENTS="${EVENTS:-1000000}"
CONNECTIONS="${CONNECTIONS:-4}"
BATCH="${BATCH:-1000}"
SEED="${SEED:-1}"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$root/bench/out/authz-$stamp"
mkdir -p "$out"
target="${CARGO_TARGET_DIR:-$root/target}"
bench="$target/release/steward-bench"
latency="$target/release/examples/latency"

log() { printf 'authz.sh: %s\n' "$*" >&2; }

if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building release binaries and benches"
    cargo build --release --quiet -p steward-bench
    cargo build --release --quiet -p steward-policy --example latency
    cargo bench --quiet --no-run -p steward-policy -p steward-audit 2>/dev/null
fi

nice=()
if nice -n -15 true 2>/dev/null; then
    nice=(nice -n -15)
fi

{
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo none), modified tracked files: $(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
    echo "runs: $RUNS, events per ingest run: $EVENTS, connections: $CONNECTIONS, batch: $BATCH"
} >"$out/machine.txt"

# Copies the median per-iteration estimate (ns) of every Criterion benchmark of GROUP into a
# JSON object {"group/name": ns, ...} on stdout.
criterion_medians() {
    python3 - "$target/criterion" "$@" <<'EOF'
import json, pathlib, sys
base = pathlib.Path(sys.argv[1])
found = {}
for group in sys.argv[2:]:
    for estimates in sorted((base / group).glob("*/new/estimates.json")):
        name = estimates.parent.parent.name
        found[f"{group}/{name}"] = json.loads(estimates.read_text())["median"]["point_estimate"]
print(json.dumps(found))
EOF
}

log "HTTP ingest, authorization and audit on vs off: $RUNS pairs of $EVENTS events (load $(cut -d' ' -f1 /proc/loadavg))"
"$bench" http-guard --pairs "$RUNS" --events "$EVENTS" --connections "$CONNECTIONS" --batch "$BATCH" \
    --seed "$SEED" | tee "$out/http-guard.jsonl"

for run in $(seq 1 "$RUNS"); do
    log "run $run/$RUNS: policy decision latency (load $(cut -d' ' -f1 /proc/loadavg))"
    "${nice[@]}" "$latency" | tee "$out/latency-$run.txt" >&2
    log "run $run/$RUNS: Criterion: steward-policy decide, steward-audit audit"
    cargo bench --quiet -p steward-policy --bench decide -- --noplot >"$out/criterion-policy-$run.txt" 2>&1
    cargo bench --quiet -p steward-audit --bench audit -- --noplot >"$out/criterion-audit-$run.txt" 2>&1
    criterion_medians policy audit_append audit_verify audit_proofs audit_open >"$out/criterion-$run.json"
    printf '{"load1": %s}\n' "$(cut -d' ' -f1 /proc/loadavg)" >"$out/load-$run.json"
done

python3 - "$out" "$RUNS" <<'EOF' | tee "$out/summary.md"
import json, pathlib, re, statistics, sys

out, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
print((out / "machine.txt").read_text().strip().replace("\n", "  \n"))
print()

# 1. Decision latency: median over runs of each line's p50 / p99 / p99.9.
line_re = re.compile(r"^\s*(\S.*?)\s+n=\s*\d+\s+p50\s+([\d.]+) µs\s+p99\s+([\d.]+) µs\s+p99\.9\s+([\d.]+) µs")
rows = {}
for run in range(1, runs + 1):
    for line in (out / f"latency-{run}.txt").read_text().splitlines():
        m = line_re.match(line)
        if m:
            rows.setdefault(m.group(1).strip(), []).append(tuple(float(x) for x in m.groups()[1:]))
print(f"### Decision latency, default policies (medians of {runs} runs of 100k decisions)\n")
print("| decision | p50 µs | p99 µs | p99.9 µs | p99 per run µs |")
print("| --- | ---: | ---: | ---: | --- |")
for label, values in rows.items():
    med = [statistics.median(v[i] for v in values) for i in range(3)]
    print(f"| {label} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.2f} | {', '.join(f'{v[1]:.2f}' for v in values)} |")

loads = [str(json.loads((out / f"load-{run}.json").read_text())["load1"]) for run in range(1, runs + 1)]
print(f"\n1-minute load average after each round of micro benchmarks: {', '.join(loads)}")

# 2. Criterion medians (per-iteration time), median over runs.
crit = [json.loads((out / f"criterion-{run}.json").read_text()) for run in range(1, runs + 1)]
per_iter_elements = {
    "audit_append/durable_batch_1000": 1000,
    "audit_append/batched_1000_then_flush": 1000,
    "audit_verify/verify_dir_1M": 1_000_000,
    "audit_open/recover_1M": 1_000_000,
}
print(f"\n### Criterion (median estimate per run, median of {runs} runs)\n")
print("| benchmark | time per iteration | records/s | per run |")
print("| --- | ---: | ---: | --- |")
for name in crit[0]:
    ns = [c[name] for c in crit if name in c]
    med = statistics.median(ns)
    def fmt(t):
        return f"{t / 1e6:.2f} ms" if t >= 1e6 else (f"{t / 1e3:.2f} µs" if t >= 1e3 else f"{t:.0f} ns")
    elements = per_iter_elements.get(name)
    rate = f"{elements / (med * 1e-9):,.0f}" if elements else ""
    print(f"| {name} | {fmt(med)} | {rate} | {', '.join(fmt(t) for t in ns)} |")

# 3. HTTP ingest on vs off.
lines = [json.loads(l) for l in (out / "http-guard.jsonl").read_text().splitlines() if l.strip()]
rs = [l for l in lines if l.get("mode") == "http-guard"]
print(f"\n### HTTP NDJSON ingest, authorization and audit on vs off ({runs} runs each, ABBA order)\n")
print("| guard | events/s (median) | per run | ack p50 ms | ack p99 ms | CPU s per 1M events | load1 |")
print("| --- | ---: | --- | ---: | ---: | ---: | --- |")
med = {}
for guard in ("on", "off"):
    g = [l for l in rs if l["guard"] == guard]
    med[guard] = statistics.median(l["events_per_s"] for l in g)
    per_run = ", ".join(format(l["events_per_s"], ",.0f") for l in g)
    p50 = statistics.median(l["ack_p50_ms"] for l in g)
    p99 = statistics.median(l["ack_p99_ms"] for l in g)
    cpu_per_m = statistics.median(l["cpu_s_per_m_events"] for l in g)
    loads = ", ".join(str(l["load1"]) for l in g)
    print(f"| {guard} | {med[guard]:,.0f} | {per_run} | {p50:.1f} | {p99:.1f} | {cpu_per_m:.2f} | {loads} |")
ratio = med["on"] / med["off"]
cpu = {g: statistics.median(l["cpu_s_per_m_events"] for l in rs if l["guard"] == g) for g in ("on", "off")}
print(f"\non ÷ off (medians): **{ratio:.3f}** (cost {100 * (1 - ratio):.1f} %; target ≤ 10 %: "
      f"{'met' if ratio >= 0.9 else 'not met'}); CPU per event on ÷ off: {cpu['on'] / cpu['off']:.3f}")
EOF
log "raw output: $out"
