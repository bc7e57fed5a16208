"""A TCP proxy between workers/clients and a server that can cut every connection at once.

The soak's `proxy-reset` scenario aborts all proxied connections every few seconds (the
peer sees a reset mid-stream: a dropped network path, a load balancer failing over), so
long polls, task completions and heartbeats are lost in flight while the server lives.
"""

from __future__ import annotations

import asyncio
import contextlib


class Proxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}
        task = asyncio.current_task()
        if task is not None:
            self.tasks.add(task)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass  # stopped: returning normally keeps asyncio's stream callback quiet
        finally:
            if task is not None:
                self.tasks.discard(task)
            for w in (writer, up_writer):
                self.writers.discard(w)
                w.transport.abort()

    def reset_all(self) -> int:
        """Abort every open connection; how many there were."""
        n = len(self.writers)
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()
        return n

    async def stop(self) -> None:
        self.reset_all()
        tasks = list(self.tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.transport.abort()
