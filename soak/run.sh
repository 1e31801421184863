#!/usr/bin/env bash
# Soak test of an echo server (tokio's echo_server unless SOAK_SERVER names another):
#   soak/run.sh [CONNECTIONS] [SECONDS] [THINK_MS]
#   CI (default):  soak/run.sh            -> 1000 connections, 20 s
#   long run:      soak/run.sh 10000 300  (figures in soak/README.md)
# Builds target/release/examples/echo_server and the soak client (soak/, its own
# workspace), starts the server on a free loopback port, runs the client (source addresses
# 127.0.0.2-127.0.0.9), and fails unless every echo came back intact and the server's RSS
# stayed flat (end <= middle x 1.2 + 64 MiB). Needs an open-file limit of CONNECTIONS + 200
# (client and server are separate processes).
set -euo pipefail
conns=${1:-1000}
secs=${2:-20}
think=${3:-500}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
need=$((conns + 200))
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  echo "FAIL soak: open-file limit $(ulimit -n) is below $need for $conns connections"; exit 1
fi
# SOAK_SERVER=path: use that echo server binary (echo_server's arguments: ADDR, then it
# prints "listening on ADDR") instead of building target/release's echo_server, e.g.
# target/release/examples/echo_server_uring; SOAK_SERVER_ARGS: more arguments for it
# (split on spaces), e.g. "--threads 2".
server_bin=${SOAK_SERVER:-$root/target/release/examples/echo_server}
read -r -a server_args <<<"${SOAK_SERVER_ARGS:-}"
server_name=$(basename "$server_bin")
echo "== soak: building the echo server and the soak client"
if [ -z "${SOAK_SERVER:-}" ]; then (cd "$root" && cargo build --release -p wspc-io --examples --quiet); fi
(cd "$here" && cargo build --release --quiet)
log=$(mktemp -d)
"$server_bin" 127.0.0.1:0 "${server_args[@]}" >"$log/server.out" 2>"$log/server.err" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$log"' EXIT
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's/^listening on //p' "$log/server.out")
  [ -n "$addr" ] && break
  kill -0 "$server" 2>/dev/null || { echo "FAIL soak: $server_name exited"; cat "$log/server.err"; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "FAIL soak: $server_name did not start"; exit 1; }
echo "== soak: $conns connections for ${secs}s against $server_name${SOAK_SERVER_ARGS:+ $SOAK_SERVER_ARGS} at $addr (pid $server)"
rc=0
"$here/target/release/wspc-soak" --url "ws://$addr/" --connections "$conns" --seconds "$secs" \
  --think-ms "$think" --server-pid "$server" || rc=$?
if ! kill -0 "$server" 2>/dev/null; then echo "FAIL soak: the server died"; rc=1; fi
errs=$(grep -c . "$log/server.err" || true)
if [ "$errs" -gt 0 ]; then
  echo "soak: server stderr ($errs lines), first lines:"; head -5 "$log/server.err"
fi
exit $rc
