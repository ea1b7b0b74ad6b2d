"""The clock -> iopin -> buzzer circuit's servers in the style of the original Python asyncio
sketches (seed 004: a FactoryLoop with setup/loop/out, a `reactive` wrapper that receives a
message, awaits the loop and sends one acknowledgement), with the `websockets` library.

    /usr/bin/python3 chain.py iopin  [--port P] [--to ws://HOST:PORT/] [--sequence 3] [--chance 0.5]
    /usr/bin/python3 chain.py buzzer [--port P] [--pin 18]

iopin: on every tick draws `sequence` bits (each 0 with probability `chance`); with `--to` it
sends each bit to that peer over one connection (opened on the first tick, by address: no
discovery) and awaits its acknowledgement before the next, then acknowledges the tick with
{"bits": [...], "acks": [...]}, as sketchnet's iopin does; without `--to` with the bits.
buzzer: `1` -> "bzzz", `0` -> "...", a virtual pin whose changes are printed, as sketchnet's
buzzer with `--gpio virtual` does.

Prints `[ Name ] serving on HOST:PORT` and {"ready": {"port": N}} once serving (0 or no port:
a free one); exits when stdin closes or on SIGTERM.
"""
import argparse
import asyncio
import json
import os
import random
import signal
import sys
import threading

import websockets


class FactoryLoop:
    """Glue components to manage the evented-loop model (setup once, loop per message)."""

    def __init__(self, **kwargs):
        self.setup(**kwargs)

    def out(self, text):
        print("[ {} ] {}".format(type(self).__name__, text))

    def setup(self, **kwargs):
        pass

    async def loop(self, channel, data):
        raise NotImplementedError

    async def on_connection(self, websocket, path=None):
        """Dispatch events: one acknowledgement per message, 'n/a' when the loop returns nothing."""
        if path is None:  # websockets >= 10.1 may pass only the connection
            path = websocket.path
        self.out("** new client connected, path={}".format(path))
        try:
            while True:
                message = await websocket.recv()
                acknowledgement = await self.loop(path, message)
                await websocket.send(acknowledgement or "n/a")
        except websockets.exceptions.ConnectionClosed as e:
            self.out("done processing messages: {}".format(e))

    async def run(self, host, port):
        stop = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
        async with websockets.serve(self.on_connection, host, port) as server:
            bound = next(iter(server.sockets)).getsockname()[1]
            self.out("serving on {}:{}".format(host, bound))
            print(json.dumps({"ready": {"port": bound}}), flush=True)
            await stop


class IOPin(FactoryLoop):
    """Draw random bits on every tick and stream each to a peer, awaiting each acknowledgement."""

    def setup(self, chance=0.5, sequence=3, to=None):
        self.chance = chance
        self.sequence = sequence
        self.to = to
        self.peer = None

    def state(self):
        return 0 if random.random() < self.chance else 1

    async def stream(self, message):
        if self.peer is None:
            self.peer = await websockets.connect(self.to)
        await self.peer.send(message)
        return await self.peer.recv()

    async def loop(self, channel, msg):
        self.out("new tick triggered on {}: {}".format(channel, msg))
        bits = [self.state() for _ in range(self.sequence)]
        self.out("toggling pin state: {}".format(" ".join(map(str, bits))))
        if not self.to:
            return json.dumps(bits)
        acks = []
        for bit in bits:
            acks.append(await self.stream(str(bit)))
        return json.dumps({"bits": bits, "acks": acks})


class Buzzer(FactoryLoop):
    """Sound a (virtual) buzzer: 1 = on ("bzzz"), 0 = off ("...")."""

    def setup(self, pin=18):
        self.pin = pin
        self.level = 0
        self.out("pin {} -> 0".format(pin))

    def write(self, level):
        if level != self.level:
            self.level = level
            self.out("pin {} -> {}".format(self.pin, level))

    async def loop(self, channel, msg):
        bit = msg.strip()
        if bit == "1":
            self.write(1)
            return "bzzz"
        if bit == "0":
            self.write(0)
            return "..."
        return "error: the buzzer takes 1 or 0"


def exit_when_stdin_closes():
    for _ in sys.stdin:
        pass
    os._exit(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("sketch", choices=["iopin", "buzzer"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--to", default=None)
    parser.add_argument("--sequence", type=int, default=3)
    parser.add_argument("--chance", type=float, default=0.5)
    parser.add_argument("--pin", type=int, default=18)
    flags = parser.parse_args()
    if flags.sketch == "iopin":
        sketch = IOPin(chance=flags.chance, sequence=flags.sequence, to=flags.to)
    else:
        sketch = Buzzer(pin=flags.pin)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    asyncio.run(sketch.run(flags.host, flags.port))


if __name__ == "__main__":
    main()
