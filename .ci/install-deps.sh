#!/usr/bin/env bash
# Idempotent installation of everything CI and the interop/Autobahn harness need,
# for a FRESH Debian 12 machine (run as root). Each step is skipped quickly when
# already done, so running it on a warm machine costs ~1 s.
#
#   apt:  chromium, valgrind, pkg-config, python3-venv, clang + compiler-rt (sanitizers),
#         redis-server (the rooms tests start their own on a loopback port; the service
#         the package may start is never used)
#   .venv: kosoku + websockets + h2, pinned in requirements-interop.txt
#   node_modules: ws + playwright-core, pinned by package.json + package-lock.json (npm ci)
#
# Never downloads a browser through playwright: Debian's /usr/bin/chromium is used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[install-deps %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

export DEBIAN_FRONTEND=noninteractive
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

# ---------------------------------------------------------------- apt packages
APT_PKGS=(chromium valgrind pkg-config python3-venv clang llvm libclang-rt-14-dev
          ca-certificates procps redis-server)
# Node.js is on the rust machine image already; fall back to Debian's if missing.
command -v node >/dev/null 2>&1 || APT_PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || APT_PKGS+=(npm)

missing=()
for p in "${APT_PKGS[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "apt-get update; installing: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "apt packages present"
fi
[ -x /usr/bin/chromium ] || { echo "ERROR: /usr/bin/chromium missing after install" >&2; exit 1; }

# ---------------------------------------------------------------- rust components
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  log "adding rustfmt + clippy"
  rustup component add rustfmt clippy
fi

# ---------------------------------------------------------------- python venv
REQ="$ROOT/requirements-interop.txt"
STAMP="$ROOT/.venv/.wspc-req.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ -x "$ROOT/.venv/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
   && "$ROOT/.venv/bin/python" -c 'import kosoku, websockets, h2' 2>/dev/null; then
  log "python venv up to date"
else
  PY="$(command -v python3)"
  if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then PY=/usr/bin/python3; fi
  log "creating .venv with $PY ($("$PY" --version 2>&1))"
  rm -rf "$ROOT/.venv"
  "$PY" -m venv "$ROOT/.venv"
  "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  echo "$want" >"$STAMP"
fi

# ---------------------------------------------------------------- node modules
LOCK="$ROOT/package-lock.json"
NSTAMP="$ROOT/node_modules/.wspc-lock.sha256"
nwant="$(cat "$ROOT/package.json" "$LOCK" | sha256sum | cut -d' ' -f1)"
if [ -f "$NSTAMP" ] && [ "$(cat "$NSTAMP")" = "$nwant" ]; then
  log "node_modules up to date"
else
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$nwant" >"$NSTAMP"
fi

log "done: $(/usr/bin/chromium --version 2>/dev/null | head -1); node $(node --version);" \
    "$("$ROOT/.venv/bin/pip" freeze --disable-pip-version-check | tr '\n' ' ')"
