"""The BuildIds search attribute: which worker builds completed the run's workflow tasks,
as Temporal keeps it ("unversioned" and "unversioned:<build id>" for workers without
versioning, "versioned:<build id>" for those with). Describe shows it at once; the
visibility row takes it with the run's next visibility change, as Temporal writes no
visibility task for it.

Derived from WorkflowTaskCompleted events, so a rebuilt state has it too.
"""

from __future__ import annotations

import json

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2

from perdure.server.engine.state import ExecutionState

BUILD_IDS = "BuildIds"
UNVERSIONED = "unversioned"


def add_from_completion(st: ExecutionState, event: history_pb2.HistoryEvent) -> None:
    a = event.workflow_task_completed_event_attributes
    if not a.HasField("worker_version"):
        return
    stamp = a.worker_version
    new = [] if stamp.use_versioning else [UNVERSIONED]
    if stamp.build_id:
        new.append(f"{'versioned' if stamp.use_versioning else UNVERSIONED}:{stamp.build_id}")
    fields = st.search_attributes.indexed_fields
    current = _keywords(fields[BUILD_IDS]) if BUILD_IDS in fields else []
    added = [b for b in new if b not in current]
    if added:
        fields[BUILD_IDS].CopyFrom(_keyword_list(current + added))


def _keywords(payload: common_pb2.Payload) -> list[str]:
    try:
        value = json.loads(payload.data)
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _keyword_list(values: list[str]) -> common_pb2.Payload:
    return common_pb2.Payload(
        metadata={"encoding": b"json/plain", "type": b"KeywordList"},
        data=json.dumps(values, separators=(",", ":")).encode(),
    )
