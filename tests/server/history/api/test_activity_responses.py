"""Complete, fail, cancel and heartbeat an activity, by task token and by id."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.failure.v1 import message_pb2 as failure_pb2

from perdure.server.engine import tokens
from perdure.server.errors import NotFound
from perdure.server.history.api.record_activity_task_heartbeat import (
    record_activity_task_heartbeat,
)
from perdure.server.history.api.respond_activity_task_canceled import (
    respond_activity_task_canceled,
)
from perdure.server.history.api.respond_activity_task_completed import (
    respond_activity_task_completed,
)
from perdure.server.history.api.respond_activity_task_failed import respond_activity_task_failed
from perdure.server.history.api.started_activity import (
    ActivityById,
    ActivityByToken,
    StartedActivity,
)
from perdure.server.store.base import TaskKind
from tests.server.engine.helpers import payloads, schedule_activity
from tests.server.history.api.conftest import Env

LIMIT = 2 * 1024 * 1024


async def _running(env: Env, *, by_id: bool, **fields: object) -> StartedActivity:
    """A run with activity "a1" started; the target that names it."""
    await env.start_run()
    await env.complete_workflow_task(schedule_activity("a1", **fields))
    resp = await env.start_activity()
    if by_id:
        return ActivityById("wf-1", "", "a1")
    return ActivityByToken(tokens.decode_activity_task(resp.task_token))


@pytest.mark.parametrize("by_id", [False, True])
async def test_completing_closes_the_activity_and_schedules_a_task(env: Env, by_id: bool) -> None:
    target = await _running(env, by_id=by_id)
    await respond_activity_task_completed(
        env.history, env.ns, target, payloads(b"1"), "worker-a", max_result_bytes=LIMIT
    )
    events = await env.events()
    assert (await env.event_types())[-3:] == [
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    completed = events[-2].activity_task_completed_event_attributes
    assert completed.result.payloads[0].data == b"1" and completed.identity == "worker-a"
    with pytest.raises(NotFound):
        await respond_activity_task_completed(
            env.history, env.ns, target, payloads(b"2"), "worker-a", max_result_bytes=LIMIT
        )


async def test_an_oversize_result_fails_the_attempt(env: Env) -> None:
    target = await _running(env, by_id=False)
    await respond_activity_task_completed(
        env.history, env.ns, target, payloads(b"x" * 100), "worker-a", max_result_bytes=50
    )
    events = await env.events()
    assert (await env.event_types())[-2] == "ACTIVITY_TASK_FAILED"
    failure = events[-2].activity_task_failed_event_attributes.failure
    assert failure.message == "Complete result exceeds size limit."


@pytest.mark.parametrize("by_id", [False, True])
async def test_a_failure_without_retries_left_fails_the_activity(env: Env, by_id: bool) -> None:
    policy = common_pb2.RetryPolicy(maximum_attempts=1)
    target = await _running(env, by_id=by_id, retry_policy=policy)
    failure = failure_pb2.Failure(message="nope")
    await respond_activity_task_failed(
        env.history, env.ns, target, failure, "worker-a", last_heartbeat_details=payloads(b"7")
    )
    events = await env.events()
    failed = events[-2].activity_task_failed_event_attributes
    assert failed.failure.message == "nope" and failed.identity == "worker-a"


async def test_a_failure_with_retries_left_schedules_another_attempt(env: Env) -> None:
    target = await _running(env, by_id=False)
    await respond_activity_task_failed(
        env.history, env.ns, target, failure_pb2.Failure(message="again"), "worker-a"
    )
    assert (await env.event_types())[-1] == "ACTIVITY_TASK_SCHEDULED", "no event for a retry"
    assert await env.task_rows(TaskKind.ACTIVITY) == [], "the retry waits for its backoff"


@pytest.mark.parametrize("by_id", [False, True])
async def test_canceling_closes_the_activity(env: Env, by_id: bool) -> None:
    target = await _running(env, by_id=by_id)
    await respond_activity_task_canceled(env.history, env.ns, target, payloads(b"bye"), "w-a")
    events = await env.events()
    canceled = events[-2].activity_task_canceled_event_attributes
    assert canceled.details.payloads[0].data == b"bye" and canceled.identity == "w-a"


@pytest.mark.parametrize("by_id", [False, True])
async def test_a_heartbeat_keeps_its_details(env: Env, by_id: bool) -> None:
    target = await _running(env, by_id=by_id)
    cancel = await record_activity_task_heartbeat(env.history, env.ns, target, payloads(b"3"))
    assert not cancel.cancel_requested and not cancel.paused and not cancel.reset

    def details(st: object) -> bytes:
        info = st.activity_by_id("a1")  # type: ignore[attr-defined]
        return bytes(info.heartbeat_details.payloads[0].data)

    assert await env.history.read(env.ns, "wf-1", "", details) == b"3"


async def test_a_heartbeat_of_an_unknown_activity_is_not_found(env: Env) -> None:
    await _running(env, by_id=True)
    with pytest.raises(NotFound):
        await record_activity_task_heartbeat(
            env.history, env.ns, ActivityById("wf-1", "", "other"), None
        )
