"""The Web UI: a static single-page application (static/) over Temporal's HTTP API.

Served on `--ui-port` by the same aiohttp stack as the HTTP API, which it also answers
under /api/ so that the page calls it on its own origin. Every page path (the paths of
Temporal's UI, e.g. /namespaces/{ns}/workflows/{workflow_id}/{run_id}/history) returns
index.html; the script reads the path and renders the page. No build step and no
third-party files: plain HTML, CSS and JavaScript modules shipped as package data.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from perdure.server.frontend.http_api import MAX_BODY_BYTES, HttpApi

STATIC = Path(str(resources.files(__package__) / "static"))

_HEADERS = {
    # Nothing is loaded from elsewhere; inline scripts and frames are refused.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers=_HEADERS)


async def _root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/namespaces/default/workflows")


def ui_app(api: HttpApi, *, max_body: int = MAX_BODY_BYTES) -> web.Application:
    """The UI's application: static files, page paths, and the HTTP API under /api/."""
    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", "/api/{tail:.*}", api.handle)
    app.router.add_get("/", _root)
    app.router.add_static("/static/", STATIC, append_version=False)
    app.router.add_get("/namespaces", _index)
    app.router.add_get("/namespaces/{tail:.*}", _index)
    return app
