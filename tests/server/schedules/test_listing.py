"""ListSchedules' query filter, evaluated on a schedule's attributes."""

from __future__ import annotations

import json

import pytest
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.schedule.v1 import message_pb2 as sched_pb

from perdure.server.errors import InvalidArgument
from perdure.server.schedules.listing import ScheduleFilter, list_info
from perdure.server.schedules.machine import ScheduleState


def _state(paused: bool, **attrs: object) -> ScheduleState:
    schedule = sched_pb.Schedule()
    schedule.state.paused = paused
    schedule.state.notes = "n"
    schedule.spec.interval.add().interval.FromSeconds(60)
    schedule.action.start_workflow.workflow_type.name = "Report"
    sa = common_pb.SearchAttributes()
    for name, value in attrs.items():
        sa.indexed_fields[name].data = json.dumps(value).encode()
    return ScheduleState("sched-1", "ns", schedule, search_attributes=sa)


@pytest.mark.parametrize(
    ("query", "paused_one", "running_one"),
    [
        ("", True, True),
        ("TemporalSchedulePaused = true", True, False),
        ("TemporalSchedulePaused = false AND Team = 'billing'", False, True),
        ("ScheduleId STARTS_WITH 'sched-'", True, True),
        ("WorkflowType IN ('Report', 'Other')", True, True),
        ("Priority > 3", False, True),
        ("Team IS NULL", True, False),
        ("NOT (Team = 'billing')", True, False),
    ],
)
def test_filter(query: str, paused_one: bool, running_one: bool) -> None:
    selected = ScheduleFilter(query)
    assert selected.matches(_state(True)) is paused_one
    assert selected.matches(_state(False, Team="billing", Priority=5)) is running_one


def test_bad_queries_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="syntax error"):
        ScheduleFilter("bad (((")
    with pytest.raises(InvalidArgument):
        ScheduleFilter("ScheduleId = 'x' ORDER BY ScheduleId")


def test_list_info() -> None:
    info = list_info(_state(True), 0)
    assert info.paused and info.notes == "n" and info.workflow_type.name == "Report"
    assert len(info.future_action_times) == 5
