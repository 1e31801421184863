#!/usr/bin/env python3
"""Stand-in for wspc's `client URL [--deflate] [--subprotocol P]` (Python websockets),
used only to validate the harness: reads lines from stdin and sends each as a text message; prints each
received message on its own line. On stdin EOF it sends close 1000, keeps printing
until the server's close arrives, and exits 0.
"""
import asyncio
import sys

from websockets.asyncio.client import connect


async def main() -> int:
    args = sys.argv[1:]
    protos = None
    for flag in ("--subprotocol", "--protocol"):  # offer subprotocol NAME
        if flag in args:
            i = args.index(flag)
            protos = [args[i + 1]]
            del args[i:i + 2]
    deflate = "--deflate" in args  # offer permessage-deflate
    args = [a for a in args if a != "--deflate"]
    async with connect(args[0], compression="deflate" if deflate else None, max_size=64 * 1024 * 1024,
                       subprotocols=protos, ping_interval=None) as ws:
        async def reader():
            async for msg in ws:
                if isinstance(msg, bytes):
                    msg = msg.decode("utf-8", "replace")
                sys.stdout.write(msg + "\n")
                sys.stdout.flush()

        task = asyncio.create_task(reader())
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
            if not line:
                break
            await ws.send(line.rstrip(b"\n").decode("utf-8"))
        await ws.close(1000)
        await task
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
