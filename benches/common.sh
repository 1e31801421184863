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
