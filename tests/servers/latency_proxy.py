"""A TCP proxy on 127.0.0.1 that adds latency and counts HTTP requests (object-store tests).

Every chunk a client sends is forwarded ``latency`` seconds after it arrived (order kept,
streams not serialised), so each request's first response byte comes at least
``latency`` later than without the proxy: a model of an object store's first-byte
latency.  Responses flow back unchanged.  Chunks that start with an HTTP method are
counted as requests; the proxy runs in its own process (its CPU is not the client's),
and the counts live in shared memory.

    with latency_proxy(("127.0.0.1", 8333), latency=0.02) as proxy:
        endpoint = proxy.url          # point the S3 client here
        proxy.requests                # requests forwarded so far
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

METHODS = (b"GET ", b"HEAD ", b"PUT ", b"POST ", b"DELETE ")


async def _pump(reader, writer, delay: float, count=None) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` s after it arrived."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Queue = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await pending.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(1 << 16):
            if count is not None and data.startswith(METHODS):
                with count.get_lock():
                    count.value += 1
            pending.put_nowait((loop.time() + delay, data))
    except (ConnectionError, OSError):
        pass
    finally:
        pending.put_nowait((0.0, None))
        try:
            await sender
        except (ConnectionError, OSError):
            pass


def _serve(listen: socket.socket, target: tuple[str, int], latency: float, count) -> None:
    async def handle(reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pump(reader, up_writer, latency, count), _pump(up_reader, writer, 0.0)
        )

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=listen)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@dataclass
class Proxy:
    url: str
    latency: float
    _count: Any

    @property
    def requests(self) -> int:
        return int(self._count.value)


@contextmanager
def latency_proxy(target: tuple[str, int], latency: float):
    """A proxy to ``target`` on a free loopback port, in its own process, for the block."""
    ctx = mp.get_context("spawn")
    listen = socket.socket()
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen.bind(("127.0.0.1", 0))
    listen.listen(256)
    count = ctx.Value("q", 0)
    proc = ctx.Process(target=_serve, args=(listen, target, latency, count), daemon=True)
    proc.start()
    port = listen.getsockname()[1]
    listen.close()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or not proc.is_alive():
                    raise RuntimeError("latency proxy did not start") from None
                time.sleep(0.05)
        with count.get_lock():
            count.value = 0
        yield Proxy(f"http://127.0.0.1:{port}", latency, count)
    finally:
        proc.terminate()
        proc.join(5)
