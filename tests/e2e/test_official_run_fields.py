"""Fields of events the server writes on its own, from the official SDK, against both
servers (found by the differential runner, difftest/)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import RetryState, TimeoutType
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

pytestmark = pytest.mark.timeout(60)


@activity.defn(name="RunFieldsSlow")
async def slow() -> None:
    await asyncio.sleep(5)


@workflow.defn(name="RunFieldsTimesOut")
class TimesOut:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            slow,
            start_to_close_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@workflow.defn(name="RunFieldsNeverPicked")
class NeverPicked:
    @workflow.run
    async def run(self, attempts: int) -> None:
        await workflow.execute_activity(
            slow,
            task_queue=workflow.info().task_queue + "-nobody",
            schedule_to_start_timeout=timedelta(seconds=1),
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=attempts),
        )


@workflow.defn(name="RunFieldsParent")
class Parent:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_child_workflow(
            Continues.run, False, id=f"{workflow.info().workflow_id}-child"
        )


@workflow.defn(name="RunFieldsContinuingParent")
class ContinuingParent:
    @workflow.run
    async def run(self, again: bool) -> str:
        if again:
            workflow.continue_as_new(False)
        child_id = f"{workflow.info().workflow_id}-child"
        return await workflow.execute_child_workflow(Continues.run, False, id=child_id)


@activity.defn(name="RunFieldsQuick")
async def quick() -> str:
    return "quick"


@workflow.defn(name="RunFieldsUpdated")
class Updated:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update(name="work")
    async def work(self) -> str:
        result = await workflow.execute_activity(
            quick, start_to_close_timeout=timedelta(seconds=10)
        )
        self.done = True
        return result


@workflow.defn(name="RunFieldsContinues")
class Continues:
    @workflow.run
    async def run(self, again: bool) -> str:
        if again:
            workflow.upsert_memo({"upserted": "yes"})
            workflow.continue_as_new(False)
        return "done"


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"


async def test_an_activity_timeout_failure_comes_from_the_server(
    official_client: Client, task_queue: str
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[TimesOut],
        activities=[slow],
        workflow_runner=UnsandboxedWorkflowRunner(),
        graceful_shutdown_timeout=timedelta(seconds=1),
    ):
        handle = await official_client.start_workflow(TimesOut.run, id=_id(), task_queue=task_queue)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    timed_out = [
        e.activity_task_timed_out_event_attributes.failure
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_timed_out_event_attributes")
    ]
    assert [(f.message, f.source) for f in timed_out] == [
        ("activity StartToClose timeout", "Server")
    ]
    # The worker polled with a build id but did not close the attempt: none is recorded.
    [started] = [
        e.activity_task_started_event_attributes
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert not started.HasField("worker_version")


@pytest.mark.parametrize("attempts", [1, 3])
async def test_a_schedule_to_start_timeout_is_not_retried_and_says_timeout(
    official_client: Client, task_queue: str, attempts: int
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[NeverPicked],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await official_client.start_workflow(
            NeverPicked.run, attempts, id=_id(), task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    timed_out = [
        e.activity_task_timed_out_event_attributes
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_timed_out_event_attributes")
    ]
    assert [(t.failure.timeout_failure_info.timeout_type, t.retry_state) for t in timed_out] == [
        (TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START, RetryState.RETRY_STATE_TIMEOUT)
    ]


@pytest.mark.parametrize("start_memo", [{}, {"given": "at start"}])
async def test_continue_as_new_carries_only_the_memo_the_command_gives(
    official_client: Client, task_queue: str, start_memo: dict[str, str]
) -> None:
    # The SDK puts the start memo in the command; the server inherits nothing itself, so
    # the upserted memo is not in the new run.
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Continues],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await official_client.start_workflow(
            Continues.run, True, id=_id(), task_queue=task_queue, memo=start_memo
        )
        assert await handle.result() == "done"
    latest = official_client.get_workflow_handle(handle.id)
    events = [e async for e in latest.fetch_history_events()]
    started = events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id == handle.result_run_id
    assert sorted(started.memo.fields) == sorted(start_memo)
    first_run = official_client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    first = [e async for e in first_run.fetch_history_events()]
    continued = first[-1].workflow_execution_continued_as_new_event_attributes
    assert continued.new_execution_run_id
    assert not continued.HasField("backoff_start_interval")
    assert await (await latest.describe()).memo() == start_memo


async def test_a_child_started_without_options_leaves_them_unset(
    official_client: Client, task_queue: str
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Parent, Continues],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await official_client.start_workflow(Parent.run, id=_id(), task_queue=task_queue)
        assert await handle.result() == "done"
    [initiated] = [
        e.start_child_workflow_execution_initiated_event_attributes
        async for e in handle.fetch_history_events()
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert not initiated.HasField("workflow_execution_timeout")
    assert not initiated.HasField("memo")


async def test_a_continued_run_without_parent_is_the_root_of_its_children(
    official_client: Client, task_queue: str
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[ContinuingParent, Continues],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await official_client.start_workflow(
            ContinuingParent.run, True, id=_id(), task_queue=task_queue
        )
        assert await handle.result() == "done"
    second = await official_client.get_workflow_handle(handle.id).describe()
    assert second.run_id != handle.result_run_id
    child = official_client.get_workflow_handle(f"{handle.id}-child")
    events = [e async for e in child.fetch_history_events()]
    started = events[0].workflow_execution_started_event_attributes
    assert started.parent_workflow_execution.run_id == second.run_id
    assert started.root_workflow_execution.workflow_id == handle.id
    assert started.root_workflow_execution.run_id == second.run_id


async def test_a_command_of_an_update_handler_is_marked_with_the_update(
    official_client: Client, task_queue: str
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Updated],
        activities=[quick],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await official_client.start_workflow(Updated.run, id=_id(), task_queue=task_queue)
        assert await handle.execute_update(Updated.work, id="the-update") == "quick"
        await handle.result()
    [scheduled] = [
        e
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    markers = [m.inbound_update.inbound_update_id for m in scheduled.event_group_markers]
    assert markers == ["the-update"]


@workflow.defn(name="RunFieldsWaitsThenContinues")
class WaitsThenContinues:
    @workflow.run
    async def run(self, again: bool) -> str:
        if again:
            # Temporal delays the first task of a run continued within a second of its start.
            await workflow.sleep(2)
            workflow.continue_as_new(False)
        return "done"


@workflow.defn(name="RunFieldsParentOfWaiting")
class ParentOfWaiting:
    @workflow.run
    async def run(self) -> str:
        child_id = f"{workflow.info().workflow_id}-child"
        return await workflow.execute_child_workflow(WaitsThenContinues.run, True, id=child_id)


async def _started(
    client: Client, workflow_id: str, run_id: str | None = None
) -> history_pb2.WorkflowExecutionStartedEventAttributes:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events():
        return event.workflow_execution_started_event_attributes
    raise AssertionError("no history")


async def test_a_started_run_has_a_zero_backoff_and_a_continued_or_child_run_a_zero_run_timeout(
    official_client: Client, task_queue: str
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[WaitsThenContinues, ParentOfWaiting],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await official_client.start_workflow(
            ParentOfWaiting.run, id=_id(), task_queue=task_queue
        )
        assert await handle.result() == "done"
    parent = await _started(official_client, handle.id, handle.result_run_id)
    assert parent.first_workflow_task_backoff.ToNanoseconds() == 0
    assert parent.HasField("first_workflow_task_backoff")
    assert not parent.HasField("workflow_run_timeout")
    assert not parent.HasField("workflow_execution_timeout")
    child_id = f"{handle.id}-child"
    described = await official_client.get_workflow_handle(child_id).describe()
    first_run_id = described.raw_description.workflow_execution_info.first_run_id
    assert first_run_id != described.run_id
    first = await _started(official_client, child_id, first_run_id)
    assert first.HasField("first_workflow_task_backoff")
    assert first.HasField("workflow_run_timeout")
    assert first.workflow_run_timeout.ToNanoseconds() == 0
    assert not first.HasField("workflow_execution_timeout")
    continued = await _started(official_client, child_id)
    assert continued.continued_execution_run_id == first_run_id
    assert not continued.HasField("first_workflow_task_backoff")
    assert continued.HasField("workflow_run_timeout")
    assert not continued.HasField("workflow_execution_timeout")
