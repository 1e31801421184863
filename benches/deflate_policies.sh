#!/usr/bin/env bash
# `benches/run.sh --deflate-policies [-n IDLE]`: measures each permessage-deflate policy of the
# tokio echo server (`echo_server --deflate-policy P`, and `--no-deflate` for comparison) and
# rewrites only the "permessage-deflate policies" section of BENCHMARKS.md:
#   - RSS per idle connection: IDLE connections (default 10000; env BENCH_IDLE) from
#     benches/target/release/idle, each offering deflate as browsers do and echoing one 4 KiB
#     compressed JSON message first; the server's VmRSS before and after. Load-independent.
#   - ratio and CPU per message: `wspc/benches/deflate.rs --policies` (JSON events and chat
#     messages, both directions, thread CPU time over 7 interleaved rounds: median and spread).
# Env: BENCH_NO_BUILD=1 uses the binaries as they are.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
COMMAND="benches/run.sh --deflate-policies${*:+ $*}"
IDLE=${BENCH_IDLE:-10000}
TRAFFIC=4096
while getopts "n:h" opt; do
    case $opt in
        n) IDLE=$OPTARG ;;
        *) sed -n '2,11p' "$0"; exit 2 ;;
    esac
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log() { printf '[deflate-policies %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=benches/common.sh
. "$ROOT/benches/common.sh"

if [ -z "${BENCH_NO_BUILD:-}" ]; then
    log "building the echo server, the idle holder and the deflate benchmark (release)"
    cargo build --release -q -p wspc-io --example echo_server
    (cd benches && cargo build --release -q --bin idle)
fi
CODEC_BIN=$(cargo bench -q -p wspc --bench deflate --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.executable != null and .target.name == "deflate") | .executable' | tail -1)
SERVER="$ROOT/target/release/examples/echo_server"
IDLE_BIN="$ROOT/benches/target/release/idle"
RESULTS="$ROOT/benches/target/results"
mkdir -p "$RESULTS"
IDLEJ="$RESULTS/deflate_idle.jsonl"
CODECJ="$RESULTS/deflate_codec.jsonl"
: >"$IDLEJ"

PORT=${BENCH_PORT:-19500}
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
    true
}
trap cleanup EXIT

for policy in none lean balanced best-ratio; do
    PORT=$((PORT + 1))
    ADDR="127.0.0.1:$PORT"
    if [ "$policy" = none ]; then sargs=(--no-deflate); iargs=(); else sargs=(--deflate-policy "$policy"); iargs=(--deflate); fi
    taskset -c 0 "$SERVER" "$ADDR" "${sargs[@]}" >"$RESULTS/server.out" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do grep -q "listening on" "$RESULTS/server.out" && break; sleep 0.1; done
    sleep 0.5
    before=$(rss_kib "$SERVER_PID")
    log "$policy: $IDLE connections, one $TRAFFIC-byte echo each, then idle"
    read -r after ready ok <<<"$(idle_rss "$IDLE_BIN" "$RESULTS/idle.out" "$RESULTS/idle.err" \
        "$ADDR" "$IDLE" / --traffic "$TRAFFIC" "${iargs[@]}")"
    [ "$ok" = 1 ] || log "$policy: the idle holder did not get ready"
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    jq -cn --arg policy "$policy" --argjson before "$before" --argjson after "$after" \
        --argjson ready "$ready" --arg err "$(head -c 200 "$RESULTS/idle.err")" \
        '{policy: $policy, rss_before_kib: $before, rss_after_kib: $after, connections: $ready, errors: $err}' >>"$IDLEJ"
    sleep 1
done

log "ratio and CPU per message ($CODEC_BIN --policies)"
taskset -c 0 "$CODEC_BIN" --policies >"$CODECJ"

python3 "$ROOT/benches/report.py" --deflate-policies --idle "$IDLEJ" --codec "$CODECJ" \
    --out "$ROOT/BENCHMARKS.md" --command "$COMMAND" --idle-count "$IDLE" --traffic "$TRAFFIC"
log "rewrote the permessage-deflate section of BENCHMARKS.md"
