#!/usr/bin/env python3
"""Feed known lines to a line-echo client and compare what it prints.

Usage: feed_client.py --input FILE [--timeout S] [--stdout FILE] [--stderr FILE] -- CMD...

Starts CMD, writes FILE to its stdin and keeps stdin open until CMD has printed as
many bytes as FILE holds (so that a peer which answers a close at once cannot drop
echoes still in flight), then closes stdin and expects CMD to exit 0 within 15 s
with nothing more printed. Stdout must equal FILE byte for byte.
Exit status: 0 match, 1 mismatch, 2 client exit status non-zero, 3 timeout.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time


def first_diff(a: bytes, b: bytes) -> str:
    n = min(len(a), len(b))
    i = next((k for k in range(n) if a[k] != b[k]), n)
    line = a[:i].count(b"\n") + 1
    nl_a, nl_b = a.count(b"\n"), b.count(b"\n")
    return (f"first difference at byte {i} (line {line}): expected {a[i:i + 40]!r}, got {b[i:i + 40]!r}; "
            f"expected {len(a)} bytes / {nl_a} lines, got {len(b)} bytes / {nl_b} lines")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--stdout", default=None)
    ap.add_argument("--stderr", default=None)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("missing CMD")
    expected = open(a.input, "rb").read()
    err = open(a.stderr, "wb") if a.stderr else subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    deadline = time.monotonic() + a.timeout

    def writer() -> None:
        try:
            p.stdin.write(expected)
            p.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    threading.Thread(target=writer, daemon=True).start()
    got = bytearray()
    done = threading.Event()
    stdin_closed = False
    closed_at = None

    def reader() -> None:
        while True:
            chunk = p.stdout.read1(1 << 16)
            if not chunk:
                break
            got.extend(chunk)
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    status = None
    while True:
        cur = bytes(got)  # one snapshot: the reader thread keeps appending
        if not stdin_closed and (len(cur) >= len(expected) or cur != expected[: len(cur)]):
            try:
                p.stdin.close()
            except OSError:
                pass
            stdin_closed = True
            closed_at = time.monotonic()
        if done.is_set() and p.poll() is not None:
            break
        now = time.monotonic()
        if now > deadline or (closed_at is not None and now > closed_at + 15):
            p.kill()
            p.wait()
            status = "timeout"
            break
        time.sleep(0.01)
    done.wait(5)
    out = bytes(got)
    if a.stdout:
        open(a.stdout, "wb").write(out)
    if status == "timeout":
        why = "before printing every echo" if not stdin_closed else "after stdin was closed (did not exit)"
        print(f"client timed out {why}; " + (first_diff(expected, out) if out != expected else "output complete"))
        return 3
    if p.returncode != 0:
        print(f"client exited with status {p.returncode}" + ("" if out == expected else "; " + first_diff(expected, out)))
        return 2
    if out != expected:
        print(first_diff(expected, out))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
