"""The runs the database tests query, built the way the engine will build them: search
attributes as json/plain payloads, turned into columns by search_attribute_columns."""

from __future__ import annotations

import json
from typing import Any

from temporalio.api.common.v1 import Payload, SearchAttributes

from perdure.server.visibility import search_attribute_columns
from perdure.server.visibility.values import parse_datetime
from tests.server.visibility.tables import Row

ALIASES = {
    "Keyword01": "MyKw",
    "Keyword02": "Owner",
    "Text01": "MyText",
    "Int01": "MyInt",
    "Double01": "MyDouble",
    "Bool01": "MyBool",
    "Datetime01": "MyDt",
    "KeywordList01": "MyKwl",
}

SECOND = 1_000_000_000
T0 = 1_714_521_600 * SECOND  # 2024-05-01T00:00:00Z
RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, CONTINUED_AS_NEW = 1, 2, 3, 4, 5, 6


def payload(value: Any, kind: str | None = None) -> Payload:
    metadata = {"encoding": b"json/plain"}
    if kind is not None:
        metadata["type"] = kind.encode()
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Payload(metadata=metadata, data=data)


def search_attributes(**values: Any) -> SearchAttributes:
    return SearchAttributes(indexed_fields={k: payload(v) for k, v in values.items()})


def _row(workflow_id: str, status: int, start: int, end: int | None = None, **kw: Any) -> Row:
    extra = {k: kw.pop(k) for k in ("parent_workflow_id",) if k in kw}
    close = None if end is None else T0 + end * SECOND
    return Row(
        workflow_id=workflow_id,
        status=status,
        start_time=T0 + start * SECOND,
        close_time=close,
        execution_duration=None if end is None else (end - start) * SECOND,
        columns=search_attribute_columns(search_attributes(**kw), ALIASES),
        **extra,
    )


ROWS = [
    _row("a", RUNNING, 1, MyKw="alpha", MyText="Hello World foo", MyInt=5, MyDouble=1.5,
         MyBool=True, MyDt="2024-01-01T00:00:00Z", MyKwl=["x", "y"]),
    _row("b", COMPLETED, 2, 62, MyKw="Alpha", MyText="hello-there, World!", MyInt=10,
         MyKwl=["y", "z"], MyBool=False, MyDouble=-2.0),
    _row("c", TERMINATED, 3, 4),
    _row("d", FAILED, 4, 3604, MyKw="beta%_x", MyText="Café naïve foo_bar", MyKwl=[], MyInt=-3,
         MyDt="2025-06-01T12:30:00Z"),
    _row("e", RUNNING, 5, MyKw="alphabet", MyText="worldwide hellos", MyKwl=["X"], MyInt=0),
    _row("f", RUNNING, 6, TemporalNamespaceDivision="TemporalScheduler", MyKw="alpha"),
    _row("g", CONTINUED_AS_NEW, 7, 8, MyKw="ünïcode", TemporalChangeVersion=["v1"],
         BuildIds=["b1"], parent_workflow_id="a"),
    _row("h", CANCELED, 8, 18, MyKw="it's", MyKwl=["a b", "it's"],
         MyDt="2023-12-31T23:00:00-01:00"),
]  # fmt: skip

assert parse_datetime("2024-05-01T00:00:00Z") == T0
