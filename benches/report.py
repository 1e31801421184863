#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the JSON lines run.sh collected. Called by run.sh only."""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

SERVERS = ["wspc tokio", "wspc io_uring", "wspc blocking", "wspc serve", "tokio-tungstenite", "fastwebsockets", "tokio-websockets", "uWebSockets",
           "sockudo-ws", "sockudo-ws io_uring", "raw TCP reflector"]
WS_OTHERS = ["tokio-tungstenite", "fastwebsockets", "tokio-websockets", "uWebSockets", "sockudo-ws", "sockudo-ws io_uring"]
DESCRIPTIONS = {
    "wspc tokio": "`wspc-io` example `echo_server` (tokio), as built by `cargo build --release -p wspc-io --examples`",
    "wspc blocking": "`wspc-io` example `echo_server_blocking` (std threads)",
    "wspc io_uring": "`wspc-io` example `echo_server_uring` (the io_uring driver, feature `uring`, one thread)",
    "wspc serve": "the command-line tool, `wspc serve --io uring ADDR` (echo mode on the io_uring driver, one thread per CPU it may run on, so one here), through `benches/wspc-serve.sh`",
    "tokio-tungstenite": "`benches/src/bin/echo_tungstenite.rs`: `accept_async_with_config`, read half forwarded to the write half (the crate's echo example)",
    "fastwebsockets": "`benches/src/bin/echo_fastwebsockets.rs`: `WebSocket::after_handshake` + `FragmentCollector`, `read_frame`/`write_frame` (the crate's example settings)",
    "tokio-websockets": "`benches/src/bin/echo_tokio_websockets.rs`: `ServerBuilder::accept`, `next`/`send` loop (the crate's README)",
    "uWebSockets": "`benches/uws/echo_uws.cpp` (C++, built by `benches/uws/build.sh` from the sources in the crates.io crate `libuwebsockets-sys`, g++ -O2, no SSL, compression off, `maxPayloadLength` 64 MiB): `ws->send` back in the message handler",
    "sockudo-ws": "`benches/src/bin/echo_sockudo.rs`: `WebSocketStream::server` with the default `Config`, `next`/`send` loop (the crate's `simple_echo` example), single-threaded tokio",
    "sockudo-ws io_uring": "`benches/src/bin/echo_sockudo_uring.rs`: the same loop over sockudo-ws's io_uring transport (`UringStream` on tokio-uring), as its `io_uring` module documents",
    "raw TCP reflector": "`benches/src/bin/tcp_reflector.rs`: 64 KiB read, `write_all` back; the ceiling (`wspc bench --raw` checks the masked frames come back unchanged)",
}


def size_name(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n >> 10} KiB"
    return f"{n} B"


def cell_name(c):
    return f"{size_name(c[0])} ×{c[1]}"


def num(n):
    return f"{n:,.0f}"


def read_jsonl(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out


def read_criterion(group_dir):
    """{function: {size: mean ns}} from criterion's `<group>/<function>/<size>/new/estimates.json`."""
    out = {}
    if not os.path.isdir(group_dir):
        return out
    for fn in os.listdir(group_dir):
        d = os.path.join(group_dir, fn)
        if not os.path.isdir(d) or fn == "report":
            continue
        for size in os.listdir(d):
            est = os.path.join(d, size, "new", "estimates.json")
            if size.isdigit() and os.path.exists(est):
                with open(est) as f:
                    out.setdefault(fn, {})[int(size)] = json.load(f)["mean"]["point_estimate"]
    return out


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    return model, sh("nproc"), mem, platform.release(), sh("rustc --version")


DEFLATE_BEGIN = "<!-- deflate-policies: begin (benches/run.sh --deflate-policies) -->"
DEFLATE_END = "<!-- deflate-policies: end -->"
POLICIES = ["none", "lean", "balanced", "best-ratio"]
POLICY_NOTES = {
    "none": "`--no-deflate`: no compression (for comparison)",
    "lean": "no context takeover either way, every zlib stream borrowed from a per-thread pool for one message",
    "balanced": "the server resets (pooled compressor); clients keep their context (dedicated decompressor)",
    "best-ratio": "context takeover both ways, both streams dedicated (wspc's behaviour before the policies)",
}


def deflate_section(idle, codec, command, idle_count, traffic):
    """The permessage-deflate policies section, between its markers."""
    L = [DEFLATE_BEGIN, "## permessage-deflate policies", ""]
    L.append(f"Generated by `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); "
             "run on its own, it rewrites only this section.")
    L.append("")
    for p in POLICIES:
        L.append(f"- **{p}**: {POLICY_NOTES[p]}")
    L.append("")
    L.append(f"### RSS per idle compressed connection ({num(int(idle_count))} connections)")
    L.append("")
    L.append("`wspc-io` example `echo_server --deflate-policy P` (tokio, one thread, pinned to CPU 0); "
             "`benches/target/release/idle --deflate` opens the connections offering "
             "`permessage-deflate; client_max_window_bits` (what browsers offer), echoes one "
             f"{num(int(traffic))}-byte compressed JSON message on each, then holds them idle; the server's `VmRSS` "
             "before and after. Does not depend on the machine's load.")
    L.append("")
    L.append("| policy | connections | RSS before (MiB) | RSS after (MiB) | per connection |")
    L.append("|---|---:|---:|---:|---:|")
    by = {r["policy"]: r for r in idle}
    for p in POLICIES:
        r = by.get(p)
        if not r:
            continue
        n = max(r["connections"], 1)
        per = (r["rss_after_kib"] - r["rss_before_kib"]) / n
        L.append(f"| {p} | {num(r['connections'])} | {r['rss_before_kib'] / 1024:.1f} | "
                 f"{r['rss_after_kib'] / 1024:.1f} | {per:.2f} KiB |")
    L.append("")
    L.append("### Compression ratio and CPU per message")
    L.append("")
    L.append("`wspc/benches/deflate.rs --policies`: two handles in memory, a client offering what browsers offer "
             "and a server with the policy; each corpus streamed one way (server → client, client → server). "
             "Ratio: bytes on the wire (frame headers included) / payload bytes, on one pass. CPU: the thread's "
             "CPU time per message for both ends (compress + frame, then inflate + UTF-8 check), the corpus "
             "repeated for at least 200 ms per measurement; median of the rounds, and the range over rounds "
             "(rounds interleave the policies). Corpora: `json`, the JSON market events of the deflate benchmark "
             "(200-700 B); `chat`, chat messages of 100-500 B.")
    L.append("")
    L.append("| corpus | policy | ratio s→c | ratio c→s | CPU/msg s→c (µs) | CPU/msg c→s (µs) |")
    L.append("|---|---|---:|---:|---:|---:|")
    rows = {(r["corpus"], r["policy"], r["dir"]): r for r in codec}
    rounds = max((r.get("rounds", 0) for r in codec), default=0)
    for corpus in ["json", "chat"]:
        for p in POLICIES:
            cells = []
            for d in ["s2c", "c2s"]:
                r = rows.get((corpus, p, d))
                cells.append(f"{r['wire'] / r['payload']:.3f}" if r else "—")
            for d in ["s2c", "c2s"]:
                r = rows.get((corpus, p, d))
                cells.append(f"{r['cpu_ns_median'] / 1000:.2f} ({r['cpu_ns_min'] / 1000:.2f}–"
                             f"{r['cpu_ns_max'] / 1000:.2f})" if r else "—")
            L.append(f"| {corpus} | {p} | " + " | ".join(cells) + " |")
    L.append("")
    L.append(f"{rounds} rounds. The default policy is **lean**: it is the only one whose idle cost stays near an "
             "uncompressed connection's (the issue's target: ≤ 8 KiB), and the per-connection memory is "
             "what limits how many browser tabs a server holds. What it costs is in the table: without "
             "context takeover each small message is compressed on its own (a worse ratio than best-ratio "
             "on these corpora), and every message pays for resetting a pooled zlib-rs stream (its 128 KiB hash "
             "table is cleared), about twice the CPU of best-ratio per message. Servers whose traffic is "
             "mostly large or highly repetitive messages to few clients can choose best-ratio.")
    L.append(DEFLATE_END)
    return L


# Sections other scripts write into BENCHMARKS.md (begin and end marker lines): a full run
# keeps each as it is. deflate: benches/run.sh --deflate-policies; pub/sub:
# benches/pubsub.sh; HTTP/2 ratio: benches/http2_ratio.sh.
KEPT_SECTIONS = [
    (DEFLATE_BEGIN, DEFLATE_END),
    ("<!-- pubsub: generated by benches/pubsub.sh -->", "<!-- /pubsub -->"),
    ("<!-- http2-ratio:begin -->", "<!-- http2-ratio:end -->"),
]


def kept_sections(path):
    """The sections of an existing BENCHMARKS.md that other scripts wrote (lines), in order."""
    if not os.path.exists(path):
        return []
    lines = open(path).read().split("\n")
    out = []
    for begin, end in KEPT_SECTIONS:
        if begin in lines and end in lines[lines.index(begin):]:
            i = lines.index(begin)
            out += lines[i:lines.index(end, i) + 1] + [""]
    return out


def deflate_main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--deflate-policies", action="store_true")
    for a in ["idle", "codec", "out", "command", "idle-count", "traffic"]:
        ap.add_argument("--" + a, required=True)
    a = ap.parse_args(argv)
    section = deflate_section(read_jsonl(a.idle), read_jsonl(a.codec), a.command, a.idle_count, a.traffic)
    lines = open(a.out).read().split("\n") if os.path.exists(a.out) else ["# Benchmarks", ""]
    if DEFLATE_BEGIN in lines and DEFLATE_END in lines:
        lines[lines.index(DEFLATE_BEGIN):lines.index(DEFLATE_END) + 1] = section
    else:
        while lines and lines[-1] == "":
            lines.pop()
        lines += [""] + section + [""]
    with open(a.out, "w") as f:
        f.write("\n".join(lines))


def main():
    if "--deflate-policies" in sys.argv[1:]:
        return deflate_main(sys.argv[1:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", default="1")
    ap.add_argument("--criterion", default="")
    for a in ["cells", "idle", "notes", "out", "command", "duration", "warmup", "connections", "sched",
              "load-start", "load-end", "elapsed", "idle-count"]:
        ap.add_argument("--" + a, required=True)
    a = ap.parse_args()
    kept = kept_sections(a.out)
    rows = read_jsonl(a.cells)
    idle = read_jsonl(a.idle)
    notes = open(a.notes).read().strip().splitlines() if os.path.exists(a.notes) else []

    cells = []
    for r in rows:
        c = (r["cell_size"], r["cell_k"])
        if c not in cells:
            cells.append(c)
    cells.sort()
    servers = [s for s in SERVERS if any(r["server_name"] == s for r in rows)]
    # Servers added for one run (run.sh's BENCH_EXTRA), after the known ones.
    for r in rows:
        if r["server_name"] not in servers:
            servers.append(r["server_name"])
    # With several rounds, each server and cell is represented by its median round (by messages/s;
    # a failed round counts as 0).
    rounds = {}
    for r in rows:
        rounds.setdefault((r["server_name"], r["cell_size"], r["cell_k"]), []).append(r)

    def median_round(rs):
        def key(r):
            return r.get("messages_per_s", 0.0) if "failed" not in r and r.get("errors") == 0 else 0.0
        return sorted(rs, key=key)[(len(rs) - 1) // 2]

    by = {k: median_round(rs) for k, rs in rounds.items()}

    def get(s, c):
        r = by.get((s, c[0], c[1]))
        return r if r and "failed" not in r else None

    def rate(s, c):
        r = get(s, c)
        return r["messages_per_s"] if r and r["errors"] == 0 else 0.0

    best = {c: max([rate(s, c) for s in servers] or [0.0]) for c in cells}

    L = []
    L.append("# Benchmarks")
    L.append("")
    L.append("Generated by `benches/run.sh`; never edited by hand. To regenerate (about 25 minutes with every server):")
    L.append("")
    L.append("```sh")
    L.append(a.command)
    L.append("```")
    L.append("")
    model, nproc, mem, kernel, rustc = machine()
    L.append("## Machine and method")
    L.append("")
    L.append(f"- CPU: {model}, `nproc` = {nproc}; memory {mem}; Linux {kernel}; {rustc}")
    L.append(f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; the run took {a.elapsed} s")
    L.append(f"- Load average (1/5/15 min) at start: {a.load_start}; at end: {a.load_end}. The machine is "
             "shared with other builds, so absolute rates are noisy; server CPU time per message is the "
             "steadier ranking.")
    sched = {"fifo": "SCHED_FIFO priority 10 (`chrt -f 10`)", "nice": "nice -10", "none": "default priority"}[a.sched]
    L.append(f"- Each server runs pinned to CPU 0 (`taskset -c 0`), `wspc bench` (1 thread) pinned to CPU 1, both "
             f"with {sched}. {a.connections} connections; per cell {a.warmup} s of warm-up, then {a.duration} s "
             "measured; the server is restarted for every cell. Binary messages; every echo is checked byte for byte.")
    n_rounds = int(a.rounds)
    if n_rounds > 1:
        L.append(f"- {n_rounds} rounds: in each round every cell is measured once per server, the servers taking "
                 "turns within the cell; each table entry is that server's median round (by messages/s).")
    L.append("- Cells: message size × messages in flight per connection.")
    L.append("- Server CPU: utime+stime from `/proc/PID/stat` over the measured window, divided by the messages "
             "echoed. Peak RSS: `VmHWM` of the server after the cell.")
    L.append("")

    if not rows:
        L.append("No results.")
    else:
        hdr = "| server | " + " | ".join(cell_name(c) for c in cells) + " |"
        sep = "|---|" + "---:|" * len(cells)

        L.append("## Messages per second (ratio to the fastest in the cell)")
        L.append("")
        L.append(hdr)
        L.append(sep)
        for s in servers:
            cols = []
            for c in cells:
                r = get(s, c)
                if r is None:
                    cols.append("—")
                elif r["errors"] != 0:
                    cols.append(f"{r['errors']} errors")
                else:
                    v = r["messages_per_s"]
                    ratio = v / best[c] if best[c] else 0
                    cell = f"{num(v)} ({ratio:.2f}×)"
                    cols.append(f"**{cell}**" if ratio >= 0.9999 else cell)
            L.append(f"| {s} | " + " | ".join(cols) + " |")
        L.append("")

        if n_rounds > 1:
            L.append("## Spread over the rounds")
            L.append("")
            L.append("Per server and cell: the range of messages/s over the rounds as a share of the median "
                     "(max − min) / median, then the same for server CPU per message. A difference between "
                     "two servers smaller than these is noise.")
            L.append("")
            L.append(hdr)
            L.append(sep)

            def spread(vals):
                vals = sorted(v for v in vals if v)
                if len(vals) < 2:
                    return None
                return (vals[-1] - vals[0]) / vals[(len(vals) - 1) // 2]

            for s in servers:
                cols = []
                for c in cells:
                    rs = [r for r in rounds.get((s, c[0], c[1]), []) if "failed" not in r and r.get("errors") == 0]
                    m = spread([r["messages_per_s"] for r in rs])
                    u = spread([(r.get("server") or {}).get("cpu_us_per_msg") for r in rs])
                    cols.append("—" if m is None else f"{m * 100:.0f} % / {u * 100:.0f} %" if u is not None
                                else f"{m * 100:.0f} %")
                L.append(f"| {s} | " + " | ".join(cols) + " |")
            L.append("")

        L.append("## Server CPU time per message (µs; lower is better)")
        L.append("")
        L.append("Still ranks servers when the load generator, not the server, is the limit.")
        L.append("")
        L.append(hdr)
        L.append(sep)
        for s in servers:
            cols = []
            for c in cells:
                r = get(s, c)
                sv = r and r.get("server")
                cols.append(f"{sv['cpu_us_per_msg']:.2f}" if sv and r["messages"] else "—")
            L.append(f"| {s} | " + " | ".join(cols) + " |")
        L.append("")

        L.append("## Peak RSS (MiB, VmHWM)")
        L.append("")
        L.append(hdr.rstrip(" |") + " | max |")
        L.append(sep + "---:|")
        for s in servers:
            cols, peak = [], 0
            for c in cells:
                r = get(s, c)
                h = r and r.get("server") and r["server"].get("vm_hwm_kib")
                if h:
                    peak = max(peak, h)
                cols.append(f"{h / 1024:.1f}" if h else "—")
            L.append(f"| {s} | " + " | ".join(cols) + f" | {peak / 1024:.1f} |")
        L.append("")

    L.append(f"## RSS per idle connection ({int(a.idle_count):,} idle connections)")
    L.append("")
    if idle:
        L.append("Connections opened by `benches/target/release/idle` from 127.0.0.2–127.0.0.9, handshake done, "
                 "then held idle; the server's `VmRSS` before and after.")
        L.append("")
        L.append("| server | connections | RSS before (MiB) | RSS after (MiB) | per connection |")
        L.append("|---|---:|---:|---:|---:|")
        for s in SERVERS + [x for x in servers if x not in SERVERS]:
            for r in idle:
                if r["server_name"] != s:
                    continue
                n = r["connections"]
                per = (r["rss_after_kib"] - r["rss_before_kib"]) * 1024 / n if n else 0
                extra = "" if r["completed"] and n == r["asked"] else f" (of {r['asked']}; {r['errors'][:80]})"
                L.append(f"| {s} | {n:,}{extra} | {r['rss_before_kib'] / 1024:.1f} | "
                         f"{r['rss_after_kib'] / 1024:.1f} | {per / 1024:.2f} KiB |")
    else:
        L.append("Not measured in this run.")
    L.append("")

    for me in [d for d in ("wspc tokio", "wspc io_uring") if rows and d in servers]:
            L.append(f"## Targets for {me}")
            L.append("")
            L.append(f"Ratios of {me}'s messages/s. Targets: ≥ 1.0× the best other WebSocket server in every "
                     "cell; in the pipelined small cells (20 B and 1 KiB ×16) ≥ 5× fastwebsockets and "
                     "tokio-websockets and ≥ 0.9× the raw TCP reflector; ≤ 1 KiB RSS per idle connection (≤ 512 B for the io_uring driver). "
                     f"Last column: {me}'s server CPU per message over the lowest of the other WebSocket "
                     "servers (target ≤ 1.0× in the cells where the load generator's busiest thread is "
                     "saturated, ≥ 90%, for every server; elsewhere shown for information).")
            L.append("")
            L.append("| cell | vs best other | vs fastwebsockets | vs tokio-websockets | vs uWebSockets | vs best sockudo-ws | vs raw reflector | CPU/msg vs lowest other |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|")

            def mark(v, target):
                if v is None:
                    return "—"
                if target is None:
                    return f"{v:.2f}×"
                return f"{v:.2f}× {'✅' if v >= target else '❌'}"

            for c in cells:
                w = rate(me, c)
                others = [rate(s, c) for s in WS_OTHERS if get(s, c)]
                bo = max(others) if others else 0
                ratio = lambda x: (w / x) if x else None  # noqa: E731
                small_pipe = c[0] <= 1024 and c[1] > 1
                def cpu(s):
                    r = get(s, c)
                    return (r.get("server") or {}).get("cpu_us_per_msg") if r and r["errors"] == 0 else None

                def gen_saturated(s):
                    r = get(s, c)
                    return bool(r) and r["generator"]["busiest_thread"] >= 0.9

                other_cpu = [cpu(s) for s in WS_OTHERS if cpu(s)]
                cpu_cell = "—"
                if cpu(me) and other_cpu:
                    cr = cpu(me) / min(other_cpu)
                    if all(gen_saturated(s) for s in [me] + WS_OTHERS if get(s, c)):
                        cpu_cell = f"{cr:.2f}× {'✅' if cr <= 1.0 else '❌'}"
                    else:
                        cpu_cell = f"{cr:.2f}×"
                L.append(f"| {cell_name(c)} | {mark(ratio(bo), 1.0)} | "
                         f"{mark(ratio(rate('fastwebsockets', c)), 5.0 if small_pipe else None)} | "
                         f"{mark(ratio(rate('tokio-websockets', c)), 5.0 if small_pipe else None)} | "
                         f"{mark(ratio(rate('uWebSockets', c)), 1.0)} | "
                         f"{mark(ratio(max(rate('sockudo-ws', c) or 0, rate('sockudo-ws io_uring', c) or 0)), 1.0)} | "
                         f"{mark(ratio(rate('raw TCP reflector', c)), 0.9 if small_pipe else None)} | {cpu_cell} |")
            for r in idle:
                if r["server_name"] == me and r["connections"]:
                    per = (r["rss_after_kib"] - r["rss_before_kib"]) * 1024 / r["connections"]
                    L.append("")
                    limit = 512 if me == "wspc io_uring" else 1024
                    L.append(f"Idle: {per:,.0f} B per connection {'✅' if per <= limit else '❌'} (target ≤ {limit:,} B).")
            L.append("")

    if rows and "wspc serve" in servers and "wspc io_uring" in servers:
        L.append("## wspc serve over the library's example")
        L.append("")
        L.append("`wspc serve` (echo mode, on the io_uring driver) against `echo_server_uring`: messages/s and server "
                 "CPU per message of the command-line tool over the example's (target: within 3 %, messages/s "
                 "≥ 0.97× and CPU ≤ 1.03×; compare with the spread table).")
        L.append("")
        L.append("| cell | messages/s | server CPU per message |")
        L.append("|---|---:|---:|")
        for c in cells:
            rs, re = get("wspc serve", c), get("wspc io_uring", c)
            if not rs or not re:
                continue
            mr = rate("wspc serve", c) / rate("wspc io_uring", c) if rate("wspc io_uring", c) else None
            cs, ce = (rs.get("server") or {}).get("cpu_us_per_msg"), (re.get("server") or {}).get("cpu_us_per_msg")
            cr = cs / ce if cs and ce else None
            L.append(f"| {cell_name(c)} | {'—' if mr is None else f'{mr:.2f}×'} | {'—' if cr is None else f'{cr:.2f}×'} |")
        L.append("")

    codec = read_criterion(a.criterion) if a.criterion else {}
    if codec:
        sizes = sorted({n for f in codec.values() for n in f})
        L.append("## Core codec (criterion, `wspc/benches/codec.rs`)")
        L.append("")
        L.append("The engine alone, no I/O: decode (what the engine does to a received masked text payload: "
                 "unmask and incremental UTF-8 check) and encode (masked copy into the send buffer), beside a plain "
                 "memcpy of the same bytes. Mean time per call → GiB/s, and the ratio to memcpy "
                 "(target ≥ 0.5× for decode and encode at 64 KiB).")
        L.append("")
        L.append("| function | " + " | ".join(size_name(n) for n in sizes) + " |")
        L.append("|---|" + "---:|" * len(sizes))
        base = codec.get("memcpy", {})

        def codec_row(fn, times, targeted):
            """One table row: GiB/s per size and the ratio to memcpy (ticked at 64 KiB if targeted)."""
            cols = []
            for n in sizes:
                t = times.get(n)
                if t is None:
                    cols.append("—")
                    continue
                cell = f"{n / t * 1e9 / (1 << 30):.1f} GiB/s"
                if fn != "memcpy" and base.get(n):
                    r = base[n] / t
                    tick = (" ✅" if r >= 0.5 else " ❌") if targeted and n == 65536 else ""
                    cell += f" ({r:.2f}×{tick})"
                cols.append(cell)
            return f"| {fn} | " + " | ".join(cols) + " |"

        for fn in sorted(codec, key=lambda f: (f != "memcpy", f)):
            L.append(codec_row(fn, codec[fn], fn.startswith("decode") or fn.startswith("encode")))
        L.append("")
        steps = read_criterion(os.path.join(os.path.dirname(a.criterion), "codec_steps"))
        if steps:
            L.append("Where decode's time goes: each step alone, on the same text and on pure ASCII "
                     "(`codec_steps`; ratio to the memcpy above). The UTF-8 check of text with multi-byte "
                     "characters alone takes longer than a memcpy, which bounds decode of such text below 0.5×.")
            L.append("")
            L.append("| step | " + " | ".join(size_name(n) for n in sizes) + " |")
            L.append("|---|" + "---:|" * len(sizes))
            for fn in sorted(steps):
                L.append(codec_row(fn, steps[fn], False))
            L.append("")

    if rows:
        L.append("## Details per cell")
        L.append("")
        L.append("Limit: `server` when the server used ≥ 90% of its core, `generator` when the busiest `wspc bench` "
                 "thread did, `both` when both did (SCHED_FIFO leaves 95% of a CPU), `—` when neither (latency-bound with one message in flight, or CPU taken by other "
                 "work on the shared machine).")
        for c in cells:
            L.append("")
            L.append(f"### {size_name(c[0])}, {c[1]} in flight per connection")
            L.append("")
            L.append("| server | msg/s | × best | MB/s | p50 | p99 | server µs/msg | server core use | generator busiest | limit | peak RSS MiB | errors |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
            for s in servers:
                r = by.get((s, c[0], c[1]))
                if r is None:
                    continue
                if "failed" in r:
                    L.append(f"| {s} | failed: {r['failed'][:80]} |" + " |" * 11)
                    continue
                sv = r.get("server") or {}
                g = r["generator"]
                sb, gb = sv.get("cores", 0) >= 0.9, g["busiest_thread"] >= 0.9
                lim = "both" if sb and gb else "server" if sb else "generator" if gb else "—"
                v = r["messages_per_s"]
                lat = r["latency_us"]
                fmt_l = lambda us: f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"  # noqa: E731
                hwm = sv.get("vm_hwm_kib")
                L.append(
                    f"| {s} | {num(v)} | {v / best[c] if best[c] else 0:.2f} | {r['mb_per_s']:.1f} | "
                    f"{fmt_l(lat['p50'])} | {fmt_l(lat['p99'])} | {sv.get('cpu_us_per_msg', 0):.2f} | "
                    f"{sv.get('cores', 0) * 100:.0f}% | {g['busiest_thread'] * 100:.0f}% | {lim} | "
                    f"{hwm / 1024 if hwm else 0:.1f} | {r['errors']} |")
        L.append("")

    L.append("## Servers")
    L.append("")
    L.append("All run a single-threaded runtime (the blocking one: a thread per connection), take the address as "
             "their argument, set TCP_NODELAY, and allow 64 MiB messages.")
    L.append("")
    for s in SERVERS + [x for x in servers if x not in SERVERS]:
        L.append(f"- **{s}**: {DESCRIPTIONS.get(s, 'added for this run (`BENCH_EXTRA`): ' + s)}")
    if notes:
        L.append("")
        L.append("## Notes from this run")
        L.append("")
        for n in notes:
            L.append(f"- {n}")
    L.append("")
    L += kept
    with open(a.out, "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
