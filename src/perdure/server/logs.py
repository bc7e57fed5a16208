"""Structured server logs: one JSON object per line, with the request's context.

``--log-format json`` formats every record as ``{"ts", "level", "logger", "msg", ...}``;
the fields a log shipper filters on (``namespace``, ``workflow_id``, ``run_id``,
``request_id``, ``operation``) come from the request being served: ``RequestLogContext``
(a ``CallInterceptor`` of frontend/dispatch.py) puts them in a context variable for the
duration of the call, and a logging filter copies them onto each record made meanwhile.
It also writes the access log: one debug record per request, with its outcome and
duration. Durable timers fire with their run's ids in the context (``execution_context``).
Fields passed with ``extra=`` appear too.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from perdure.server.frontend.deadline import Deadline
from perdure.server.frontend.dispatch import Call, Next

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "perdure_log_context", default=None
)
access_log = logging.getLogger("perdure.server.access")

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def request_fields(call: Call, request: Message) -> dict[str, str]:
    """What the request says about the execution it is about (empty values left out)."""
    fields = {"operation": call.method}
    req: Any = request
    namespace = getattr(req, "namespace", "")
    if namespace:
        fields["namespace"] = namespace
    execution = getattr(req, "workflow_execution", None) or getattr(req, "execution", None)
    workflow_id = getattr(req, "workflow_id", "") or getattr(execution, "workflow_id", "")
    run_id = getattr(execution, "run_id", "")
    if workflow_id:
        fields["workflow_id"] = workflow_id
    if run_id:
        fields["run_id"] = run_id
    request_id = getattr(req, "request_id", "")
    if request_id:
        fields["request_id"] = request_id
    return fields


class RequestLogContext:
    """``CallInterceptor``: the request's fields on every record made while serving it."""

    async def intercept(
        self, call: Call, request: Message, deadline: Deadline, proceed: Next
    ) -> Message:
        """Serve the call with its fields in the log context; log it at debug level."""
        fields = request_fields(call, request)
        token = _context.set(fields)
        start = time.perf_counter()
        outcome = "ok"
        try:
            return await proceed(request, deadline)
        except BaseException as err:
            outcome = type(err).__name__
            raise
        finally:
            if access_log.isEnabledFor(logging.DEBUG):
                access_log.debug(
                    "%s %s in %.1f ms",
                    call.method,
                    outcome,
                    (time.perf_counter() - start) * 1000,
                    extra={"peer": call.peer, "outcome": outcome},
                )
            _context.reset(token)


@contextlib.contextmanager
def execution_context(**fields: str) -> Iterator[None]:
    """Records made inside carry these fields (work that no request started: timers)."""
    token = _context.set({k: v for k, v in fields.items() if v})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current request's fields onto each record (unless the record has them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get()
        if fields:
            for key, value in fields.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def configure_json_logging(level: str) -> None:
    """Send every record to stderr as JSON lines, with the request context."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel({"warn": "WARNING"}.get(level, level.upper()))
