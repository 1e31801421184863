#!/usr/bin/env python3
"""Python `websockets` client against a wspc echo server (wspc's *server* role).

Usage: py_client.py URL [--subprotocol chat] [--compression] [--big-mib 16]

Checks, each printed as "ok"/"FAIL" with its time:
  text with multi-byte UTF-8, binary (all byte values), empty text, empty binary,
  a fragmented text message (websockets sends an iterable as fragments), 100 pipelined
  messages echoed in order, 16 MiB binary and 16 MiB multi-byte text messages,
  ping/pong with payload, close with code 4000 + reason echoed back by the server;
  --subprotocol NAME: offers NAME and requires the server to select it
  (start the server with that subprotocol enabled);
  --compression: offers permessage-deflate and requires the server to accept it, and
  that the echo of a compressible 1 MiB text arrives compressed (fewer than 1/10 of its
  bytes on the wire) (without it, nothing is offered and none must be negotiated).
Ends with "py_client: N passed, M failed"; exit status 1 on any failure.
"""
import os

os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", "1000000")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

STEP_TIMEOUT = 60.0


class CountingConnection(ClientConnection):
    """Counts the bytes read from the socket (to see compression on the wire)."""

    wire_in = 0

    def data_received(self, data: bytes) -> None:
        self.wire_in += len(data)
        super().data_received(data)


results: list[tuple[str, bool]] = []


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)


def describe(x) -> str:
    kind = "text" if isinstance(x, str) else "binary" if isinstance(x, (bytes, bytearray)) else type(x).__name__
    n = len(x) if hasattr(x, "__len__") else "?"
    head = repr(x[:40]) if hasattr(x, "__getitem__") else repr(x)
    return f"{kind} len={n} head={head}"


async def echo(ws, msg, label: str) -> None:
    await ws.send(msg)
    got = await ws.recv()
    check(type(got) is type(msg), f"{label}: sent {describe(msg)}, got {describe(got)} (wrong message type)")
    if got != msg:
        if len(got) != len(msg):
            raise AssertionError(f"{label}: sent {len(msg)} units, echo has {len(got)}")
        first = next(i for i, (a, b) in enumerate(zip(got, msg)) if a != b)
        raise AssertionError(f"{label}: echo differs from what was sent at offset {first}")


async def run_step(name: str, coro) -> None:
    t = time.monotonic()
    try:
        await asyncio.wait_for(coro, STEP_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - report every failure the same way
        results.append((name, False))
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
        return
    results.append((name, True))
    print(f"ok   {name} ({time.monotonic() - t:.2f}s)", flush=True)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--subprotocol", default=None)
    ap.add_argument("--compression", action="store_true")
    ap.add_argument("--big-mib", type=int, default=16)
    a = ap.parse_args()

    rng = random.Random(6455)
    kw = dict(
        compression="deflate" if a.compression else None,
        subprotocols=[a.subprotocol] if a.subprotocol else None,
        max_size=64 * 1024 * 1024,
        ping_interval=None,
        open_timeout=20,
        close_timeout=20,
        user_agent_header="wspc-interop-py-client",
        create_connection=CountingConnection,
    )
    mode = f"compression={'on' if a.compression else 'off'} subprotocol={a.subprotocol or '-'}"
    print(f"py_client: {a.url} ({mode})", flush=True)

    try:
        ws = await asyncio.wait_for(connect(a.url, **kw), 30)
    except Exception as e:  # noqa: BLE001
        print(f"FAIL connect {a.url}: {type(e).__name__}: {e}")
        print("py_client: 0 passed, 1 failed")
        return 1

    async def handshake():
        exts = [type(e).__name__ for e in ws.protocol.extensions]
        if a.compression:
            check(any("Deflate" in e for e in exts), f"permessage-deflate offered but not accepted (extensions {exts})")
        else:
            check(not exts, f"no extension offered but the server negotiated {exts}")
        if a.subprotocol:
            check(ws.subprotocol == a.subprotocol,
                  f"offered subprotocol {a.subprotocol!r}, server selected {ws.subprotocol!r}")
        else:
            check(ws.subprotocol is None, f"no subprotocol offered but server selected {ws.subprotocol!r}")

    await run_step("handshake (extensions/subprotocol)", handshake())

    async def compressed_on_wire():
        msg = "".join(f"line {i % 100}: the quick brown fox\n" for i in range(40000))[: 1 << 20]
        before = ws.wire_in
        await echo(ws, msg, "compressible text")
        wire = ws.wire_in - before
        check(wire < len(msg) // 10, f"echo of {len(msg)} compressible bytes took {wire} bytes on the wire")
        print(f"     compressible 1 MiB echo: {wire} bytes on the wire", flush=True)

    if a.compression:
        await run_step("compressed on the wire", compressed_on_wire())
    await run_step("text multi-byte UTF-8",
                   echo(ws, "héllo wörld — Ωμέγα — 日本語テキスト — 🎉🚀 — \u0000 end", "utf8 text"))
    await run_step("binary all byte values", echo(ws, bytes(range(256)) * 4, "binary"))
    await run_step("empty text", echo(ws, "", "empty text"))
    await run_step("empty binary", echo(ws, b"", "empty binary"))

    async def fragmented():
        parts = ["frag-1 ", "ünïcode ", "", "🎉 split", " end"]
        await ws.send(iter(parts))
        got = await ws.recv()
        check(got == "".join(parts), f"fragmented text: echo {got!r} != {''.join(parts)!r}")
        bparts = [bytes([i]) * 1000 for i in range(10)]
        await ws.send(iter(bparts))
        got = await ws.recv()
        check(got == b"".join(bparts), "fragmented binary: echo differs")

    await run_step("fragmented text + binary", fragmented())

    async def pipelined():
        msgs = [f"msg {i} " + "x" * rng.randrange(0, 2000) if i % 2 else rng.randbytes(rng.randrange(0, 2000))
                for i in range(100)]
        for m in msgs:
            await ws.send(m)
        for i, m in enumerate(msgs):
            got = await ws.recv()
            check(got == m, f"pipelined message {i}: echo differs or out of order")

    await run_step("100 pipelined messages in order", pipelined())
    big = a.big_mib * 1024 * 1024
    await run_step(f"{a.big_mib} MiB binary", echo(ws, rng.randbytes(big), "big binary"))
    await run_step(f"{a.big_mib} MiB multi-byte text",
                   echo(ws, ("aé日🎉" * (big // 10 + 1))[: big // 3], "big text"))

    async def ping():
        for payload in (b"", b"ping-payload-\xff\x00", b"x" * 125):
            waiter = await ws.ping(payload)
            latency = await asyncio.wait_for(waiter, 10)
            check(latency >= 0, "pong not received")
        await echo(ws, "after ping", "text after ping")

    await run_step("ping/pong with payload", ping())

    async def close():
        reason = "bye from py_client — ✓"
        await ws.close(4000, reason)
        rcvd = ws.protocol.close_rcvd
        check(rcvd is not None, "no close frame received from the server")
        check(rcvd.code == 4000, f"close echo code {rcvd.code}, expected 4000")
        check(rcvd.reason == reason, f"close echo reason {rcvd.reason!r}, expected {reason!r}")
        try:
            await ws.recv()
            raise AssertionError("connection still open after close")
        except ConnectionClosed:
            pass

    await run_step("close 4000 + reason echoed", close())

    passed = sum(ok for _, ok in results)
    failed = len(results) - passed
    print(f"py_client: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
