"""Build ids: the server records which worker build ran each workflow task.

The official worker sends its build id in `worker_version_capabilities` when it polls
and in `worker_version_stamp` when it completes a task; Temporal records it as
`worker_version.build_id` on WorkflowTaskStarted and WorkflowTaskCompleted, and says so
in GetSystemInfo (`build_id_based_versioning`).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e import official_workflows as wf

pytestmark = pytest.mark.timeout(60)


@workflow.defn(name="BuildIdsUpdated")
class Updated:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update(name="finish")
    async def finish(self) -> str:
        self.done = True
        return "finished"


def _worker(client: Client, task_queue: str, build_id: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[wf.WaitForSignal],
        workflow_runner=UnsandboxedWorkflowRunner(),
        build_id=build_id,
        max_cached_workflows=0,
    )


async def test_system_info_reports_build_id_based_versioning(
    official_client: Client, any_server: object
) -> None:
    info = await official_client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.capabilities.build_id_based_versioning


def _builds(events: list[HistoryEvent]) -> list[tuple[str, str]]:
    """(event type, recorded build id) of the workflow task started/completed events."""
    out = []
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            out.append(
                ("started", e.workflow_task_started_event_attributes.worker_version.build_id)
            )
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            attrs = e.workflow_task_completed_event_attributes
            out.append(("completed", attrs.worker_version.build_id))
    return out


async def test_workflow_task_events_name_the_build_that_ran_them(
    official_client: Client, any_server: object, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        wf.WaitForSignal.run, 1, id=f"wf-{uuid.uuid4().hex[:12]}", task_queue=task_queue
    )
    async with _worker(official_client, task_queue, "build-a"):
        for _ in range(100):
            if _builds(list((await handle.fetch_history()).events))[1:]:
                break
            await asyncio.sleep(0.1)
    await handle.signal(wf.WaitForSignal.add, "a")
    async with _worker(official_client, task_queue, "build-b"):
        assert await handle.result() == ["a"]
    builds = _builds(list((await handle.fetch_history()).events))
    assert builds == [
        ("started", "build-a"), ("completed", "build-a"),
        ("started", "build-b"), ("completed", "build-b"),
    ]  # fmt: skip


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "polled"])
async def test_an_activity_started_event_names_the_build_that_took_it(
    official_client: Client, any_server: object, task_queue: str, eager: bool
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[wf.OneActivity],
        activities=[wf.greet],
        workflow_runner=UnsandboxedWorkflowRunner(),
        build_id="build-act",
        disable_eager_activity_execution=not eager,
    ):
        handle = await official_client.start_workflow(
            wf.OneActivity.run, "you", id=f"wf-{uuid.uuid4().hex[:12]}", task_queue=task_queue
        )
        assert await handle.result() == "Hello, you!"
    [started] = [
        e.activity_task_started_event_attributes
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert started.worker_version.build_id == "build-act"
    assert not started.worker_version.use_versioning


async def test_a_workflow_task_that_delivers_an_update_names_the_build(
    official_client: Client, any_server: object, task_queue: str
) -> None:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[Updated],
        workflow_runner=UnsandboxedWorkflowRunner(),
        build_id="build-u",
    ):
        handle = await official_client.start_workflow(
            Updated.run, id=f"wf-{uuid.uuid4().hex[:12]}", task_queue=task_queue
        )
        for _ in range(100):  # the first task completed: the update comes on a new one
            if len(_builds(list((await handle.fetch_history()).events))) >= 2:
                break
            await asyncio.sleep(0.1)
        assert await handle.execute_update(Updated.finish) == "finished"
        await handle.result()
    builds = _builds(list((await handle.fetch_history()).events))
    assert len(builds) >= 4
    assert builds == [(kind, "build-u") for kind, _ in builds]


async def test_an_activity_the_worker_confirms_cancelled_names_no_build(
    official_client: Client, any_server: object, task_queue: str
) -> None:
    key = f"cancel-{uuid.uuid4().hex[:8]}"
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[wf.Cancellable],
        activities=[wf.heartbeat_until_cancelled],
        workflow_runner=UnsandboxedWorkflowRunner(),
        build_id="build-c",
    ):
        handle = await official_client.start_workflow(
            wf.Cancellable.run, key, id=f"wf-{uuid.uuid4().hex[:12]}", task_queue=task_queue
        )
        for _ in range(100):
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                break
            await asyncio.sleep(0.1)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    events = (await handle.fetch_history()).events
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED in [e.event_type for e in events]
    [started] = [
        e.activity_task_started_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert started.identity
    assert not started.HasField("worker_version")
