#!/usr/bin/env bash
# Starts the gateway in sandbox mode: installs what is missing, builds the release preset, then
# runs `ketamine-gateway serve` with the sandbox defaults (SQLite under ./data, MLLP on
# 127.0.0.1:2575, HTTP reserved on 127.0.0.1:8080). Extra arguments go to `serve`.
#   deploy/sandbox.sh                      # Ctrl-C stops it gracefully
#   deploy/sandbox.sh --mllp-port 0        # any free port
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/setup.sh --runtime
cmake -S . -B build/sandbox -G Ninja -DCMAKE_BUILD_TYPE=Release -DKETAMINE_TESTS=OFF >/dev/null
cmake --build build/sandbox -j"$(nproc)" --target ketamine-gateway
exec build/sandbox/adapter/cli/ketamine-gateway serve --data-dir "$root/data" "$@"
