#!/usr/bin/env bash
# Creates bench/.venv with the peer benchmarks' Python dependencies.
# Usage: bash bench/setup.sh   (idempotent; re-run after requirements.txt changes)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$here/.venv/bin/python" ]; then
    "$python" -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install --quiet --upgrade pip
"$here/.venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
"$here/.venv/bin/python" -c 'import psycopg, duckdb; print("psycopg", psycopg.__version__, "duckdb", duckdb.__version__, "ready in '"$here"'/.venv")'
