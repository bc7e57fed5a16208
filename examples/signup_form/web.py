"""The form's web API: a few JSON routes, each one workflow call.

    POST /forms                  start a session       -> 201 {"session": id, "form": view}
    GET  /forms/<id>             the form (a query)    -> 200 view
    POST /forms/<id>/<step>      answer a step (update) -> 200 view | 422 {"error": ...}
    POST /forms/<id>/confirm     create the account    -> 200 view | 422 {"error": ...}

A deliberately small HTTP/1.1 server on asyncio streams (one request per connection),
so the example needs nothing beyond Perdure.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict
from typing import Any

from examples.signup_form.workflows import FormView, SignupForm, StepAnswer
from perdure.client import Client, RPCError, RPCStatusCode, WorkflowUpdateFailedError
from perdure.exceptions import ApplicationError

REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 422: "Unprocessable"}


class FormServer:
    """Serves the form API for sessions whose workflows run on ``task_queue``."""

    def __init__(self, client: Client, task_queue: str, idle_minutes: float = 30) -> None:
        self._client = client
        self._task_queue = task_queue
        self._idle_minutes = idle_minutes

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        """Listen (port 0: any free port); close the returned server to stop."""
        return await asyncio.start_server(self._serve, host, port)

    async def route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """The status and JSON document answering one request."""
        parts = [part for part in path.split("/") if part]
        if parts[:1] != ["forms"] or len(parts) > 3:
            return 404, {"error": f"no route {path}"}
        if method == "POST" and len(parts) == 1:
            session = f"form-{uuid.uuid4().hex[:12]}"
            await self._client.start_workflow(
                SignupForm.run, self._idle_minutes, id=session, task_queue=self._task_queue
            )
            return 201, {"session": session, "form": asdict(FormView("open", "contact"))}
        if len(parts) == 1:
            return 404, {"error": f"no route {method} {path}"}
        handle = self._client.get_workflow_handle_for(SignupForm.run, parts[1])
        try:
            if method == "GET" and len(parts) == 2:
                return 200, asdict(await handle.query(SignupForm.view))
            if method == "POST" and parts[2:] == ["confirm"]:
                return 200, asdict(await handle.execute_update(SignupForm.confirm))
            if method == "POST" and len(parts) == 3:
                fields = json.loads(body or b"{}")
                if not isinstance(fields, dict):
                    return 400, {"error": "send the step's fields as a JSON object"}
                answer = StepAnswer(parts[2], {str(k): str(v) for k, v in fields.items()})
                return 200, asdict(await handle.execute_update(SignupForm.submit, answer))
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            return 422, {
                "error": cause.message if isinstance(cause, ApplicationError) else str(err)
            }
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return 404, {"error": f"no session {parts[1]}"}
            raise
        except json.JSONDecodeError:
            return 400, {"error": "the body is not JSON"}
        return 404, {"error": f"no route {method} {path}"}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").split()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            if len(request_line) < 2:
                status, document = 400, {"error": "malformed request"}
            else:
                status, document = await self.route(request_line[0], request_line[1], body)
            payload = json.dumps(document).encode()
            writer.write(
                f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
                + payload
            )
            await writer.drain()
        finally:
            writer.close()
