#!/usr/bin/env bash
# Server instructions per echoed message, counted by callgrind (independent of the machine's
# load, so before/after comparisons need no quiet machine):
#   benches/callgrind_echo.sh SERVER_BIN WSPC_BIN PORT SIZE K
# runs SERVER_BIN 127.0.0.1:PORT under `valgrind --tool=callgrind`, one
# `wspc bench -c 20 -s SIZE -k K -d 4s -t 1` against it, and divides the whole run's
# instructions (start-up and the 20 handshakes included, the same for any two builds) by the
# messages echoed. Interleave the builds and run each at least twice.
set -euo pipefail
SRV=$1 BENCH=$2 PORT=$3 SIZE=$4 K=$5
OUT=$(mktemp /tmp/callgrind-echo.XXXX)
trap 'rm -f "$OUT"*' EXIT
valgrind --tool=callgrind --callgrind-out-file="$OUT" "$SRV" "127.0.0.1:$PORT" >/dev/null 2>&1 &
VPID=$!
sleep 3
J=$("$BENCH" bench "ws://127.0.0.1:$PORT/" -c 20 -s "$SIZE" -k "$K" -d 4s -t 1 -q --json)
kill -INT "$VPID"; sleep 1; kill "$VPID" 2>/dev/null || true; wait "$VPID" 2>/dev/null || true
MSGS=$(echo "$J" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
IR=$(grep -hE "^(summary|totals):" "$OUT"* | head -1 | awk '{print $2}')
echo "size=$SIZE k=$K messages=$MSGS instructions=$IR per_message=$((IR / MSGS))"
