# Shell helpers shared by benches/run.sh and benches/deflate_policies.sh (sourced).

# The VmRSS of process $1, in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Waits up to 2 minutes for the idle holder (process $2, writing to file $1) to print
# "ready N"; fails if it exits first or never does.
wait_ready() {
    local out=$1 pid=$2
    for _ in $(seq 1200); do
        grep -q "^ready" "$out" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Runs the idle holder $1 (stdout to file $2, stderr to file $3) with the remaining arguments
# against the server $SERVER_PID, waits until it holds its connections, reads the server's
# RSS, stops the holder and prints "RSS_AFTER_KIB CONNECTIONS_READY OK(0/1)".
idle_rss() {
    local bin=$1 out=$2 err=$3 ok=0 after ready pid
    shift 3
    : >"$out"
    taskset -c 1 "$bin" "$@" >"$out" 2>"$err" &
    pid=$!
    wait_ready "$out" "$pid" && ok=1
    sleep 1
    after=$(rss_kib "$SERVER_PID")
    ready=$(sed -n 's/^ready \([0-9]*\).*/\1/p' "$out")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "$after ${ready:-0} $ok"
}
