#!/usr/bin/env bash
# Fuzz every target (or those named) for SECONDS each, starting from the committed seeds.
#   fuzz/run.sh [SECONDS] [target...]     e.g. fuzz/run.sh 600   (the long run)
# Needs the nightly toolchain and cargo-fuzz; without nightly it says so and exits 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
secs=${1:-10}; shift || true
if ! cargo +nightly --version >/dev/null 2>&1; then echo "SKIP fuzz: no nightly toolchain"; exit 0; fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then cargo install cargo-fuzz --locked --version 0.13.2; fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "== fuzz $t for ${secs}s"
  cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 2>&1 \
    | grep -E '^(Done|#[0-9]+ +DONE)|panicked|ERROR|SUMMARY' || true
  if [ -d "artifacts/$t" ] && [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
    echo "FAIL: fuzz target $t found a crash: $(ls "artifacts/$t")"; exit 1
  fi
done
