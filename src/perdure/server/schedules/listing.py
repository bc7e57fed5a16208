"""What ListSchedules shows of a schedule, and its query filter.

Schedules are few next to workflow runs, so the filter is Temporal's list-filter
language (parsed by server/visibility/query.py) evaluated on each schedule's attributes:
`ScheduleId`, `TemporalSchedulePaused`, `WorkflowType` and the schedule's own search
attributes.
"""

from __future__ import annotations

import json

from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.schedule.v1 import message_pb2 as sched_pb

from perdure.server.errors import InvalidArgument
from perdure.server.schedules import machine
from perdure.server.schedules.machine import ScheduleState
from perdure.server.visibility.query import (
    And,
    Between,
    Comparison,
    Expr,
    InList,
    IsNull,
    Not,
    Or,
    StartsWith,
    Value,
    parse_query,
)

LIST_FUTURE_ACTIONS = 5
LIST_RECENT_ACTIONS = 5

Attr = str | int | float | bool | list[str] | None


def list_info(state: ScheduleState, now: int) -> sched_pb.ScheduleListInfo:
    info = sched_pb.ScheduleListInfo(
        spec=state.schedule.spec,
        workflow_type=state.schedule.action.start_workflow.workflow_type,
        notes=state.schedule.state.notes,
        paused=state.schedule.state.paused,
        recent_actions=state.recent_actions[-LIST_RECENT_ACTIONS:],
    )
    for t in machine.future_action_times(state, now, LIST_FUTURE_ACTIONS):
        info.future_action_times.add().FromNanoseconds(t)
    return info


class ScheduleFilter:
    """A ListSchedules/CountSchedules query; InvalidArgument when it does not parse."""

    def __init__(self, query: str) -> None:
        self._where: Expr | None = None
        if query.strip():
            parsed = parse_query(query)
            if parsed.order_by or parsed.group_by:
                raise InvalidArgument("invalid query: ORDER BY and GROUP BY are not supported")
            self._where = parsed.where

    def matches(self, state: ScheduleState) -> bool:
        if self._where is None:
            return True
        return _eval(self._where, _attributes(state)) is True


def _attributes(state: ScheduleState) -> dict[str, Attr]:
    out: dict[str, Attr] = {
        "ScheduleId": state.schedule_id,
        "WorkflowId": state.schedule_id,
        "TemporalSchedulePaused": state.schedule.state.paused,
        "WorkflowType": state.schedule.action.start_workflow.workflow_type.name,
    }
    for name, payload in state.search_attributes.indexed_fields.items():
        out[name] = _decode(payload)
    return out


def _decode(payload: common_pb.Payload) -> Attr:
    try:
        value = json.loads(payload.data) if payload.data else None
    except ValueError:
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return None


def _compare(attr: Attr, op: str, value: Value) -> bool:
    if attr is None:
        return False
    if isinstance(attr, list):
        if op == "=":
            return str(value) in attr
        if op == "!=":
            return str(value) not in attr
        return False
    try:
        if op == "=":
            return attr == value
        if op == "!=":
            return attr != value
        if op == "<":
            return attr < value  # type: ignore[operator]
        if op == "<=":
            return attr <= value  # type: ignore[operator]
        if op == ">":
            return attr > value  # type: ignore[operator]
        if op == ">=":
            return attr >= value  # type: ignore[operator]
    except TypeError:
        return False
    raise InvalidArgument(f"invalid query: operator {op!r} is not supported")


def _eval(expr: Expr, attrs: dict[str, Attr]) -> bool:
    if isinstance(expr, And):
        return _eval(expr.left, attrs) and _eval(expr.right, attrs)
    if isinstance(expr, Or):
        return _eval(expr.left, attrs) or _eval(expr.right, attrs)
    if isinstance(expr, Not):
        return not _eval(expr.operand, attrs)
    attr = attrs.get(expr.column.name)
    if isinstance(expr, Comparison):
        return _compare(attr, expr.op, expr.value)
    if isinstance(expr, InList):
        found = any(_compare(attr, "=", v) for v in expr.values)
        return found != expr.negated
    if isinstance(expr, Between):
        inside = _compare(attr, ">=", expr.low) and _compare(attr, "<=", expr.high)
        return inside != expr.negated
    if isinstance(expr, StartsWith):
        starts = isinstance(attr, str) and attr.startswith(str(expr.prefix))
        return starts != expr.negated
    assert isinstance(expr, IsNull)
    return (attr is None) != expr.negated
