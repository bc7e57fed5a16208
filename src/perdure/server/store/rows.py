"""Database rows -> the contract's records, and the opaque visibility page tokens.

Rows come back as plain tuples in the column order the statements select; both drivers
return the same Python types, except that SQLite has no boolean (0/1 -> bool here).
"""

from __future__ import annotations

from typing import Any

import msgpack

from perdure.server.store.base import (
    CurrentExecution,
    HistoryBatch,
    InvalidPageToken,
    NamespaceRecord,
    SqlValue,
    TaskKind,
    TaskRow,
    TimerRow,
    VisibilityRow,
)
from perdure.server.store.schema import BOOL_COLUMNS, EXTRA_COLUMNS, MAX_INT64, SYSTEM_COLUMNS

Row = tuple[Any, ...]
"""A result row as the driver returns it."""

_N_SYSTEM = len(SYSTEM_COLUMNS)
_EXTRA_AT = 1 + _N_SYSTEM + 2  # namespace_id, system columns, memo, search_attributes
_EXTRA_BOOL = tuple(i for i, c in enumerate(EXTRA_COLUMNS) if c in BOOL_COLUMNS)


def namespace(row: Row) -> NamespaceRecord:
    return NamespaceRecord(
        id=row[0], name=row[1], info=bytes(row[2]), config=bytes(row[3]), version=row[4]
    )


def current(row: Row) -> CurrentExecution:
    return CurrentExecution(
        namespace_id=row[0],
        workflow_id=row[1],
        run_id=row[2],
        status=row[3],
        start_request_id=row[4],
        start_time=row[5],
        close_time=row[6],
    )


def history(row: Row) -> HistoryBatch:
    return HistoryBatch(first_event_id=row[0], last_event_id=row[1], data=bytes(row[2]))


def task(row: Row) -> TaskRow:
    return TaskRow(
        seq=row[0],
        key=row[1],
        namespace_id=row[2],
        task_queue=row[3],
        kind=TaskKind(row[4]),
        workflow_id=row[5],
        run_id=row[6],
        scheduled_event_id=row[7],
        created_time=row[8],
        expiry_time=row[9],
        data=bytes(row[10]),
        lease_owner=row[11] or "",
        lease_until=row[12],
    )


def timer(row: Row) -> TimerRow:
    return TimerRow(
        key=row[0],
        namespace_id=row[1],
        workflow_id=row[2],
        run_id=row[3],
        fire_time=row[4],
        data=bytes(row[5]),
    )


def visibility(row: Row) -> VisibilityRow:
    """A row selected as VISIBILITY_SELECT_COLUMNS; NULL search attribute columns omitted."""
    extra = list(row[_EXTRA_AT:])
    for i in _EXTRA_BOOL:
        if extra[i] is not None:
            extra[i] = bool(extra[i])
    system = dict(zip(SYSTEM_COLUMNS, row[1 : 1 + _N_SYSTEM], strict=True))
    return VisibilityRow(
        namespace_id=row[0],
        memo=bytes(row[_EXTRA_AT - 2]),
        search_attributes=bytes(row[_EXTRA_AT - 1]),
        columns={c: v for c, v in zip(EXTRA_COLUMNS, extra, strict=True) if v is not None},
        **system,
    )


def group_key(values: Row, columns: tuple[str, ...]) -> tuple[SqlValue, ...]:
    """A count's group values, with SQLite's 0/1 turned back into booleans."""
    return tuple(
        bool(v) if c in BOOL_COLUMNS and v is not None else v
        for c, v in zip(columns, values, strict=True)
    )


# --------------------------------------------------------------------------- page tokens
# Keyset tokens hold the last row's sort key; offset tokens the number of rows served.

_TOKEN_VERSION = 1


def keyset_token(last: VisibilityRow) -> bytes:
    close = MAX_INT64 if last.close_time is None else last.close_time
    return bytes(msgpack.packb([_TOKEN_VERSION, "k", close, last.start_time, last.run_id]))


def offset_token(offset: int) -> bytes:
    return bytes(msgpack.packb([_TOKEN_VERSION, "o", offset]))


def _unpack(token: bytes, kind: str, size: int) -> list[Any]:
    try:
        value = msgpack.unpackb(token)
    except Exception as e:
        raise InvalidPageToken("malformed visibility page token") from e
    if not isinstance(value, list) or len(value) != size or value[:2] != [_TOKEN_VERSION, kind]:
        raise InvalidPageToken("page token does not belong to this listing's order")
    return value


def parse_keyset_token(token: bytes) -> tuple[int, int, str]:
    """(sort close time, start time, run id) of the last row served."""
    value = _unpack(token, "k", 5)
    close, start, run = value[2:]
    if not (isinstance(close, int) and isinstance(start, int) and isinstance(run, str)):
        raise InvalidPageToken("malformed visibility page token")
    return close, start, run


def parse_offset_token(token: bytes) -> int:
    """How many rows of a custom-ordered listing were already served."""
    offset = _unpack(token, "o", 3)[2]
    if not isinstance(offset, int) or offset < 0:
        raise InvalidPageToken("malformed visibility page token")
    return offset
