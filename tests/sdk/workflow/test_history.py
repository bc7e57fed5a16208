"""History helpers: workflow-task chunking, marker formats, the random seed."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from perdure.worker._workflow._history import (
    LocalActivityMarker,
    event_name,
    initiating_event_id,
    local_activity_marker_details,
    next_wft_end,
    parse_local_activity_marker,
    parse_patch_marker,
    patch_marker_details,
    randomness_seed,
)
from tests.sdk.workflow.history_builder import HistoryBuilder, payload

E = EventType


def _ends(builder: HistoryBuilder, *, improved: bool) -> list[int]:
    """Event ids at which each workflow-task sequence ends."""
    ends, start = [], 0
    while start < len(builder.events):
        end = next_wft_end(builder.events, start, improved=improved)
        ends.append(builder.events[end].event_id)
        start = end + 1
    return ends


@pytest.mark.parametrize("improved", [True, False])
def test_sequences_end_at_started_tasks(improved: bool) -> None:
    b = HistoryBuilder("Wf")
    b.full_task()  # 2,3,4
    started = b.timer_started("1", 1)  # 5
    b.timer_fired("1", started)  # 6
    b.full_task()  # 7,8,9
    b.completed(None)  # 10
    assert _ends(b, improved=improved) == [3, 8, 10]


@pytest.mark.parametrize("improved", [True, False])
def test_failed_task_attempts_fold_into_the_next(improved: bool) -> None:
    b = HistoryBuilder("Wf")
    b.task_scheduled_started()  # 2,3
    b.add(E.EVENT_TYPE_WORKFLOW_TASK_FAILED)  # 4
    b.task_scheduled_started()  # 5,6
    b.task_completed()  # 7
    b.completed(None)  # 8
    assert _ends(b, improved=improved) == [6, 8]


@pytest.mark.parametrize("improved", [True, False])
def test_heartbeat_tasks_fold_into_one_activation(improved: bool) -> None:
    # A long local activity: the first task completes empty (heartbeat) twice.
    b = HistoryBuilder("Wf")
    b.task_scheduled_started()  # 2,3
    b.task_completed()  # 4 (heartbeat, no commands)
    b.task_scheduled_started()  # 5,6
    b.task_completed()  # 7 (heartbeat)
    b.task_scheduled_started()  # 8,9
    b.task_completed()  # 10
    b.add(E.EVENT_TYPE_MARKER_RECORDED)  # 11: the local activity's marker
    b.completed(None)  # 12
    assert _ends(b, improved=improved)[0] == 9


def test_heartbeat_followed_by_a_signal_is_not_folded_with_improved_chunking() -> None:
    b = HistoryBuilder("Wf")
    b.task_scheduled_started()  # 2,3
    b.task_completed()  # 4
    b.add(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)  # 5
    b.signaled("s")  # 6: arrived before the next task started
    b.add(E.EVENT_TYPE_WORKFLOW_TASK_STARTED)  # 7
    assert _ends(b, improved=True) == [3, 7]


def test_local_activity_marker_round_trip_matches_core_format() -> None:
    marker = LocalActivityMarker(
        seq=2,
        attempt=3,
        activity_id="2",
        activity_type="greet",
        complete_time=datetime(2024, 1, 1, 0, 0, 1, 500000, tzinfo=UTC),
        backoff=None,
        original_schedule_time=datetime(2024, 1, 1, tzinfo=UTC),
        result=payload("hi"),
        failure=None,
    )
    details = local_activity_marker_details(marker, activation_index=1)
    data = details["data"].payloads[0].data
    assert data.startswith(b'{"seq":2,"attempt":3,"activity_id":"2","activity_type":"greet",')
    assert b'"complete_time":{"seconds":1704067201,"nanos":500000000}' in data
    assert b'"backoff":null' in data
    event = HistoryEvent(event_id=5, event_type=E.EVENT_TYPE_MARKER_RECORDED)
    attrs = event.marker_recorded_event_attributes
    attrs.marker_name = "core_local_activity"
    for key, value in details.items():
        attrs.details[key].CopyFrom(value)
    assert parse_local_activity_marker(event) == marker


def test_patch_marker_round_trip() -> None:
    event = HistoryEvent(event_id=5, event_type=E.EVENT_TYPE_MARKER_RECORDED)
    attrs = event.marker_recorded_event_attributes
    attrs.marker_name = "core_patch"
    for key, value in patch_marker_details("my-patch", True).items():
        attrs.details[key].CopyFrom(value)
    assert attrs.details["patch-data"].payloads[0].data == b'{"id":"my-patch","deprecated":true}'
    assert parse_patch_marker(event) == ("my-patch", True)


def test_randomness_seed_matches_the_official_sdk() -> None:
    # Values observed from a temporalio 1.35 workflow: random().randint(0, 10**6) and uuid4().
    seed = randomness_seed("01a21f3f-5e51-7e19-aaed-b6dda7bf8891")
    rng = random.Random(seed)
    assert rng.randint(0, 1_000_000) == 913713
    assert str(uuid.UUID(int=rng.getrandbits(128), version=4)) == (
        "60c2f2ae-3e11-4d93-aca3-663581aba5a6"
    )


def test_event_names_and_routing() -> None:
    b = HistoryBuilder("Wf")
    b.full_task()
    scheduled = b.activity_scheduled("1", "greet")
    completed = b.activity_completed(scheduled, "x")
    assert event_name(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == "ActivityTaskScheduled"
    assert initiating_event_id(b.events[completed - 1]) == scheduled
    assert initiating_event_id(b.events[0]) is None
