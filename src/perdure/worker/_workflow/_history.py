"""History events as the runtime sees them: kinds, workflow-task chunks, markers, the seed.

Histories written by the official SDK must replay here and ours there, so the marker
formats (``core_local_activity``, ``core_patch``), the chunking of history into
workflow-task sequences (heartbeats and failed attempts fold into one activation) and the
random seed (SipHash-1-3 of the original run id) follow sdk-core's documented behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType, event_type_pb2
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent

LOCAL_ACTIVITY_MARKER = "core_local_activity"
PATCH_MARKER = "core_patch"
CHANGE_VERSION_SEARCH_ATTRIBUTE = "TemporalChangeVersion"

COMMAND_EVENTS: frozenset[int] = frozenset(
    {
        event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        event_type_pb2.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
        event_type_pb2.EVENT_TYPE_MARKER_RECORDED,
        event_type_pb2.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        event_type_pb2.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        event_type_pb2.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        event_type_pb2.EVENT_TYPE_TIMER_CANCELED,
        event_type_pb2.EVENT_TYPE_TIMER_STARTED,
        event_type_pb2.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        event_type_pb2.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
        event_type_pb2.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED,
        event_type_pb2.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    }
)
"""Events written because the workflow sent a command; they always follow WFT completed."""

FINAL_EVENTS: frozenset[int] = frozenset(
    {
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)
"""Events that close the run."""

_WFT_NOT_CONCLUDED: frozenset[int] = frozenset(
    {
        event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    }
)

IMPROVED_HEARTBEAT_FLAG = 4
"""Core flag: chunk WFT heartbeats with the newer, more conservative heuristic."""


def event_name(event_type: int) -> str:
    """`EVENT_TYPE_TIMER_STARTED` -> `TimerStarted`, for error messages."""
    name = EventType.Name(event_type) if event_type in EventType.values() else str(event_type)  # type: ignore[arg-type]
    return "".join(part.capitalize() for part in name.removeprefix("EVENT_TYPE_").split("_"))


_ROUTING_FIELD: dict[str, str] = {
    "activity_task_started_event_attributes": "scheduled_event_id",
    "activity_task_completed_event_attributes": "scheduled_event_id",
    "activity_task_failed_event_attributes": "scheduled_event_id",
    "activity_task_timed_out_event_attributes": "scheduled_event_id",
    "activity_task_canceled_event_attributes": "scheduled_event_id",
    "timer_fired_event_attributes": "started_event_id",
    "start_child_workflow_execution_failed_event_attributes": "initiated_event_id",
    "child_workflow_execution_started_event_attributes": "initiated_event_id",
    "child_workflow_execution_completed_event_attributes": "initiated_event_id",
    "child_workflow_execution_failed_event_attributes": "initiated_event_id",
    "child_workflow_execution_canceled_event_attributes": "initiated_event_id",
    "child_workflow_execution_timed_out_event_attributes": "initiated_event_id",
    "child_workflow_execution_terminated_event_attributes": "initiated_event_id",
    "signal_external_workflow_execution_failed_event_attributes": "initiated_event_id",
    "external_workflow_execution_signaled_event_attributes": "initiated_event_id",
    "request_cancel_external_workflow_execution_failed_event_attributes": "initiated_event_id",
    "external_workflow_execution_cancel_requested_event_attributes": "initiated_event_id",
}


def initiating_event_id(event: HistoryEvent) -> int | None:
    """The id of the command event a follow-up event (completion, fire, ...) belongs to."""
    kind = event.WhichOneof("attributes")
    field = _ROUTING_FIELD.get(kind) if kind else None
    if field is None or kind is None:
        return None
    return int(getattr(getattr(event, kind), field))


def _type_at(events: Sequence[HistoryEvent], ix: int) -> int | None:
    return events[ix].event_type if ix < len(events) else None


def next_wft_end(
    events: Sequence[HistoryEvent],
    start: int,
    *,
    improved: bool,
    pending_speculative_update: bool = False,
) -> int:
    """Index of the last event of the workflow-task sequence that begins at `start`.

    A sequence ends at the WorkflowTaskStarted whose task completed (or is the current
    one). Failed and timed-out attempts, and empty heartbeat tasks that only extended a
    long local activity, fold into the following task. With no further task the sequence
    is the rest of the history.
    """
    if improved:
        end = _end_improved(events, start, pending_speculative_update)
    else:
        end = _end_legacy(events, start)
    return len(events) - 1 if end is None else end


def _end_improved(events: Sequence[HistoryEvent], start: int, pending_update: bool) -> int | None:
    n = len(events)
    ix = start
    if _type_at(events, ix) == event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        ix += 1
    prevent_heartbeat = False
    if _type_at(events, ix) == event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        ix += 1
        while ix < n and events[ix].event_type in COMMAND_EVENTS:
            prevent_heartbeat = True
            ix += 1
    while ix < n:
        e0 = events[ix].event_type
        if e0 == event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            e1 = _type_at(events, ix + 1)
            if e1 is None:
                return ix
            if e1 in (
                event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_FAILED,
                event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
            ):
                ix += 2
                continue
            if e1 != event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                return ix
            if prevent_heartbeat:
                return ix
            if _type_at(events, ix + 2) != event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                return ix
            if _type_at(events, ix + 3) != event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                return ix
            e4 = _type_at(events, ix + 4)
            if e4 is None:
                return ix if pending_update else ix + 3
            if e4 != event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                return ix
            e5 = _type_at(events, ix + 5)
            if e5 is None:
                return ix + 3
            if e5 == event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                return ix
            ix += 3  # an empty heartbeat task: fold it into the next one
            continue
        if e0 in FINAL_EVENTS:
            return None
        ix += 1
    return None


def _end_legacy(events: Sequence[HistoryEvent], start: int) -> int | None:
    saw_command = False
    saw_command_or_started = False
    started: list[tuple[int, int]] = []
    for ix in range(start, len(events)):
        event = events[ix]
        kind = event.event_type
        if kind in COMMAND_EVENTS:
            saw_command = saw_command_or_started = True
        elif kind == event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            saw_command_or_started = True
        if kind in FINAL_EVENTS:
            return ix
        if kind != event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            continue
        started.append((event.event_id, ix))
        nxt = _type_at(events, ix + 1)
        if nxt in _WFT_NOT_CONCLUDED:
            started.pop()
            continue
        if nxt == event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and ix + 2 < len(events):
            after = events[ix + 2]
            if (
                not saw_command
                and after.event_type == event_type_pb2.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
            ):
                continue
            if after.event_type == event_type_pb2.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                seq_id = after.workflow_execution_update_accepted_event_attributes.accepted_request_sequencing_event_id  # noqa: E501
                for eid, six in reversed(started):
                    if eid < seq_id:
                        return six
            return ix
        if saw_command_or_started:
            return ix
    return None


@dataclass(frozen=True, slots=True)
class LocalActivityMarker:
    """The data a ``core_local_activity`` marker carries."""

    seq: int
    attempt: int
    activity_id: str
    activity_type: str
    complete_time: datetime | None
    backoff: float | None
    original_schedule_time: datetime | None
    result: Payload | None
    failure: Failure | None


def _ts_to_dict(value: datetime | None) -> dict[str, int] | None:
    if value is None:
        return None
    ns = int(value.timestamp() * 1_000_000) * 1000
    return {"seconds": ns // 1_000_000_000, "nanos": ns % 1_000_000_000}


def _ts_from_dict(value: Any) -> datetime | None:
    if not value:
        return None
    seconds = int(value.get("seconds", 0)) + int(value.get("nanos", 0)) / 1e9
    return datetime.fromtimestamp(seconds, UTC)


def _json_payloads(value: Any) -> Payloads:
    data = json.dumps(value, separators=(",", ":")).encode()
    return Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=data)])


def local_activity_marker_details(
    marker: LocalActivityMarker, activation_index: int
) -> dict[str, Payloads]:
    """Marker details exactly as sdk-core writes them: JSON ``data`` plus ``result``."""
    backoff = None
    if marker.backoff is not None:
        whole = int(marker.backoff)
        backoff = {"seconds": whole, "nanos": round((marker.backoff - whole) * 1e9)}
    data = {
        "seq": marker.seq,
        "attempt": marker.attempt,
        "activity_id": marker.activity_id,
        "activity_type": marker.activity_type,
        "complete_time": _ts_to_dict(marker.complete_time),
        "backoff": backoff,
        "original_schedule_time": _ts_to_dict(marker.original_schedule_time),
        "activation_index": activation_index,
    }
    details = {"data": _json_payloads(data)}
    if marker.result is not None:
        details["result"] = Payloads(payloads=[marker.result])
    return details


def parse_local_activity_marker(event: HistoryEvent) -> LocalActivityMarker | None:
    """Decode a ``core_local_activity`` marker event, or None if it is not one."""
    attrs = event.marker_recorded_event_attributes
    if attrs.marker_name != LOCAL_ACTIVITY_MARKER or "data" not in attrs.details:
        return None
    payloads = attrs.details["data"].payloads
    if not payloads:
        return None
    data = json.loads(payloads[0].data)
    backoff = data.get("backoff")
    result_payloads = attrs.details["result"].payloads if "result" in attrs.details else []
    return LocalActivityMarker(
        seq=int(data["seq"]),
        attempt=int(data.get("attempt", 1)),
        activity_id=str(data.get("activity_id", "")),
        activity_type=str(data.get("activity_type", "")),
        complete_time=_ts_from_dict(data.get("complete_time")),
        backoff=(
            int(backoff.get("seconds", 0)) + int(backoff.get("nanos", 0)) / 1e9 if backoff else None
        ),
        original_schedule_time=_ts_from_dict(data.get("original_schedule_time")),
        result=result_payloads[0] if result_payloads else None,
        failure=attrs.failure if attrs.HasField("failure") else None,
    )


def patch_marker_details(patch_id: str, deprecated: bool) -> dict[str, Payloads]:
    """Details of a ``core_patch`` marker: ``patch-data`` = {"id", "deprecated"}."""
    return {"patch-data": _json_payloads({"id": patch_id, "deprecated": deprecated})}


def parse_patch_marker(event: HistoryEvent) -> tuple[str, bool] | None:
    """(patch id, deprecated) of a ``core_patch`` marker event, or None."""
    if event.event_type != event_type_pb2.EVENT_TYPE_MARKER_RECORDED:
        return None
    attrs = event.marker_recorded_event_attributes
    if attrs.marker_name != PATCH_MARKER or "patch-data" not in attrs.details:
        return None
    payloads = attrs.details["patch-data"].payloads
    if not payloads:
        return None
    data = json.loads(payloads[0].data)
    return str(data["id"]), bool(data.get("deprecated", False))


def change_version_payload(patch_ids: Sequence[str]) -> Payload:
    """The ``TemporalChangeVersion`` search attribute value for the given patches."""
    data = json.dumps(sorted(patch_ids), separators=(",", ":")).encode()
    return Payload(metadata={"encoding": b"json/plain", "type": b"KeywordList"}, data=data)


_MASK = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def randomness_seed(original_run_id: str) -> int:
    """The workflow random seed: SipHash-1-3 (zero keys) of the run id as Rust hashes a str.

    The official SDK seeds `workflow.random()` this way, so both SDKs draw the same numbers
    (and uuid4s) for the same run.
    """
    data = original_run_id.encode() + b"\xff"
    v0, v1 = 0x736F6D6570736575, 0x646F72616E646F6D
    v2, v3 = 0x6C7967656E657261, 0x7465646279746573

    def rounds(count: int) -> None:
        nonlocal v0, v1, v2, v3
        for _ in range(count):
            v0 = (v0 + v1) & _MASK
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _MASK
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _MASK
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _MASK
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)

    end = len(data) - len(data) % 8
    for i in range(0, end, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v3 ^= m
        rounds(1)
        v0 ^= m
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[end:], "little")
    v3 ^= last
    rounds(1)
    v0 ^= last
    v2 ^= 0xFF
    rounds(3)
    return v0 ^ v1 ^ v2 ^ v3
