#!/usr/bin/env python3
"""Python `websockets` echo server: a real peer for wspc's *client* role.

Usage: py_server.py [HOST:]PORT [--subprotocol chat] [--no-compression]

Echoes every text/binary message unchanged (messages up to 64 MiB, unlimited
fragments), answers close. With --subprotocol NAME the handshake is refused
(HTTP 400) unless the client offers NAME, and NAME is selected. Permessage-deflate
is offered/accepted unless --no-compression. Prints "listening on ws://HOST:PORT"
on stderr once bound, then "connection: extensions=... subprotocol=..." for each
connection (PerMessageDeflate when negotiated). Also serves as a stand-in for wspc's echo_server when
validating the harness itself.
"""
import os

# Must be set before websockets is imported (Autobahn 9.3.1/9.4.1 send 65,536 fragments).
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", "1000000")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from websockets.asyncio.server import serve  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402


def parse_addr(s: str) -> tuple[str, int]:
    if ":" in s:
        host, port = s.rsplit(":", 1)
        return host.strip("[]") or "127.0.0.1", int(port)
    return "127.0.0.1", int(s)


async def echo(ws) -> None:
    exts = ", ".join(type(e).__name__ for e in ws.protocol.extensions) or "none"
    print(f"connection: extensions={exts} subprotocol={ws.subprotocol or 'none'}", file=sys.stderr, flush=True)
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("addr", help="PORT or HOST:PORT (loopback only)")
    ap.add_argument("--subprotocol", default=None, help="require and select this subprotocol")
    ap.add_argument("--no-compression", action="store_true", help="disable permessage-deflate")
    args = ap.parse_args()
    host, port = parse_addr(args.addr)

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    async with serve(
        echo,
        host,
        port,
        subprotocols=[args.subprotocol] if args.subprotocol else None,
        compression=None if args.no_compression else "deflate",
        max_size=64 * 1024 * 1024,
        max_queue=64,
        ping_interval=None,
        server_header="py-websockets-echo",
    ) as server:
        bound = server.sockets[0].getsockname()
        print(f"listening on ws://{bound[0]}:{bound[1]}", file=sys.stderr, flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
