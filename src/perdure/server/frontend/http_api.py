"""Temporal's HTTP/JSON API: an aiohttp adapter over the same Dispatcher as gRPC.

Each request is matched to an RPC by the routes of Temporal's protos (http_rules.py),
read into the RPC's request message (JSON body, path variables, query parameters:
json_mapping.py) and served by `Dispatcher.call`, so validation, errors and call
interceptors are gRPC's. Errors come back as Temporal's gateway writes them: the HTTP
status of the gRPC code and a body {"code", "message", "details"}.

aiohttp serves it because it runs in the server's own asyncio loop (no thread, no second
framework), has a small dependency tree and is well kept; the Web UI (server/ui/) is
served by the same stack.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import ssl
from collections.abc import Mapping
from typing import Any, cast

import grpc
from aiohttp import web
from google.protobuf import any_pb2, json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from perdure.server.frontend.deadline import deadline_after
from perdure.server.frontend.dispatch import Call, Dispatcher
from perdure.server.frontend.http_rules import Match, Router, temporal_rules
from perdure.server.frontend.json_mapping import (
    JsonMappingError,
    message_from_json,
    message_to_json,
    parse_json,
)
from perdure.server.frontend.rpc import as_service_error, error_detail, status_code

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body read (Temporal's payload limit is 2 MB; a request holds several)."""
KEEPALIVE_SECONDS = 15.0
"""Idle keep-alive connections are closed after this long."""

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
"""gRPC code -> HTTP status, as grpc-gateway (Temporal's HTTP server) maps them."""

_OPTIONS = frozenset({"pretty", "noPayloadShorthand"})
"""Query parameters that shape the answer rather than fill the request."""


class BadRequest(Exception):
    """A request that cannot be read into its RPC's message (HTTP 400, INVALID_ARGUMENT)."""


def _json_response(body: Any, status: int = 200, *, pretty: bool = False) -> web.Response:
    text = json.dumps(body, indent=2 if pretty else None, separators=None if pretty else (",", ":"))
    return web.Response(text=text, status=status, content_type="application/json")


def error_response(
    code: grpc.StatusCode, message: str, details: list[Any] | None = None, *, pretty: bool = False
) -> web.Response:
    body: dict[str, Any] = {"code": code.value[0], "message": message}
    if details:
        body["details"] = details
    return _json_response(body, HTTP_STATUS.get(code, 500), pretty=pretty)


def _flag(query: Mapping[str, str], name: str) -> bool:
    return name in query and query[name].lower() not in ("false", "0")


class HttpApi:
    """Serves Temporal's HTTP API by calling `dispatcher`."""

    def __init__(self, dispatcher: Dispatcher, router: Router | None = None) -> None:
        self._dispatcher = dispatcher
        self._router = router or Router(temporal_rules())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        pretty = _flag(request.query, "pretty")
        shorthand = not _flag(request.query, "noPayloadShorthand")
        found = self._router.match(request.method, request.raw_path.split("?", 1)[0])
        if found is None:
            return error_response(grpc.StatusCode.NOT_FOUND, "Not Found", pretty=pretty)
        if found == "method":
            return error_response(
                grpc.StatusCode.UNIMPLEMENTED, "Method Not Allowed", pretty=pretty
            )
        assert isinstance(found, Match)
        rule = found.rule
        if self._dispatcher.handler(rule.method) is None:
            return error_response(
                grpc.StatusCode.UNIMPLEMENTED,
                f"unknown method {rule.method} for service {rule.service}",
                pretty=pretty,
            )
        try:
            message = await _read_request(request, found)
        except BadRequest as err:
            return error_response(grpc.StatusCode.INVALID_ARGUMENT, str(err), pretty=pretty)
        except web.HTTPRequestEntityTooLarge:
            return error_response(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"request body larger than {MAX_BODY_BYTES} bytes",
                pretty=pretty,
            )
        headers = {k.lower(): v for k, v in request.headers.items()}
        call = Call(rule.service, rule.method, headers, request.remote or "")
        try:
            response = await self._dispatcher.call(call, message, deadline_after(None))
        except Exception as err:
            error = as_service_error(err)
            return error_response(status_code(error), error.message, _details(error), pretty=pretty)
        return _json_response(message_to_json(response, shorthand=shorthand), pretty=pretty)


def _details(error: Any) -> list[Any]:
    detail = error_detail(error)
    if detail is None:
        return []
    packed = any_pb2.Any()
    packed.Pack(detail)
    return [json_format.MessageToDict(packed)]


async def _read_request(request: web.Request, found: Match) -> Message:
    rule = found.rule
    message = message_factory.GetMessageClass(rule.descriptor.input_type)()
    if rule.body == "*":
        body = await request.read()
        if body.strip():
            try:
                value = parse_json(body)
            except (ValueError, UnicodeDecodeError) as err:
                raise BadRequest(f"invalid JSON body: {err}") from None
            except RecursionError:
                raise BadRequest("invalid JSON body: nested too deeply") from None
            try:
                message_from_json(value, message)
            except RecursionError:
                raise BadRequest("request body nested too deeply") from None
            except JsonMappingError as err:
                raise BadRequest(str(err).split("\n", 1)[0]) from None
    else:
        for key, value in request.query.items():
            if key not in _OPTIONS:
                _set_path(message, key.split("."), value, strict=False)
    for path, value in found.variables.items():
        _set_path(message, list(path), value, strict=True)
    return message


def _set_path(message: Message, path: list[str], text: str, *, strict: bool) -> None:
    """Set the field `path` names (proto or JSON names) to `text`, converted to its type.

    Unknown names are ignored, as Temporal's gateway ignores unknown query parameters.
    """
    target = message
    for i, name in enumerate(path):
        field = _field(target, name)
        if field is None:
            if strict:
                raise BadRequest(f"no field {'.'.join(path)!r} in {message.DESCRIPTOR.name}")
            return
        if i < len(path) - 1:
            if field.message_type is None or field.is_repeated:
                return
            target = getattr(target, field.name)
            continue
        value = _convert(field, text)
        if field.is_repeated:
            getattr(target, field.name).append(value)
        elif isinstance(value, Message):
            getattr(target, field.name).CopyFrom(value)
        else:
            setattr(target, field.name, value)


def _field(message: Message, name: str) -> FieldDescriptor | None:
    d = message.DESCRIPTOR
    found = d.fields_by_name.get(name)
    if found is not None:
        return cast(FieldDescriptor, found)
    for field in d.fields:
        if field.json_name == name:
            return cast(FieldDescriptor, field)
    return None


_INTS = frozenset(
    {
        FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64,
    }
)  # fmt: skip


def _convert(field: FieldDescriptor, text: str) -> Any:
    """A query parameter or path segment as the value of `field`."""
    try:
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return text
        if kind in _INTS:
            return int(text)
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return float(text)
        if kind == FieldDescriptor.TYPE_BOOL:
            if text.lower() in ("true", "1", ""):
                return True
            if text.lower() in ("false", "0"):
                return False
            raise ValueError(text)
        if kind == FieldDescriptor.TYPE_BYTES:
            padded = text + "=" * (-len(text) % 4)
            try:
                return base64.b64decode(padded, validate=True)
            except binascii.Error:
                return base64.urlsafe_b64decode(padded)
        if kind == FieldDescriptor.TYPE_ENUM:
            enum = field.enum_type
            assert enum is not None
            by_name = enum.values_by_name.get(text)
            if by_name is not None:
                return by_name.number
            return enum.values_by_number[int(text)].number
        if kind == FieldDescriptor.TYPE_MESSAGE:
            assert field.message_type is not None
            value = message_factory.GetMessageClass(field.message_type)()
            json_format.Parse(json.dumps(text), value)
            return value
    except (ValueError, KeyError, binascii.Error, json_format.ParseError):
        pass
    raise BadRequest(f'parsing field "{field.name}": invalid value {text!r}')


def api_app(api: HttpApi, *, max_body: int = MAX_BODY_BYTES) -> web.Application:
    """An application answering every path with the HTTP API (the `--http-port` server)."""
    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", "/{tail:.*}", api.handle)
    return app


class Site:
    """One aiohttp application listening on a port, within the running event loop."""

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self._runner = runner
        self.port = port

    @classmethod
    async def start(
        cls,
        app: web.Application,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Site:
        """Listen on host:port (0: a free port); HTTPS with `ssl_context`."""
        runner = web.AppRunner(
            app, access_log=None, keepalive_timeout=KEEPALIVE_SECONDS, shutdown_timeout=2.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound = port
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                bound = int(address[1])
                break
        return cls(runner, bound)

    async def stop(self) -> None:
        await self._runner.cleanup()
