#!/usr/bin/env bash
# Checks the Prometheus alert rules (deploy/prometheus/steward-alerts.yml) and runs their unit
# tests (steward-alerts.test.yml) with promtool, from the Debian package `prometheus`, installed
# once when missing (needs root or sudo, as the rest of the setup). The test command runs it.
set -euo pipefail
cd "$(dirname "$0")/../deploy/prometheus"
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found; installing Debian's prometheus package (once)" >&2
  sudo_="$( [ "$(id -u)" = 0 ] || echo sudo )"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
promtool check rules steward-alerts.yml
promtool test rules steward-alerts.test.yml
