#!/usr/bin/env bash
# Installs what building and testing the gateway needs on Debian bookworm, idempotently:
# Debian packages (only those missing) and the npm test peers pinned by tests/peers/package-lock.json.
#   deploy/setup.sh            everything (build, tests, fuzzing, benchmarks)
#   deploy/setup.sh --runtime  only what building and running the gateway needs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

runtime_packages=(
  build-essential cmake ninja-build pkg-config
  libcpprest-dev libboost-system-dev rapidjson-dev libssl-dev openssl
  libsqlite3-dev sqlite3 libpq-dev liblz4-dev libgoogle-perftools-dev
)
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  postgresql
  wrk curl
)
packages=("${runtime_packages[@]}")
[ "${1:-}" = "--runtime" ] || packages+=("${test_packages[@]}")
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" != "--runtime" ]; then
  # npm test peers, reinstalled only when the lock file changes.
  peers="$root/tests/peers"
  stamp="$peers/node_modules/.lock-sha256"
  want=$(sha256sum "$peers/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing npm test peers"
    (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
fi
