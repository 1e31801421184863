#!/usr/bin/env bash
# The benchmark suite, outside the default test run: builds everything in release, runs every
# server x cell with the server pinned to CPU 0 and `wspc bench` to CPU 1, measures RSS with
# 10,000 idle connections, and writes BENCHMARKS.md at the repository root.
#
# Usage: benches/run.sh [-d SECS] [-w SECS] [-r ROUNDS] [-n IDLE] [-s SERVER,...] [-o FILE]
#   -d  measured seconds per cell (default 5; env BENCH_DURATION)
#   -r  rounds (default 1; env BENCH_ROUNDS): every cell is measured this many times, the
#       servers taking turns within a cell, and the tables show each server's median round
#   -w  warm-up seconds per cell, not counted (default 1; env BENCH_WARMUP)
#   -n  idle connections for the RSS test (default 10000; 0 skips it; env BENCH_IDLE)
#   -s  only these servers (comma-separated names as in the tables)
#   -o  output file (default BENCHMARKS.md at the repository root)
# Env: BENCH_SCHED: how the server and the load run on their CPUs. `fifo` (default when root):
#        SCHED_FIFO via chrt, so that other work on a shared machine cannot delay their
#        wake-ups (under the fair scheduler a woken server waited ~6 ms behind a compiler on its
#        CPU, even at nice -20, and rates fell ~9x); the kernel still leaves 5% of each CPU to
#        others. `nice`: nice -10. `none`: as is.
#      BENCH_NO_BUILD=1 (use the binaries as they are), BENCH_CONNECTIONS (default 100),
#      BENCH_CODEC=0 (skip the core's criterion codec benchmark, run on CPU 0 after the servers),
#      BENCH_EXTRA="NAME|BINARY|ws;..." (more servers for this run, e.g. an earlier build).
#
# benches/run.sh --deflate-policies [-n IDLE]: only the permessage-deflate policies section
# (RSS per idle compressed connection, ratio and CPU per message of each policy), rewritten in
# place; see benches/deflate_policies.sh. The full run keeps that section as it is.
set -euo pipefail
if [ "${1:-}" = "--deflate-policies" ]; then
    shift
    exec bash "$(dirname "${BASH_SOURCE[0]}")/deflate_policies.sh" "$@"
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
COMMAND="${BENCH_EXTRA:+BENCH_EXTRA='$BENCH_EXTRA' }benches/run.sh${*:+ $*}"

DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-1}
WARMUP=${BENCH_WARMUP:-1}
IDLE=${BENCH_IDLE:-10000}
CONNS=${BENCH_CONNECTIONS:-100}
ONLY=""
OUT="$ROOT/BENCHMARKS.md"
while getopts "d:w:r:n:s:o:h" opt; do
    case $opt in
        d) DURATION=$OPTARG ;;
        r) ROUNDS=$OPTARG ;;
        w) WARMUP=$OPTARG ;;
        n) IDLE=$OPTARG ;;
        s) ONLY=",$OPTARG," ;;
        o) OUT=$OPTARG ;;
        *) sed -n '2,22p' "$0"; exit 2 ;;
    esac
done

if [ "$(id -u)" = 0 ]; then SCHED=${BENCH_SCHED:-fifo}; else SCHED=${BENCH_SCHED:-none}; fi
case $SCHED in
    fifo) PRIO=(chrt -f 10) ;;
    nice) PRIO=(nice -n -10) ;;
    none) PRIO=() ;;
    *) echo "run.sh: BENCH_SCHED must be fifo, nice or none" >&2; exit 2 ;;
esac
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(nproc)" -lt 2 ]; then
    echo "run.sh: needs 2 CPUs (server on CPU 0, load on CPU 1)" >&2
    exit 1
fi

log() { printf '[run.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=benches/common.sh
. "$ROOT/benches/common.sh"

# --- build ---------------------------------------------------------------------------------
IO_NOTE=""
if [ -z "${BENCH_NO_BUILD:-}" ]; then
    log "building wspc-cli, wspc-io examples (main workspace) and benches/ (own workspace), release"
    cargo build --release -q -p wspc-cli
    if ! cargo build --release -q -p wspc-io --examples --features uring 2>/tmp/wspc-io-build.err; then
        IO_NOTE="wspc-io examples failed to build: $(head -c 300 /tmp/wspc-io-build.err | tr '\n' ' ')"
        log "$IO_NOTE"
    fi
    (cd benches && cargo build --release -q)
    bash benches/uws/build.sh >/dev/null 2>&1 || IO_NOTE="${IO_NOTE:+$IO_NOTE; }uWebSockets did not build (benches/uws/build.sh)"
fi

WSPC="$ROOT/target/release/wspc"
BB="$ROOT/benches/target/release"
RESULTS="$ROOT/benches/target/results"
mkdir -p "$RESULTS"
JSONL="$RESULTS/cells.jsonl"
IDLEJ="$RESULTS/idle.jsonl"
NOTES="$RESULTS/notes.txt"
: >"$JSONL"
: >"$IDLEJ"
: >"$NOTES"
[ -n "$IO_NOTE" ] && echo "$IO_NOTE" >>"$NOTES"

# name | binary | mode (ws or raw)
SERVERS=(
    "wspc tokio|$ROOT/target/release/examples/echo_server|ws"
    "wspc blocking|$ROOT/target/release/examples/echo_server_blocking|ws"
    "wspc io_uring|$ROOT/target/release/examples/echo_server_uring|ws"
    "wspc serve|$ROOT/benches/wspc-serve.sh|ws"
    "tokio-tungstenite|$BB/echo_tungstenite|ws"
    "fastwebsockets|$BB/echo_fastwebsockets|ws"
    "tokio-websockets|$BB/echo_tokio_websockets|ws"
    "raw TCP reflector|$BB/tcp_reflector|raw"
)
# Other languages' and runtimes' servers, where they built: uWebSockets (C++, benches/uws)
# and sockudo-ws (tokio, and its io_uring transport).
OTHERS=(
    "uWebSockets|$BB/echo_uws|ws"
    "sockudo-ws|$BB/echo_sockudo|ws"
    "sockudo-ws io_uring|$BB/echo_sockudo_uring|ws"
)
# BENCH_EXTRA="NAME|BINARY|ws;...": more servers for one run (a build to compare with, say).
IFS=';' read -r -a EXTRA <<<"${BENCH_EXTRA:-}"
OTHERS+=("${EXTRA[@]}")
for entry in "${OTHERS[@]}"; do
    bin=${entry#*|}; bin=${bin%%|*}
    if [ -x "$bin" ]; then
        # before the raw reflector, which stays last
        SERVERS=("${SERVERS[@]:0:${#SERVERS[@]}-1}" "$entry" "${SERVERS[@]: -1}")
    else
        echo "${entry%%|*}: $bin not built, left out" >>"$NOTES"
    fi
done
CELLS=("20 1" "20 16" "1024 1" "1024 16" "65536 1" "65536 16" "1048576 1" "1048576 4")

PORT=${BENCH_PORT:-19000}
SERVER_PID=""
start_server() { # binary -> sets SERVER_PID, ADDR
    local bin=$1
    PORT=$((PORT + 1))
    ADDR="127.0.0.1:$PORT"
    local out="$RESULTS/server.out"
    : >"$out"
    "${PRIO[@]}" taskset -c 0 "$bin" "$ADDR" >"$out" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$out" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    log "server $bin did not start: $(head -c 300 "$out")"
    stop_server
    return 1
}
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
}
trap cleanup EXIT

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)

# --- throughput cells ----------------------------------------------------------------------
# Round by round, cell by cell, the servers take turns, so that a slow spell of the shared
# machine hits every server of a cell alike rather than one server's whole row.
for round in $(seq "$ROUNDS"); do
for cell in "${CELLS[@]}"; do
    read -r size k <<<"$cell"
    for entry in "${SERVERS[@]}"; do
        IFS='|' read -r name bin mode <<<"$entry"
        if [ -n "$ONLY" ] && [[ "$ONLY" != *",$name,"* ]]; then continue; fi
        if [ ! -x "$bin" ]; then
            if [ "$round" = 1 ] && [ "$cell" = "${CELLS[0]}" ]; then
                log "skipping $name: $bin is missing"
                echo "$name: skipped, $bin not built" >>"$NOTES"
            fi
            continue
        fi
        raw=()
        [ "$mode" = raw ] && raw=(--raw)
        start_server "$bin" || { echo "$name: server failed to start" >>"$NOTES"; continue; }
        log "round $round/$ROUNDS: $name: $size B x $k in flight"
        out=$("${PRIO[@]}" taskset -c 1 "$WSPC" bench "ws://$ADDR/" -c "$CONNS" -s "$size" -k "$k" \
            -d "${DURATION}s" --warmup "${WARMUP}s" -t 1 --server-pid "$SERVER_PID" --json -q "${raw[@]}" \
            2>"$RESULTS/bench.err") || true
        if [ -z "$out" ]; then
            out=$(jq -cn --arg e "$(head -c 300 "$RESULTS/bench.err")" '{failed: $e}')
        fi
        jq -c --arg name "$name" --argjson size "$size" --argjson k "$k" --argjson round "$round" \
            '. + {server_name: $name, cell_size: $size, cell_k: $k, round: $round}' <<<"$out" >>"$JSONL"
        stop_server
    done
done
done

# --- idle connections ----------------------------------------------------------------------
if [ "$IDLE" -gt 0 ]; then
    for entry in "${SERVERS[@]}"; do
        IFS='|' read -r name bin mode <<<"$entry"
        if [ -n "$ONLY" ] && [[ "$ONLY" != *",$name,"* ]]; then continue; fi
        [ "$mode" = raw ] && continue
        [ -x "$bin" ] || continue
        start_server "$bin" || continue
        sleep 0.5
        before=$(rss_kib "$SERVER_PID")
        log "$name: $IDLE idle connections"
        idle_out="$RESULTS/idle.out"
        read -r after ready ok <<<"$(idle_rss "$BB/idle" "$idle_out" "$RESULTS/idle.err" "$ADDR" "$IDLE" /)"
        stop_server
        jq -cn --arg name "$name" --argjson before "$before" --argjson after "$after" \
            --argjson ready "$ready" --argjson asked "$IDLE" --argjson ok "$ok" \
            --arg err "$(head -c 200 "$RESULTS/idle.err")" \
            '{server_name: $name, rss_before_kib: $before, rss_after_kib: $after, connections: $ready, asked: $asked, completed: ($ok == 1), errors: $err}' \
            >>"$IDLEJ"
        sleep 1
    done
fi

# --- the core alone: criterion codec benchmark ---------------------------------------------
CRITERION=""
if [ "${BENCH_CODEC:-1}" = 1 ]; then
    log "core codec benchmark (cargo bench -p wspc --bench codec)"
    rm -rf "$ROOT/target/criterion/codec" "$ROOT/target/criterion/codec_steps"
    if taskset -c 0 cargo bench -q -p wspc --bench codec -- --warm-up-time 1 --measurement-time 3 \
        >"$RESULTS/codec.out" 2>&1; then
        CRITERION="$ROOT/target/criterion/codec"
    else
        echo "codec benchmark failed: $(tail -c 300 "$RESULTS/codec.out" | tr '\n' ' ')" >>"$NOTES"
    fi
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - T0))

# --- report --------------------------------------------------------------------------------
# The sections other scripts write (deflate policies, pub/sub, HTTP/2 ratio) are kept by
# report.py as they are.
python3 "$ROOT/benches/report.py" \
    --cells "$JSONL" --idle "$IDLEJ" --notes "$NOTES" --out "$OUT" \
    --command "$COMMAND" --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNS" \
    --rounds "$ROUNDS" --criterion "$CRITERION" --sched "$SCHED" --load-start "$LOAD_START" --load-end "$LOAD_END" --elapsed "$ELAPSED" \
    --idle-count "$IDLE"
log "wrote $OUT"
