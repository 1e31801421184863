#!/usr/bin/env bash
# Hardening stage of CI (called by .ci/run): fuzz smoke, ASan tests, cargo deny, short soaks
# (tokio and io_uring servers).
#   bash .ci/hardening.sh
# Each step prints PASS/FAIL/SKIP with the reason; the script fails if any step failed.
# Long runs (not in CI): fuzz/run.sh 600 [target] (fuzz/README.md), soak/run.sh 10000 300
# (soak/README.md).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
failed=()
step() { echo; echo "=== hardening: $*"; }

# 1. Fuzz smoke: every target for 10 s from its seeds (fuzz/run.sh says SKIP without nightly).
step "fuzz smoke (fuzz/run.sh 10)"
if bash fuzz/run.sh 10; then echo "PASS fuzz smoke"; else echo "FAIL fuzz smoke"; failed+=(fuzz); fi

# 1b. The Rust tests under AddressSanitizer (scripts/asan.sh says SKIP without nightly).
step "AddressSanitizer tests (scripts/asan.sh)"
if bash scripts/asan.sh; then echo "PASS asan"; else echo "FAIL asan"; failed+=(asan); fi

# 2. Supply chain: licences, duplicate versions and sources always; advisories when the
#    RustSec database can be fetched (github.com is not reachable from every machine).
step "cargo deny"
if ! cargo deny --version >/dev/null 2>&1; then
  echo "cargo-deny not installed: installing (cargo install cargo-deny --locked)"
  cargo install cargo-deny --locked --quiet || true
fi
if cargo deny --version >/dev/null 2>&1; then
  if cargo deny check licenses bans sources; then
    echo "PASS cargo deny licenses bans sources"
  else
    echo "FAIL cargo deny licenses bans sources"; failed+=(deny)
  fi
  if fetch=$(cargo deny fetch db 2>&1); then
    if cargo deny check --disable-fetch advisories; then
      echo "PASS cargo deny advisories"
    else
      echo "FAIL cargo deny advisories"; failed+=(advisories)
    fi
  else
    reason=$(printf '%s\n' "$fetch" | grep -Eim1 'could not resolve|unable to access|fatal:|timed out' ||
      printf '%s\n' "$fetch" | tail -1)
    echo "SKIP cargo deny advisories: the advisory database cannot be fetched (${reason})"
  fi
else
  echo "FAIL cargo deny: cargo-deny is not installed and could not be installed"; failed+=(deny)
fi

# 3. Short soak: 1000 connections for 20 s, every echo checked, server RSS flat; against
#    the tokio echo_server, then (Linux) the io_uring driver's echo_server_uring. Both are
#    built here with the features of CI's build stage (a no-op after it): soak/run.sh's own
#    build has no features and would rebuild wspc-io's examples without them.
EX=$PWD/target/release/examples
if [ "$(uname -s)" = Linux ]; then features=axum,uring; else features=axum; fi
step "soak (soak/run.sh 1000 20)"
if cargo build --release -p wspc-io --examples --features "$features" --quiet &&
  SOAK_SERVER=$EX/echo_server bash soak/run.sh 1000 20; then
  echo "PASS soak"
else
  echo "FAIL soak"; failed+=(soak)
fi
if [ "$features" = axum,uring ]; then
  step "soak on io_uring (SOAK_SERVER=$EX/echo_server_uring soak/run.sh 1000 20)"
  if [ ! -x "$EX/echo_server_uring" ]; then
    echo "FAIL soak on io_uring: $EX/echo_server_uring was not built"; failed+=(soak-uring)
  elif SOAK_SERVER=$EX/echo_server_uring bash soak/run.sh 1000 20; then
    echo "PASS soak on io_uring"
  else
    echo "FAIL soak on io_uring"; failed+=(soak-uring)
  fi
else
  echo "SKIP soak on io_uring: not Linux"
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "hardening: FAILED: ${failed[*]}"
  exit 1
fi
echo "hardening: all steps passed (or skipped with a reason)"
