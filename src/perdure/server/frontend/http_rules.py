"""Temporal's HTTP/JSON routes, read off the `google.api.http` options of its service protos.

Temporal declares the HTTP mapping of each RPC in its protos (`GET
/api/v1/namespaces/{namespace}/workflows`, ...); the generated descriptors in `temporalio.api`
carry those options, so the route table is derived here rather than written out by hand:
an RPC Temporal adds gets its route with the next bindings release.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from temporalio.api.operatorservice.v1 import service_pb2 as operator_service
from temporalio.api.workflowservice.v1 import service_pb2 as workflow_service

from perdure.server.frontend.dispatch import OPERATOR_SERVICE, WORKFLOW_SERVICE


@dataclass(frozen=True)
class Segment:
    """One path segment of a template: a literal, or a variable naming a request field."""

    literal: str | None
    field_path: tuple[str, ...] = ()
    """The (proto, snake_case) field names a variable sets, outermost first."""


@dataclass(frozen=True)
class Rule:
    """One HTTP binding of an RPC."""

    service: str
    method: str
    """The RPC's name, e.g. "StartWorkflowExecution"."""
    http_method: str
    template: str
    segments: tuple[Segment, ...]
    body: str
    """"*" when the whole request comes in the body; "" when none (GET, DELETE)."""
    descriptor: MethodDescriptor

    @property
    def literals(self) -> int:
        return sum(1 for s in self.segments if s.literal is not None)


@dataclass(frozen=True)
class Match:
    rule: Rule
    variables: dict[tuple[str, ...], str]
    """Field path -> the segment's value, percent-decoded."""


def parse_template(template: str) -> tuple[Segment, ...]:
    """`/api/v1/namespaces/{namespace}/workflows/{execution.workflow_id}` -> segments."""
    out = []
    for part in template.strip("/").split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1].split("=", 1)[0]
            out.append(Segment(None, tuple(name.split("."))))
        else:
            out.append(Segment(part))
    return tuple(out)


_VERBS = ("get", "put", "post", "delete", "patch")


def _bindings(rule: http_pb2.HttpRule) -> Iterator[tuple[str, str, str]]:
    verb = rule.WhichOneof("pattern")
    if verb in _VERBS:
        yield verb.upper(), getattr(rule, verb), rule.body
    for extra in rule.additional_bindings:
        yield from _bindings(extra)


def service_rules(service: ServiceDescriptor, name: str) -> list[Rule]:
    """Every HTTP binding of `service`'s methods."""
    out = []
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        for verb, template, body in _bindings(options.Extensions[annotations_pb2.http]):
            out.append(
                Rule(name, method.name, verb, template, parse_template(template), body, method)
            )
    return out


def temporal_rules() -> list[Rule]:
    """The routes of Temporal's workflow and operator services."""
    return [
        *service_rules(
            workflow_service.DESCRIPTOR.services_by_name["WorkflowService"], WORKFLOW_SERVICE
        ),
        *service_rules(
            operator_service.DESCRIPTOR.services_by_name["OperatorService"], OPERATOR_SERVICE
        ),
    ]


class Router:
    """Finds the rule of a request path, most literal segments first (so that
    `/workflows/{id}/history` is never read as a workflow named "history")."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._by_length: dict[int, list[Rule]] = {}
        for rule in sorted(rules, key=lambda r: -r.literals):
            self._by_length.setdefault(len(rule.segments), []).append(rule)

    def match(self, http_method: str, raw_path: str) -> Match | str | None:
        """The match; "method" when the path matches but not with this method; None when
        no rule has the path.

        `raw_path` is the path as sent (still percent-encoded), split on "/" before each
        segment is decoded: a workflow id with a slash, sent as %2F, stays one segment.
        """
        parts = raw_path.strip("/").split("/")
        path_found = False
        for rule in self._by_length.get(len(parts), ()):
            variables = _bind(rule.segments, parts)
            if variables is None:
                continue
            if rule.http_method != http_method:
                path_found = True
                continue
            return Match(rule, variables)
        return "method" if path_found else None


def _bind(segments: Sequence[Segment], parts: Sequence[str]) -> dict[tuple[str, ...], str] | None:
    variables: dict[tuple[str, ...], str] = {}
    for segment, part in zip(segments, parts, strict=True):
        if segment.literal is not None:
            if segment.literal != part:
                return None
        elif not part:
            return None
        else:
            variables[segment.field_path] = unquote(part)
    return variables
