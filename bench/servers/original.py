"""The original Python asyncio sketch, reduced to what the bench needs.

Reproduces the original's reactive pattern with the `websockets` library: per connection,
    msg = await ws.recv(); ack = await handler(path, msg); await ws.send(ack or 'n/a')
where the handler (the sketch's loop) answers a short acknowledgement, like the bench sketch.

Usage: /usr/bin/python3 original.py [PORT]   (0 or none: a free port)
Prints {"ready": {"port": N}} once serving; exits when stdin closes or on SIGTERM.
"""
import asyncio
import json
import os
import signal
import sys
import threading

import websockets


async def handler(path, message):
    """The sketch's loop: acknowledges every tick."""
    return "ok"


async def serve_connection(ws, path):
    try:
        while True:
            msg = await ws.recv()
            ack = await handler(path, msg)
            await ws.send(ack or "n/a")
    except websockets.ConnectionClosed:
        pass


def exit_when_stdin_closes():
    for _ in sys.stdin:
        pass
    os._exit(0)


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(serve_connection, "127.0.0.1", port) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(json.dumps({"ready": {"port": bound}}), flush=True)
        await stop


if __name__ == "__main__":
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    asyncio.run(main())
