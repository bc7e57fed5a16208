"""The UI's application and the HTTP port, served by an in-process server: page paths,
package data, security headers, the API under /api/, size limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from perdure.server.app import PerdureServer, ServerConfig
from perdure.server.frontend.http_api import MAX_BODY_BYTES
from perdure.server.ui import STATIC


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[PerdureServer]:
    config = ServerConfig(db=":memory:", serve_grpc=False, http_port=0, ui_port=0)
    started = await PerdureServer.start(config)
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture(scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def test_package_data_holds_the_app() -> None:
    names = {p.name for p in STATIC.iterdir()}
    assert {"index.html", "app.js", "api.js", "dom.js", "style.css"} <= names


async def test_pages_and_static_files(
    server: PerdureServer, session: aiohttp.ClientSession
) -> None:
    ui = f"http://127.0.0.1:{server.ui_port}"
    async with session.get(ui + "/", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == "/namespaces/default/workflows"
    deep = "/namespaces/default/workflows/a%2Fb/0123/history"
    async with session.get(ui + deep) as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        assert '<script type="module" src="/static/app.js">' in await r.text()
    async with session.get(ui + "/static/app.js") as r:
        assert r.status == 200 and "javascript" in r.content_type
    async with session.get(ui + "/static/../__init__.py") as r:
        assert r.status in (403, 404)
    async with session.get(ui + "/api/v1/namespaces") as r:
        assert r.status == 200
        names = [n["namespaceInfo"]["name"] for n in (await r.json())["namespaces"]]
        assert "default" in names


async def test_http_port_limits_and_errors(
    server: PerdureServer, session: aiohttp.ClientSession
) -> None:
    api = f"http://127.0.0.1:{server.http_port}/api/v1/namespaces/default/workflows/w"
    async with session.post(api, data=b"x" * (MAX_BODY_BYTES + 1)) as r:
        assert r.status == 429
        assert (await r.json())["code"] == 8
    for body in (
        b"[1]",
        b"\xff\xfe{",
        b"[" * 100_000,
        b'{"input": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ):
        async with session.post(api, data=body) as r:
            assert r.status == 400 and (await r.json())["code"] == 3, body[:20]
    async with session.get(api + "?pretty") as r:
        text = await r.text()
        assert r.status == 404 and text.startswith('{\n  "code": 5')


async def test_embedded_engine_serves_the_ui(session: aiohttp.ClientSession) -> None:
    from perdure.client import Client
    from perdure.service._embedded import EmbeddedServiceClient

    client = await Client.connect("embedded://:memory:?serve_ui=0&instance=ui-test")
    service = client.service_client
    assert isinstance(service, EmbeddedServiceClient)
    try:
        assert service.ui_url is not None
        async with session.get(service.ui_url + "/namespaces/default/workflows") as r:
            assert r.status == 200 and r.content_type == "text/html"
        async with session.get(service.ui_url + "/api/v1/namespaces/default") as r:
            assert (await r.json())["namespaceInfo"]["name"] == "default"
    finally:
        await service.close()
