"""engine/build_ids.py: the BuildIds search attribute the workers' completions keep."""

from __future__ import annotations

import json

from temporalio.api.common.v1 import message_pb2 as common_pb2

from perdure.server.engine.describe import describe
from perdure.server.engine.state import ExecutionState
from tests.server.engine.helpers import assert_rebuilds, started
from tests.server.engine.test_rebuild import signal


def build_ids(state: ExecutionState) -> list[str]:
    info = describe(state).workflow_execution_info
    return list(json.loads(info.search_attributes.indexed_fields["BuildIds"].data))


def stamp(build_id: str) -> common_pb2.WorkerVersionStamp:
    return common_pb2.WorkerVersionStamp(build_id=build_id)


def test_each_build_that_completes_a_task_is_listed_once() -> None:
    h = started()
    h.start_wft()
    h.complete_wft(worker_version_stamp=stamp("b1"))
    assert build_ids(h.state) == ["unversioned", "unversioned:b1"]
    payload = h.state.search_attributes.indexed_fields["BuildIds"]
    assert payload.metadata["type"] == b"KeywordList"
    for build in ("b1", "b2"):
        h.step(signal("wake"))
        h.start_wft()
        h.complete_wft(worker_version_stamp=stamp(build))
    assert build_ids(h.state) == ["unversioned", "unversioned:b1", "unversioned:b2"]
    assert_rebuilds(h.state, h.history)


def test_a_completion_without_a_version_stamp_adds_nothing() -> None:
    h = started()
    h.start_wft()
    h.complete_wft()
    assert "BuildIds" not in h.state.search_attributes.indexed_fields
