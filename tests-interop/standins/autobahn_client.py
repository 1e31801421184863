#!/usr/bin/env python3
"""Stand-in for wspc's `autobahn_client BASE_URL [--deflate]`, built on Python
`websockets`: used only to validate autobahn/run.sh client before wspc exists.

Protocol: GET BASE_URL/getCaseCount (one text message: N), then for case in 1..=N
connect to BASE_URL/runCase?case=K&agent=AGENT and echo every message until the
server closes, then connect to BASE_URL/updateReports?agent=AGENT.
"""
import os

os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", "1000000")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import sys  # noqa: E402

from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidHandshake  # noqa: E402


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base_url")
    ap.add_argument("--deflate", action="store_true")
    ap.add_argument("--agent", default="standin")
    a = ap.parse_args()
    base = a.base_url.rstrip("/")
    kw = dict(compression="deflate" if a.deflate else None, max_size=64 * 1024 * 1024,
              ping_interval=None, open_timeout=30, close_timeout=5)

    async with connect(f"{base}/getCaseCount", **kw) as ws:
        count = int(await ws.recv())
    print(f"{count} cases", file=sys.stderr)
    for case in range(1, count + 1):
        try:
            async with connect(f"{base}/runCase?case={case}&agent={a.agent}", **kw) as ws:
                async for msg in ws:
                    await ws.send(msg)
        except (ConnectionClosed, InvalidHandshake, OSError) as e:
            print(f"case {case}: {type(e).__name__}: {e}", file=sys.stderr)
    async with connect(f"{base}/updateReports?agent={a.agent}", **kw) as ws:
        try:
            await ws.recv()
        except ConnectionClosed:
            pass
    print("done", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
