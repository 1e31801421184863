#!/usr/bin/env bash
# Run wspc's *client* against real peer echo servers (Python websockets, Node ws),
# feeding known lines on stdin and comparing stdout with them.
#
# Usage: tests-interop/run_client_tests.sh CLIENT_CMD...
#   CLIENT_CMD gets the server URL ws://127.0.0.1:PORT/ appended (or substituted for
#   "{url}" in its arguments). Contract: read lines from stdin, send each as one
#   text message, print each received message followed by "\n" on stdout; on stdin
#   EOF send close, print what is still received until the server's close, exit 0.
#   (stdin is closed only once every echo has been printed: see feed_client.py.)
#
# Runs (each peer logs the negotiated extensions/subprotocol, which are checked too):
#   py-plain, node-plain      client as given: nothing negotiated (peers willing to deflate)
#   py-deflate, node-deflate  client + $CLIENT_DEFLATE_ARGS (e.g. "--deflate"): the peer
#                             must have negotiated permessage-deflate
#   py-nodeflate              client + $CLIENT_DEFLATE_ARGS against a peer refusing deflate
#   py-chat, node-chat        client + $CLIENT_SUBPROTOCOL_ARGS (e.g. "--subprotocol chat")
#                             against peers that refuse clients not offering "chat"
#   Runs whose *_ARGS variable is unset are skipped.
# CLIENT_TIMEOUT: seconds per run (default 60). Logs: $CLIENT_TESTS_OUT (default
#   tests-interop/out/client/).
set -euo pipefail
{ # (whole script in one compound command: safe to edit while it runs)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PY="$ROOT/.venv/bin/python"
[ $# -ge 1 ] || { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 2; }
[ -x "$PY" ] || { echo "run_client_tests: $PY missing; run .ci/install-deps.sh" >&2; exit 2; }
OUT="${CLIENT_TESTS_OUT:-$HERE/out/client}"; rm -rf "$OUT"; mkdir -p "$OUT"
TMO="${CLIENT_TIMEOUT:-60}"

# Known input: ASCII, multi-byte UTF-8, an empty line, tabs, 125/126/65535/65536-byte
# boundaries, a 1 MiB line, and 500 short lines (pipelining).
INPUT="$OUT/input.txt"
"$PY" - "$INPUT" <<'EOF'
import sys, random
r = random.Random(6455)
lines = ["hello wspc", "héllo wörld — Ωμέγα — 日本語 — 🎉🚀", "", "tab\tseparated\tvalues",
         "x" * 125, "y" * 126, "z" * 65535, "w" * 65536, "ü" * 40000]
alphabet = "abcdefghijklmnopqrstuvwxyz 0123456789éß日🎉"
lines.append("".join(r.choice(alphabet) for _ in range(1 << 20)))
lines += [f"line {i}: " + "".join(r.choice(alphabet) for _ in range(r.randrange(0, 80))) for i in range(500)]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("".join(l + "\n" for l in lines))
EOF

SRV_PID=""
stop_server() {
  if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -TERM "$SRV_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  SRV_PID=""
}
trap stop_server EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

PASS=0; FAIL=0; SKIP=0
run_case() { # name client_extra_args expected_server_log_regex -- server_cmd...
  local name=$1 extra=$2 expect=$3; shift 4
  local port log url rc
  port=$(free_port); url="ws://127.0.0.1:$port/"
  log="$OUT/$name"
  "$@" "127.0.0.1:$port" >"$log.server.log" 2>&1 &
  SRV_PID=$!
  for _ in $(seq 1 100); do
    grep -q "listening on" "$log.server.log" 2>/dev/null && break
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q "listening on" "$log.server.log"; then
    echo "FAIL $name: peer server did not start: $*"; cat "$log.server.log"; FAIL=$((FAIL+1)); stop_server; return
  fi
  local cmd=() a found=0
  for a in "${CLIENT[@]}"; do
    case "$a" in *"{url}"*) found=1 ;; esac
    cmd+=("${a//\{url\}/$url}")
  done
  # shellcheck disable=SC2206
  [ -n "$extra" ] && cmd+=($extra)
  [ "$found" = 1 ] || cmd+=("$url")
  local t0=$EPOCHREALTIME msg
  set +e
  msg=$("$PY" "$HERE/feed_client.py" --input "$INPUT" --timeout "$TMO" \
        --stdout "$log.stdout" --stderr "$log.stderr" -- "${cmd[@]}")
  rc=$?
  set -e
  local dt; dt=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
  stop_server
  if [ $rc -ne 0 ]; then
    echo "FAIL $name: $msg"
    echo "     client: ${cmd[*]}; stderr: $log.stderr"
    { tail -n 5 "$log.stderr" | sed 's/^/     | /'; } 2>/dev/null || true
    FAIL=$((FAIL+1)); return
  fi
  if ! grep -Eq "$expect" "$log.server.log"; then
    echo "FAIL $name: echoes matched, but the peer saw: $(grep -m1 '^connection:' "$log.server.log" || echo 'no connection line')"
    echo "     (expected a connection line matching /$expect/; client: ${cmd[*]})"
    FAIL=$((FAIL+1)); return
  fi
  echo "ok   $name (${dt}s, $(wc -l <"$INPUT") lines echoed)"
  PASS=$((PASS+1))
}

CLIENT=("$@")
SUB="${CLIENT_SUBPROTOCOL_ARGS:-}"
DEF="${CLIENT_DEFLATE_ARGS:-}"
PLAIN='^connection: extensions=none subprotocol=none'
DEFL='^connection: extensions=.*[Dd]eflate.* subprotocol=none'
CHAT='^connection: extensions=.* subprotocol=chat'
echo "run_client_tests: client = ${CLIENT[*]}"
run_case py-plain         ""   "$PLAIN" -- "$PY" "$HERE/py_server.py"
run_case node-plain       ""   "$PLAIN" -- node "$HERE/node_server.js" --compression
if [ -n "$DEF" ]; then
  run_case py-deflate     "$DEF" "$DEFL" -- "$PY" "$HERE/py_server.py"
  run_case node-deflate   "$DEF" "$DEFL" -- node "$HERE/node_server.js" --compression
  run_case py-nodeflate   "$DEF" "$PLAIN" -- "$PY" "$HERE/py_server.py" --no-compression
else
  echo "skip py-deflate, node-deflate, py-nodeflate (set CLIENT_DEFLATE_ARGS to the client's flag for offering permessage-deflate)"
  SKIP=$((SKIP+3))
fi
if [ -n "$SUB" ]; then
  run_case py-chat   "$SUB" "$CHAT" -- "$PY" "$HERE/py_server.py" --subprotocol chat
  run_case node-chat "$SUB" "$CHAT" -- node "$HERE/node_server.js" --subprotocol chat
else
  echo "skip py-chat, node-chat (set CLIENT_SUBPROTOCOL_ARGS to the client's flag for offering subprotocol 'chat')"
  SKIP=$((SKIP+2))
fi
echo "run_client_tests: $PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" -eq 0 ]
exit
}
