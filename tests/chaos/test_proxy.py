"""The soak's TCP proxy: resets, latency and dropped traffic, against an echo server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from chaos.proxy import Proxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    p = Proxy("127.0.0.1", server.sockets[0].getsockname()[1])
    await p.start()
    yield p
    await p.stop()
    server.close()
    await server.wait_closed()


async def _connect(p: Proxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", p.port)


async def test_bytes_pass_through_in_order(proxy: Proxy) -> None:
    reader, writer = await _connect(proxy)
    for i in range(20):
        writer.write(f"{i};".encode())
    await writer.drain()
    want = "".join(f"{i};" for i in range(20)).encode()
    got = b""
    while len(got) < len(want):
        got += await asyncio.wait_for(reader.read(1024), 5)
    assert got == want
    writer.close()


async def test_reset_aborts_open_connections(proxy: Proxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"x")
    assert await asyncio.wait_for(reader.read(1), 5) == b"x"
    assert proxy.reset_all() == 2  # the client's side and the server's
    with pytest.raises(ConnectionError):
        data = await asyncio.wait_for(reader.read(1), 5)
        if not data:
            raise ConnectionResetError("closed")


async def test_delay_adds_latency_each_way_while_it_lasts(proxy: Proxy) -> None:
    reader, writer = await _connect(proxy)
    delaying = asyncio.create_task(proxy.delay(0.3, 0.8))
    await asyncio.sleep(0)
    began = time.monotonic()
    writer.write(b"slow")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"slow"
    assert time.monotonic() - began >= 0.55  # 0.3 s there and 0.3 s back
    await delaying
    began = time.monotonic()
    writer.write(b"fast")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"fast"
    assert time.monotonic() - began < 0.3
    writer.close()


async def test_drop_holds_traffic_and_new_connections_then_delivers(proxy: Proxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"a")
    assert await asyncio.wait_for(reader.readexactly(1), 5) == b"a"
    dropping = asyncio.create_task(proxy.drop(1.0))
    await asyncio.sleep(0)
    writer.write(b"held")
    late_reader, late_writer = await _connect(proxy)
    late_writer.write(b"late")
    held = asyncio.create_task(reader.readexactly(4))
    late = asyncio.create_task(late_reader.readexactly(4))
    await asyncio.sleep(0.5)
    assert not held.done() and not late.done()
    await dropping
    assert await asyncio.wait_for(held, 5) == b"held"
    assert await asyncio.wait_for(late, 5) == b"late"
    writer.close()
    late_writer.close()
