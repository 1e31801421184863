#!/usr/bin/env bash
# Run the Autobahn TestSuite (through kosoku) against a WebSocket server or client
# under test, then check the verdicts against the committed expectation.
#
#   autobahn/run.sh server [--update] [--] SERVER_CMD...
#       SERVER_CMD is started with a free loopback address: "{addr}" / "{port}" in
#       its arguments are replaced by 127.0.0.1:PORT / PORT, otherwise 127.0.0.1:PORT
#       is appended. kosoku -m fuzzingclient then drives it.
#   autobahn/run.sh client [--update] [--] CLIENT_CMD...
#       kosoku -m fuzzingserver listens on a free loopback port; CLIENT_CMD gets the
#       base URL ws://127.0.0.1:PORT ("{url}" replaced, else appended) and, when
#       AUTOBAHN_DEFLATE=1, a trailing --deflate.
#
# Results: autobahn/out/<role>/ (index.json, per-case json/html, sut.log, kosoku.log,
# summary.md). Verdicts are checked by autobahn/check.py against
# autobahn/expected-<role>.json; --update rewrites that expectation (and
# autobahn/summary-<role>.md) from this run instead of comparing.
#
# Environment:
#   AUTOBAHN_CASES        space-separated case ids or globs (kosoku: an id matches exactly;
#                         a glob with * matches from the start, e.g. 9.* or 13.1.*)
#                         (default "1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.*", plus "12.* 13.*"
#                         when AUTOBAHN_DEFLATE=1)
#   AUTOBAHN_EXCLUDE      space-separated exclude globs (default none)
#   AUTOBAHN_DEFLATE=1    also run the permessage-deflate groups 12 and 13
#   AUTOBAHN_PARALLELISM  cases run at once in server mode (default 2)
#   AUTOBAHN_TIMEOUT      seconds before the whole kosoku run is abandoned (default 1500)
#   AUTOBAHN_OUT          results dir (default autobahn/out/<role>)
#   AUTOBAHN_EXPECTED     expectation file (default autobahn/expected-<role>.json)
#   AUTOBAHN_REQUIRE_EXPECTED=1  fail when the expectation file is missing
set -euo pipefail
{ # (whole script in one compound command: safe to edit while it runs)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PY="$ROOT/.venv/bin/python"
KOSOKU="$ROOT/.venv/bin/kosoku"

usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "${BASH_SOURCE[0]}"; exit 2; }

[ $# -ge 1 ] || usage
ROLE="$1"; shift
case "$ROLE" in server|client) ;; -h|--help) usage ;; *) echo "run.sh: role must be server or client" >&2; usage ;; esac

UPDATE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --update) UPDATE=1; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "run.sh: missing the command under test" >&2; usage; }
# Allow --update as the very last argument too (for convenience), unless the
# command itself legitimately ends in --update (it never does for our examples).
if [ "${!#}" = "--update" ]; then UPDATE=1; set -- "${@:1:$#-1}"; fi

[ -x "$KOSOKU" ] || { echo "run.sh: $KOSOKU missing; run .ci/install-deps.sh" >&2; exit 2; }

DEFLATE="${AUTOBAHN_DEFLATE:-0}"
DEFAULT_CASES="1.* 2.* 3.* 4.* 5.* 6.* 7.* 9.* 10.*"
[ "$DEFLATE" = "1" ] && DEFAULT_CASES="$DEFAULT_CASES 12.* 13.*"
CASES="${AUTOBAHN_CASES:-$DEFAULT_CASES}"
EXCLUDE="${AUTOBAHN_EXCLUDE:-}"
PAR="${AUTOBAHN_PARALLELISM:-2}"
TIMEOUT="${AUTOBAHN_TIMEOUT:-1500}"
OUT="${AUTOBAHN_OUT:-$HERE/out/$ROLE}"

KARGS=()
for c in $CASES; do KARGS+=(-i "$c"); done
for c in $EXCLUDE; do KARGS+=(-x "$c"); done

rm -rf "$OUT"; mkdir -p "$OUT"
SUT_LOG="$OUT/sut.log"; K_LOG="$OUT/kosoku.log"

SUT_PID=""; K_PID=""
cleanup() {
  # Only the process groups this script started (setsid'd children).
  for p in $SUT_PID $K_PID; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; fi
  done
  sleep 0.2
  for p in $SUT_PID $K_PID; do
    if kill -0 "$p" 2>/dev/null; then kill -KILL -- "-$p" 2>/dev/null || true; fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_port() { # port timeout_s pid
  local port=$1 deadline=$((SECONDS + $2)) pid=$3
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$pid" 2>/dev/null || return 2
    if "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.5).close()' "$port" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

subst_args() { # replace placeholders; sets SUBST (array); returns 0 if any placeholder was found
  local found=1 a
  SUBST=()
  for a in "$@"; do
    case "$a" in *"{addr}"*|*"{port}"*|*"{url}"*) found=0 ;; esac
    a="${a//\{addr\}/$ADDR}"; a="${a//\{port\}/$PORT}"; a="${a//\{url\}/$URL}"
    SUBST+=("$a")
  done
  return $found
}

START=$EPOCHREALTIME
N_PAT=$(echo $CASES | wc -w)
SHOW_CASES="$CASES"; [ "$N_PAT" -gt 16 ] && SHOW_CASES="$(echo $CASES | cut -d' ' -f1-12) ... ($N_PAT ids/globs)"
echo "== autobahn $ROLE: cases [$SHOW_CASES]${EXCLUDE:+ minus [$EXCLUDE]} deflate=$DEFLATE -> $OUT"

K_RC=0
if [ "$ROLE" = server ]; then
  PORT=$(free_port); ADDR="127.0.0.1:$PORT"; URL="ws://$ADDR"
  if subst_args "$@"; then CMD=("${SUBST[@]}"); else CMD=("$@" "$ADDR"); fi
  echo "   server under test: ${CMD[*]}"
  setsid "${CMD[@]}" >"$SUT_LOG" 2>&1 </dev/null &
  SUT_PID=$!
  if ! wait_port "$PORT" 60 "$SUT_PID"; then
    echo "FAIL: server under test did not listen on $ADDR within 60 s (log: $SUT_LOG)" >&2
    tail -n 20 "$SUT_LOG" >&2 || true
    exit 1
  fi
  # In its own process group, waited for with `wait` so that INT/TERM reach our trap at once.
  setsid timeout -k 10 "$TIMEOUT" "$KOSOKU" -m fuzzingclient -p "$PAR" -o "$OUT" "${KARGS[@]}" "$ADDR" >"$K_LOG" 2>&1 </dev/null &
  K_PID=$!
  K_RC=0; wait "$K_PID" || K_RC=$?
  K_PID=""
  [ "$K_RC" -eq 124 ] && echo "FAIL: kosoku did not finish within AUTOBAHN_TIMEOUT=${TIMEOUT}s" >&2
  if ! kill -0 "$SUT_PID" 2>/dev/null; then
    rc=0; wait "$SUT_PID" || rc=$?
    echo "FAIL: server under test exited during the run (exit status $rc; log: $SUT_LOG)" >&2
    tail -n 20 "$SUT_LOG" >&2 || true
    exit 1
  fi
else
  setsid "$KOSOKU" -m fuzzingserver -o "$OUT" "${KARGS[@]}" 127.0.0.1:0 >"$K_LOG" 2>&1 </dev/null &
  K_PID=$!
  PORT=""
  for _ in $(seq 1 300); do
    PORT=$(sed -n 's#.*fuzzingserver listening on ws://127\.0\.0\.1:\([0-9]*\).*#\1#p' "$K_LOG" | head -1)
    [ -n "$PORT" ] && break
    kill -0 "$K_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$PORT" ] || { echo "FAIL: kosoku fuzzingserver did not start (log: $K_LOG)" >&2; cat "$K_LOG" >&2; exit 1; }
  ADDR="127.0.0.1:$PORT"; URL="ws://$ADDR"
  if subst_args "$@"; then CMD=("${SUBST[@]}"); else CMD=("$@" "$URL"); fi
  [ "$DEFLATE" = "1" ] && CMD+=(--deflate)
  echo "   client under test: ${CMD[*]}"
  setsid timeout -k 10 "$TIMEOUT" "${CMD[@]}" >"$SUT_LOG" 2>&1 </dev/null &
  SUT_PID=$!
  C_RC=0; wait "$SUT_PID" || C_RC=$?
  SUT_PID=""
  [ "$C_RC" -eq 124 ] && echo "FAIL: client under test did not finish within AUTOBAHN_TIMEOUT=${TIMEOUT}s" >&2
  # kosoku exits by itself once the client has sent updateReports.
  for _ in $(seq 1 300); do kill -0 "$K_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$K_PID" 2>/dev/null; then
    echo "FAIL: kosoku fuzzingserver still running 30 s after the client exited (status $C_RC):" \
         "the client did not finish the protocol (getCaseCount, runCase..., updateReports). Log: $SUT_LOG" >&2
    tail -n 20 "$SUT_LOG" >&2 || true
    exit 1
  fi
  K_RC=0; wait "$K_PID" || K_RC=$?
  K_PID=""
  if [ "$C_RC" -ne 0 ]; then
    echo "FAIL: client under test exited with status $C_RC (log: $SUT_LOG)" >&2
    tail -n 20 "$SUT_LOG" >&2 || true
    [ -f "$OUT/index.json" ] || exit 1
    CLIENT_FAILED=1
  fi
fi

ELAPSED=$(awk -v a="$START" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
if [ ! -f "$OUT/index.json" ]; then
  echo "FAIL: kosoku wrote no $OUT/index.json (exit status $K_RC); last lines of $K_LOG:" >&2
  tail -n 20 "$K_LOG" >&2 || true
  exit 1
fi

CHECK=("$PY" "$HERE/check.py" --role "$ROLE" --expected "${AUTOBAHN_EXPECTED:-$HERE/expected-$ROLE.json}" --elapsed "$ELAPSED")
for c in $CASES; do CHECK+=(--include "$c"); done
for c in $EXCLUDE; do CHECK+=(--exclude "$c"); done
[ "$UPDATE" = 1 ] && CHECK+=(--update)
[ "${AUTOBAHN_REQUIRE_EXPECTED:-0}" = 1 ] && CHECK+=(--require-expected)

SUMMARY_OUT="$OUT/summary.md"
[ "$UPDATE" = 1 ] && SUMMARY_OUT="$HERE/summary-$ROLE.md"
"$PY" "$HERE/summarize.py" --role "$ROLE" -o "$SUMMARY_OUT" "$OUT" >/dev/null || echo "warning: summarize.py failed" >&2

set +e
"${CHECK[@]}" "$OUT"
RC=$?
set -e
[ "${CLIENT_FAILED:-0}" = 1 ] && RC=1
exit $RC
exit
}
