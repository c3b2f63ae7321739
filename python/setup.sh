#!/usr/bin/env bash
# Creates python/.venv with the pinned packages of python/requirements.txt.
#
# Idempotent and cheap when nothing changed: a stamp file in the venv holds the sha256 of the
# requirements and of the interpreter's version; when it matches, pip is not run at all (the
# Rust end-to-end tests call this before every run). Concurrent callers (parallel cargo tests)
# serialise on a lock file, so two of them never pip-install into the same venv at once.
#
# PYTHON overrides the interpreter used to create the venv (default: python3, needs >= 3.10).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.steward-requirements.sha256"
py="${PYTHON:-python3}"

if command -v flock >/dev/null 2>&1; then
    exec 9>"$here/.setup.lock"
    flock 9
fi

want="$({ cat "$req"; "$py" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

# A venv whose interpreter no longer runs (python moved or upgraded) is rebuilt from scratch.
if [[ -e "$venv" ]] && ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
    rm -rf "$venv"
fi

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "python env ready: $venv (up to date)"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --only-binary=:all: -r "$req"
echo "$want" >"$stamp"
echo "python env ready: $venv ($("$venv/bin/python" -c 'import pyarrow, pandas; from openlineage.client import __version__ as ol; print(f"pyarrow {pyarrow.__version__}, pandas {pandas.__version__}, openlineage-python {ol}")'))"
