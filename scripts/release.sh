#!/usr/bin/env bash
# Builds the binary that ships: `cargo build --profile dist` (release optimizations, no debug
# info, symbols stripped; Cargo.toml [profile.dist]) and copies it to dist/steward with its
# SHA-256 beside it. Prints the size.
#
#   bash scripts/release.sh            # dist/steward, dist/steward.sha256
#   SYMBOLS=1 bash scripts/release.sh  # also dist/steward.debug: the `release` build's line
#                                      # tables and symbols, kept apart (objcopy --only-keep-debug)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --locked --profile dist -p steward-cli --bin steward
mkdir -p dist
cp "$target/dist/steward" dist/steward
(cd dist && sha256sum steward > steward.sha256)
if [ -n "${SYMBOLS:-}" ]; then
    cargo build --locked --release -p steward-cli --bin steward
    objcopy --only-keep-debug "$target/release/steward" dist/steward.debug
    objcopy --add-gnu-debuglink=dist/steward.debug dist/steward
    (cd dist && sha256sum steward > steward.sha256)
fi
dist/steward --version
ls -l dist/
echo "dist/steward: $(stat -c %s dist/steward) bytes"
