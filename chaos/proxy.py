"""A TCP proxy between workers/clients and a server that can reset, delay or drop traffic.

The soak puts one in front of each server for the proxy scenarios:

- `reset_all` aborts every proxied connection at once (the peer sees a reset mid-stream: a
  dropped network path, a load balancer failing over), so long polls, task completions
  and heartbeats are lost in flight while the server lives;
- `delay` adds latency to every chunk each way (order kept), as on a congested link;
- `drop` stops all traffic for a while, in both directions and on new connections, then
  delivers what was held, as TCP does after a partition heals: a request can reach the
  server after its caller gave up on it and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import time


class Proxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.latency = 0.0
        """Seconds added to each chunk forwarded (0: none)."""
        self.flowing = asyncio.Event()
        """Cleared while traffic is dropped."""
        self.flowing.set()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        self.writers.add(writer)
        try:
            await self.flowing.wait()
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                return
            self.writers.add(up_writer)
            try:
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            finally:
                self.writers.discard(up_writer)
                up_writer.transport.abort()
        except asyncio.CancelledError:
            pass  # stopped: returning normally keeps asyncio's stream callback quiet
        finally:
            if task is not None:
                self.tasks.discard(task)
            self.writers.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward chunks in order, each no earlier than its arrival plus the latency then
        set, and none while traffic is dropped."""
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await chunks.get()
                if not data:
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(send())
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                chunks.put_nowait((time.monotonic() + self.latency, data))
            chunks.put_nowait((0.0, b""))
            await sender
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await sender
            writer.transport.abort()

    def reset_all(self) -> int:
        """Abort every open connection; how many there were."""
        n = len(self.writers)
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()
        return n

    async def delay(self, latency: float, seconds: float) -> None:
        """Add `latency` to every chunk for `seconds`."""
        self.latency = latency
        try:
            await asyncio.sleep(seconds)
        finally:
            self.latency = 0.0

    async def drop(self, seconds: float) -> None:
        """Forward nothing, and connect nothing new, for `seconds`."""
        self.flowing.clear()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.flowing.set()

    async def stop(self) -> None:
        self.flowing.set()
        self.reset_all()
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()
