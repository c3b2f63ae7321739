#!/usr/bin/env bash
# Installs what the console's browser test (crates/cli/tests/console.rs) needs: Debian's
# `chromium` (when /usr/bin/chromium is missing; needs root or sudo, as the rest of the setup)
# and the npm package playwright-core at the exact version of console-tests/package-lock.json,
# into console-tests/node_modules (gitignored). Idempotent: a stamp holds the sha256 of the
# lock file and node's version; when it matches, npm is not run. The test command runs it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$here/console-tests"
stamp="$dir/node_modules/.steward-stamp"

if command -v flock >/dev/null 2>&1; then
    exec 9>"$dir/.setup.lock"
    flock 9
fi

if [[ ! -x /usr/bin/chromium ]]; then
    echo "chromium not found; installing Debian's chromium package (once)" >&2
    sudo_="$( [ "$(id -u)" = 0 ] || echo sudo )"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node/npm not found; installing Debian's nodejs and npm packages (once)" >&2
    sudo_="$( [ "$(id -u)" = 0 ] || echo sudo )"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

want="$({ cat "$dir/package-lock.json"; node --version; } | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "browser test env ready: $(/usr/bin/chromium --version 2>/dev/null | tail -1), playwright-core in $dir/node_modules (up to date)"
    exit 0
fi
# --ignore-scripts: playwright-core needs no install script (it drives the system chromium and
# downloads no browser).
(cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
echo "$want" >"$stamp"
echo "browser test env ready: $(/usr/bin/chromium --version 2>/dev/null | tail -1), playwright-core in $dir/node_modules"
