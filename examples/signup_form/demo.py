"""Serves the sign-up form API with a worker for its sessions (``--demo``: fill one in and exit)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from examples.common import argument_parser, connected
from examples.signup_form.web import FormServer
from examples.signup_form.workflows import Accounts, SignupForm
from perdure.client import Client
from perdure.worker import Worker

TASK_QUEUE = "signup-forms"


def worker(client: Client, accounts: Accounts, task_queue: str = TASK_QUEUE) -> Worker:
    return Worker(
        client, task_queue=task_queue, workflows=[SignupForm], activities=[accounts.create_account]
    )


def call(
    base: str, method: str, path: str, fields: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One HTTP request to the form API (blocking: run it in a thread)."""
    data = json.dumps(fields).encode() if fields is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


async def fill_in(base: str) -> None:
    """What a browser would do: start a session, answer the steps (one wrongly), confirm."""

    async def send(method: str, path: str, fields: dict[str, str] | None = None) -> Any:
        status, document = await asyncio.to_thread(call, base, method, path, fields)
        shown = f" {json.dumps(fields)}" if fields else ""
        print(f"{method} {path}{shown} -> {status} {document}")
        return document

    session = (await send("POST", "/forms"))["session"]
    await send("POST", f"/forms/{session}/contact", {"name": "Ada", "email": "ada.example.org"})
    await send("POST", f"/forms/{session}/contact", {"name": "Ada", "email": "ada@example.org"})
    await send("POST", f"/forms/{session}/confirm")
    await send("POST", f"/forms/{session}/address", {"city": "London", "country": "UK"})
    await send("POST", f"/forms/{session}/plan", {"plan": "pro"})
    await send("POST", f"/forms/{session}/confirm")


async def amain(argv: Sequence[str] | None = None) -> None:
    parser = argument_parser("Serve a multi-step sign-up form backed by workflows.")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (0: any free one)")
    parser.add_argument("--demo", action="store_true", help="fill in one form, then exit")
    args = parser.parse_args(argv)
    async with connected(args.target) as client, worker(client, Accounts()):
        server = await FormServer(client, TASK_QUEUE).start(port=0 if args.demo else args.port)
        host, port = server.sockets[0].getsockname()[:2]
        async with server:
            if args.demo:
                await fill_in(f"http://{host}:{port}")
            else:
                print(f"Serving the form API on http://{host}:{port}/forms (Ctrl-C stops)")
                await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    try:
        asyncio.run(amain(argv))
    except KeyboardInterrupt:
        pass
