#!/usr/bin/env bash
# Creates bench/.venv-text with the text benchmark's peers from bench/requirements-text.txt:
# sentence-transformers on PyTorch (PyPI wheels, CPU use only), and llama-cpp-python built from
# source (the one package here that is not a wheel: its sdist compiles llama.cpp with the
# machine's C/C++ compiler, CPU only, about 10 min on 2 cores; LLAMA=0 skips it).
# Its own environment, so no other benchmark or CI run installs torch.
# Usage: bash bench/setup-text.sh   (idempotent; re-run after requirements-text.txt changes)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
venv="$here/.venv-text"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --only-binary=:all: -r "$here/requirements-text.txt"
if [ "${LLAMA:-1}" != 0 ] && ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
    # CPU backend only (no CUDA, BLAS or OpenMP extras); -march=native like a local build.
    CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_BLAS=OFF" \
        "$venv/bin/python" -m pip install --disable-pip-version-check \
        --no-binary=llama-cpp-python "llama-cpp-python==${LLAMA_CPP_PYTHON:-0.3.36}"
fi
"$venv/bin/python" -c 'import torch, sentence_transformers as st; print("torch", torch.__version__, "sentence-transformers", st.__version__)'
"$venv/bin/python" -c 'import llama_cpp; print("llama-cpp-python", llama_cpp.__version__)' || true
