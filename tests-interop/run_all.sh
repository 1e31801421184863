#!/usr/bin/env bash
# Run every interop test against already-built wspc executables (builds nothing).
#
# Usage: tests-interop/run_all.sh [--server CMD]... [--client CMD] [--examples DIR]
#   --server CMD   an echo server command (word-split; gets 127.0.0.1:PORT appended, or
#                  substituted for "{addr}"); repeatable. Server-role tests against it:
#                  py_client.py, node_client.js (each with compression off and on) and
#                  browser.js (Chromium).
#   --app-server CMD  an HTTP app with a page on / and an echo WebSocket on /ws (the
#                  axum_echo and hyper_echo examples; same ADDR contract): py_client.py
#                  without and with compression (the latter checks that a compressible
#                  echo arrives compressed on the wire) and browser.js loading the page
#                  and requiring permessage-deflate; repeatable.
#   --client CMD   a line-echo client command (gets the URL appended, or "{url}");
#                  repeatable; client-role tests: run_client_tests.sh (py and node peer servers).
#   --examples DIR default when neither --server nor --client is given: DIR/echo_server,
#                  DIR/echo_server_blocking, DIR/client (DIR = target/release/examples).
# Environment:
#   INTEROP_DEFLATE=0            skip the compression-on client runs against our servers
#   SERVER_SUBPROTOCOL_ARGS=...  server flag(s) enabling subprotocol "chat" (e.g.
#                                "--subprotocol chat"): adds a run of py/node/browser
#                                clients offering chat and requiring it back
#   CLIENT_SUBPROTOCOL_ARGS=...  client flag(s) offering "chat" (see run_client_tests.sh)
# Ends with "run_all: N passed, M failed"; exit 1 if any test failed.
set -uo pipefail
{ # (whole script in one compound command: safe to edit while it runs)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PY="$ROOT/.venv/bin/python"
OUT="$HERE/out"; mkdir -p "$OUT"

SERVERS=(); CLIENTS=(); APPS=(); EXAMPLES="$ROOT/target/release/examples"
while [ $# -gt 0 ]; do
  case "$1" in
    --server) SERVERS+=("$2"); shift 2 ;;
    --client) CLIENTS+=("$2"); shift 2 ;;
    --app-server) APPS+=("$2"); shift 2 ;;
    --examples) EXAMPLES="$2"; shift 2 ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    *) echo "run_all: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ ${#SERVERS[@]} -eq 0 ] && [ ${#CLIENTS[@]} -eq 0 ] && [ ${#APPS[@]} -eq 0 ]; then
  for b in echo_server echo_server_blocking; do [ -x "$EXAMPLES/$b" ] && SERVERS+=("$EXAMPLES/$b"); done
  for b in axum_echo hyper_echo; do [ -x "$EXAMPLES/$b" ] && APPS+=("$EXAMPLES/$b"); done
  [ -x "$EXAMPLES/client" ] && CLIENTS+=("$EXAMPLES/client")
  if [ ${#SERVERS[@]} -eq 0 ] && [ ${#CLIENTS[@]} -eq 0 ]; then
    echo "run_all: no executables in $EXAMPLES (build: cargo build --release -p wspc-io --examples)" >&2; exit 2
  fi
fi
for t in "$PY" "$ROOT/node_modules/ws/package.json" "$ROOT/node_modules/playwright-core/package.json" /usr/bin/chromium; do
  [ -e "$t" ] || { echo "run_all: $t missing; run .ci/install-deps.sh" >&2; exit 2; }
done

PASS=0; FAIL=0; FAILED=()
T_ALL=$EPOCHREALTIME
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }

run_test() { # name cmd...   (output indented, result recorded)
  local name=$1; shift
  local t0=$EPOCHREALTIME rc
  echo "--- $name"
  "$@" 2>&1 | sed 's/^/    /'
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then
    PASS=$((PASS+1)); echo "--- ok   $name ($(elapsed "$t0") s)"
  else
    FAIL=$((FAIL+1)); FAILED+=("$name"); echo "--- FAIL $name (exit $rc, $(elapsed "$t0") s)"
  fi
}

SRV_PID=""
stop_server() {
  if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -TERM -- "-$SRV_PID" 2>/dev/null || kill -TERM "$SRV_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$SRV_PID" 2>/dev/null || true
  fi
  [ -n "$SRV_PID" ] && { wait "$SRV_PID" 2>/dev/null || true; }
  SRV_PID=""
}
trap stop_server EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_server() { # label log cmdstring [extra args]
  local label=$1 log=$2 cmdstr=$3 extra=${4:-}
  local port; port=$(free_port)
  ADDR="127.0.0.1:$port"; URL="ws://$ADDR/"
  local words=() cmd=() found=0 w
  read -r -a words <<<"$cmdstr"
  for w in "${words[@]}"; do
    case "$w" in *"{addr}"*|*"{port}"*) found=1 ;; esac
    w="${w//\{addr\}/$ADDR}"; cmd+=("${w//\{port\}/$port}")
  done
  [ "$found" = 1 ] || cmd+=("$ADDR")
  # shellcheck disable=SC2206
  [ -n "$extra" ] && cmd+=($extra)
  echo "=== [$label] server: ${cmd[*]}"
  setsid "${cmd[@]}" >"$log" 2>&1 </dev/null &
  SRV_PID=$!
  for _ in $(seq 1 300); do
    kill -0 "$SRV_PID" 2>/dev/null || break
    "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.5).close()' "$port" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "FAIL [$label] server did not listen on $ADDR (log $log):"; tail -n 10 "$log" | sed 's/^/    /'
  FAIL=$((FAIL+1)); FAILED+=("$label: server start"); stop_server; return 1
}

check_alive() { # label log
  if ! kill -0 "$SRV_PID" 2>/dev/null; then
    echo "FAIL [$1] server died during the tests (log $2):"; tail -n 10 "$2" | sed 's/^/    /'
    FAIL=$((FAIL+1)); FAILED+=("$1: server died")
  fi
}

i=0
for s in "${SERVERS[@]}"; do
  i=$((i+1)); label="server$i:$(basename "${s%% *}")"
  [ "$(basename "${s%% *}")" = python ] || [ "$(basename "${s%% *}")" = node ] && label="server$i:$(basename "$(echo "$s" | awk '{print $2}')")"
  log="$OUT/server$i.log"
  shot="$OUT/browser.png"; [ $i -gt 1 ] && shot="$OUT/browser-server$i.png"
  if start_server "$label" "$log" "$s"; then
    run_test "[$label] py_client" "$PY" "$HERE/py_client.py" "$URL"
    [ "${INTEROP_DEFLATE:-1}" = 1 ] && run_test "[$label] py_client --compression" "$PY" "$HERE/py_client.py" "$URL" --compression
    run_test "[$label] node_client" node "$HERE/node_client.js" "$URL"
    [ "${INTEROP_DEFLATE:-1}" = 1 ] && run_test "[$label] node_client --compression" node "$HERE/node_client.js" "$URL" --compression
    run_test "[$label] browser (chromium)" node "$HERE/browser.js" "$URL" --screenshot "$shot"
    check_alive "$label" "$log"
    stop_server
  fi
  if [ -n "${SERVER_SUBPROTOCOL_ARGS:-}" ]; then
    if start_server "$label+chat" "$OUT/server$i-chat.log" "$s" "$SERVER_SUBPROTOCOL_ARGS"; then
      run_test "[$label+chat] py_client --subprotocol chat" "$PY" "$HERE/py_client.py" "$URL" --subprotocol chat --big-mib 1
      run_test "[$label+chat] node_client --subprotocol chat" node "$HERE/node_client.js" "$URL" --subprotocol chat --big-mib 1
      run_test "[$label+chat] browser --subprotocol chat" node "$HERE/browser.js" "$URL" --subprotocol chat --max-mib 1 \
        --screenshot "$OUT/browser-server$i-chat.png"
      check_alive "$label+chat" "$OUT/server$i-chat.log"
      stop_server
    fi
  else
    echo "=== [$label] subprotocol run skipped (set SERVER_SUBPROTOCOL_ARGS to the server's flag enabling 'chat')"
  fi
done

k=0
for s in "${APPS[@]}"; do
  k=$((k+1)); label="app$k:$(basename "${s%% *}")"
  log="$OUT/app$k.log"
  if start_server "$label" "$log" "$s"; then
    run_test "[$label] py_client /ws" "$PY" "$HERE/py_client.py" "${URL}ws" --big-mib 4
    run_test "[$label] py_client /ws --compression" "$PY" "$HERE/py_client.py" "${URL}ws" --compression --big-mib 4
    run_test "[$label] browser page / -> /ws (chromium, deflate)" node "$HERE/browser.js" "http://$ADDR/" \
      --ws "${URL}ws" --require-extension permessage-deflate --screenshot "$OUT/browser-app$k.png"
    check_alive "$label" "$log"
    stop_server
  fi
done

j=0
for c in "${CLIENTS[@]}"; do
  j=$((j+1))
  # shellcheck disable=SC2086
  CLIENT_TESTS_OUT="$OUT/client$j" run_test "[client$j] run_client_tests.sh $c" "$HERE/run_client_tests.sh" $c
done

echo "=== interop total $(elapsed "$T_ALL") s"
for f in "${FAILED[@]}"; do echo "    failed: $f"; done
echo "run_all: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
exit
}
