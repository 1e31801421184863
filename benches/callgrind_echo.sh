#!/usr/bin/env bash
# Server instructions per echoed message, counted by callgrind (independent of the machine's
# load, so before/after comparisons need no quiet machine):
#   benches/callgrind_echo.sh SERVER_BIN WSPC_BIN PORT SIZE K [SERVER_ARG...]
# runs SERVER_BIN 127.0.0.1:PORT SERVER_ARG... under `valgrind --tool=callgrind`, one
# `wspc bench -c 20 -s SIZE -k K -d 4s -t 1` against it, and divides the whole run's
# instructions (start-up and the 20 handshakes included, the same for any two builds) by the
# messages echoed. Interleave the builds and run each at least twice.
#
# SERVER_BIN may be a command of several words, the address going after them:
#   benches/callgrind_echo.sh "target/release/wspc serve" target/release/wspc 19500 20 16
# SERVER_CPU=N runs the server pinned to CPU N (`taskset`), as benches/run.sh does: servers
# that size their thread pool by the CPUs they may use then run the same as there.
set -euo pipefail
SRV=$1 BENCH=$2 PORT=$3 SIZE=$4 K=$5
shift 5
read -ra SRVCMD <<<"$SRV"
PIN=()
[ -n "${SERVER_CPU:-}" ] && PIN=(taskset -c "$SERVER_CPU")
OUT=$(mktemp /tmp/callgrind-echo.XXXX)
trap 'rm -f "$OUT"*' EXIT
"${PIN[@]}" valgrind --tool=callgrind --callgrind-out-file="$OUT" "${SRVCMD[@]}" "127.0.0.1:$PORT" "$@" >/dev/null 2>&1 &
VPID=$!
# A failed load run must not leave the server behind.
trap 'kill -9 "$VPID" 2>/dev/null; rm -f "$OUT"*' EXIT
sleep 3
# Valgrind starts slowly on a loaded machine: wait for the listening socket (up to 30 s more).
for _ in $(seq 300); do
    [ -n "$(ss -Hltn "sport = :$PORT" 2>/dev/null)" ] && break
    sleep 0.1
done
J=$("$BENCH" bench "ws://127.0.0.1:$PORT/" -c 20 -s "$SIZE" -k "$K" -d 4s -t 1 -q --json)
kill -INT "$VPID"; sleep 1; kill "$VPID" 2>/dev/null || true; wait "$VPID" 2>/dev/null || true
MSGS=$(echo "$J" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
IR=$(grep -hE "^(summary|totals):" "$OUT"* | head -1 | awk '{print $2}')
echo "size=$SIZE k=$K messages=$MSGS instructions=$IR per_message=$((IR / MSGS))"
if [ -n "${CALLGRIND_KEEP:-}" ]; then
    cp "$OUT" "$CALLGRIND_KEEP"
fi
