"""ResetWorkflowExecution with the official SDK and the real CLI, against both servers.

A workflow runs three activities and waits for a "done" signal. Reset to an early
workflow task, the new run runs the later activities again (activities are
at-least-once), receives the old run's later signals again (unless told not to), and is
linked to the old run as Temporal links them.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    ResetWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.servers import TEMPORAL_BIN, ServerProcess

pytestmark = pytest.mark.timeout(90)

CALLS: Counter[str] = Counter()


@activity.defn(name="reset_step")
async def reset_step(key: str) -> str:
    CALLS[key] += 1
    return key.rsplit("/", 1)[1]


@workflow.defn(name="ResetFlow")
class ResetFlow:
    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.run
    async def run(self, key: str) -> dict[str, Any]:
        results = []
        for i in range(3):
            results.append(
                await workflow.execute_activity(
                    reset_step, f"{key}/{i}", start_to_close_timeout=timedelta(seconds=10)
                )
            )
        await workflow.wait_condition(lambda: "done" in self.signals)
        return {"results": results, "signals": self.signals}

    @workflow.signal(name="sig")
    def sig(self, value: str) -> None:
        self.signals.append(value)


@pytest.fixture
async def worker(official_client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        official_client,
        task_queue=task_queue,
        workflows=[ResetFlow],
        activities=[reset_step],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ) as w:
        yield w


async def _events(client: Client, workflow_id: str, run_id: str) -> list[HistoryEvent]:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return list(history.events)


def _types(events: list[HistoryEvent]) -> list[int]:
    return [e.event_type for e in events]


def _completed_tasks(events: list[HistoryEvent]) -> list[int]:
    return [
        e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]


async def _describe(
    client: Client, workflow_id: str, run_id: str
) -> DescribeWorkflowExecutionResponse:
    return await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
    )


async def _reset(
    client: Client, workflow_id: str, run_id: str, event_id: int, **fields: Any
) -> str:
    resp = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            workflow_task_finish_event_id=event_id,
            **{"request_id": str(uuid.uuid4()), **fields},
        )
    )
    return resp.run_id


async def _started_and_waiting(
    client: Client, task_queue: str
) -> tuple[WorkflowHandle[Any, Any], str]:
    """A ResetFlow run that did its three activities and got signal "x"."""
    key = uuid.uuid4().hex[:10]
    handle = await client.start_workflow(
        ResetFlow.run, key, id=f"reset-{key}", task_queue=task_queue
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while CALLS[f"{key}/2"] == 0:
        assert loop.time() < deadline, "the activities did not run"
        await asyncio.sleep(0.05)
    await handle.signal(ResetFlow.sig, "x")
    assert handle.result_run_id
    for _ in range(100):  # the signal's workflow task is done
        events = await _events(client, handle.id, handle.result_run_id)
        if _types(events)[-1] == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and any(
            t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for t in _types(events)
        ):
            break
        await asyncio.sleep(0.05)
    return handle, key


async def test_reset_running_workflow_to_its_first_task(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    client = official_client
    handle, key = await _started_and_waiting(client, task_queue)
    old_run = handle.result_run_id
    assert old_run is not None
    old_events = await _events(client, handle.id, old_run)
    first_task = _completed_tasks(old_events)[0]
    assert first_task == 4

    new_run = await _reset(
        client, handle.id, old_run, first_task, reason="try again", request_id=str(uuid.uuid4())
    )
    assert new_run and new_run != old_run
    new = client.get_workflow_handle(handle.id, run_id=new_run)
    await new.signal(ResetFlow.sig, "done")
    result = await new.result()
    assert result == {"results": ["0", "1", "2"], "signals": ["x", "done"]}
    # Every activity ran again in the new run: at-least-once, as Temporal.
    assert [CALLS[f"{key}/{i}"] for i in range(3)] == [2, 2, 2]

    # The old run: terminated by the reset, pointing at the new run.
    old_after = await _events(client, handle.id, old_run)
    assert old_after[: len(old_events)] == old_events
    closing = old_after[-1]
    assert closing.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    assert closing.workflow_execution_terminated_event_attributes.reason == "try again"
    assert closing.workflow_execution_terminated_event_attributes.identity == "history-resetter"
    old_desc = await _describe(client, handle.id, old_run)
    assert old_desc.workflow_extended_info.reset_run_id == new_run

    # The new run: the old history up to the reset task's start, then Temporal's events.
    new_events = await _events(client, handle.id, new_run)
    assert new_events[:3] == old_events[:3]
    failed = new_events[3]
    assert failed.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    attrs = failed.workflow_task_failed_event_attributes
    assert attrs.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    assert (attrs.scheduled_event_id, attrs.started_event_id) == (2, 3)
    assert (attrs.base_run_id, attrs.new_run_id) == (old_run, new_run)
    assert attrs.failure.message == "try again"
    assert attrs.failure.HasField("reset_workflow_failure_info")
    assert attrs.identity == "history-service"
    reapplied = new_events[4]
    assert reapplied.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    signaled = next(
        e for e in old_events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )
    assert reapplied.workflow_execution_signaled_event_attributes == (
        signaled.workflow_execution_signaled_event_attributes
    )
    scheduled = new_events[5]
    assert scheduled.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    assert scheduled.workflow_task_scheduled_event_attributes.task_queue.name == task_queue
    assert _types(new_events)[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    assert [e.event_id for e in new_events] == list(range(1, len(new_events) + 1))

    new_desc = await _describe(client, handle.id, new_run)
    info, ext = new_desc.workflow_execution_info, new_desc.workflow_extended_info
    assert info.first_run_id == old_run
    assert info.root_execution.run_id == new_run
    assert ext.original_start_time == old_desc.workflow_execution_info.start_time
    assert ext.last_reset_time.ToNanoseconds() > 0
    assert info.start_time.ToNanoseconds() >= ext.last_reset_time.ToNanoseconds() - 10**9
    assert (await client.get_workflow_handle(handle.id).describe()).run_id == new_run


async def test_reset_closed_workflow_without_reapplying_signals(
    official_client: Client, worker: Worker, task_queue: str
) -> None:
    client = official_client
    handle, key = await _started_and_waiting(client, task_queue)
    await handle.signal(ResetFlow.sig, "done")
    assert (await handle.result())["signals"] == ["x", "done"]
    old_run = handle.result_run_id
    assert old_run is not None
    old_events = await _events(client, handle.id, old_run)
    second_task = _completed_tasks(old_events)[1]  # after the first activity

    new_run = await _reset(
        client, handle.id, old_run, second_task, reason="redo",
        reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_NONE,
    )  # fmt: skip
    new = client.get_workflow_handle(handle.id, run_id=new_run)
    await new.signal(ResetFlow.sig, "done again")
    await new.signal(ResetFlow.sig, "done")
    result = await new.result()
    assert result == {"results": ["0", "1", "2"], "signals": ["done again", "done"]}
    assert [CALLS[f"{key}/{i}"] for i in range(3)] == [1, 2, 2]
    # A closed base run stays as it was; it only names the new run.
    assert _types(await _events(client, handle.id, old_run)) == _types(old_events)
    assert (await _describe(client, handle.id, old_run)).workflow_extended_info.reset_run_id == (
        new_run
    )
    new_events = await _events(client, handle.id, new_run)
    prefix = second_task - 1
    assert new_events[:prefix] == old_events[:prefix]
    assert new_events[prefix].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    assert new_events[prefix + 1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED


async def test_reset_request_id_and_invalid_points(
    any_server: ServerProcess, official_client: Client, task_queue: str
) -> None:
    """No worker: the run waits with its first workflow task scheduled."""
    client = official_client
    wid = f"reset-{uuid.uuid4().hex[:10]}"
    handle = await client.start_workflow(ResetFlow.run, "k", id=wid, task_queue=task_queue)
    run_id = handle.result_run_id
    assert run_id
    with pytest.raises(RPCError) as err:
        await _reset(client, wid, run_id, 3, reason="no request id", request_id="")
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    for bad in (0, 1, 999):
        with pytest.raises(RPCError) as err:
            await _reset(client, wid, run_id, bad, reason="bad")
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    # Event 3 follows the scheduled (never started) first task: the reset starts it.
    await handle.signal(ResetFlow.sig, "early")
    request_id = str(uuid.uuid4())
    new_run = await _reset(client, wid, run_id, 3, reason="r", request_id=request_id)
    events = await _events(client, wid, new_run)
    assert _types(events)[:6] == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    ]
    assert events[2].workflow_task_started_event_attributes.identity == "history-service"
    if any_server.kind == "perdure":
        # A retried request returns the run it made. (Temporal 1.32 makes another run and
        # terminates the first: temporalio/temporal#12042 fixes that.)
        assert await _reset(client, wid, run_id, 3, reason="r", request_id=request_id) == new_run
    await client.get_workflow_handle(wid).terminate()


async def test_cli_reset(
    any_server: ServerProcess, official_client: Client, worker: Worker, task_queue: str
) -> None:
    client = official_client
    handle, _ = await _started_and_waiting(client, task_queue)
    old_run = handle.result_run_id
    assert old_run is not None

    async def cli(*args: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        env["TEMPORAL_CONFIG_FILE"] = os.devnull
        proc = await asyncio.create_subprocess_exec(
            str(TEMPORAL_BIN), *args, "--address", any_server.target,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, (out + err).decode()
        return out.decode()

    await cli(
        "workflow", "reset", "-w", handle.id, "--type", "FirstWorkflowTask", "--reason", "cli"
    )
    first = await client.get_workflow_handle(handle.id).describe()
    assert first.run_id != old_run
    events = await _events(client, handle.id, first.run_id)
    assert events[3].workflow_task_failed_event_attributes.base_run_id == old_run
    second_task = _completed_tasks(await _events(client, handle.id, old_run))[1]
    out = await cli(
        "workflow", "reset", "-w", handle.id, "-r", old_run, "--event-id", str(second_task),
        "--reason", "cli again", "--reapply-exclude", "Signal", "-o", "json",
    )  # fmt: skip
    data = json.loads(out) if out.strip().startswith("{") else {}
    latest = await client.get_workflow_handle(handle.id).describe()
    assert latest.run_id not in (old_run, first.run_id)
    if data:
        assert latest.run_id in json.dumps(data)
    # Resetting replaced the first reset's run, which the reset terminated.
    assert (await _describe(client, handle.id, first.run_id)).workflow_execution_info.status == 5
    new = client.get_workflow_handle(handle.id, run_id=latest.run_id)
    await new.signal(ResetFlow.sig, "done")
    assert (await new.result())["signals"] == ["done"]


@workflow.defn(name="ResetChild")
class ResetChild:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go)
        return "child-done"

    @workflow.signal(name="go")
    def go_signal(self) -> None:
        self.go = True


@workflow.defn(name="ResetParent")
class ResetParent:
    @workflow.run
    async def run(self, child_id: str) -> str:
        result: str = await workflow.execute_child_workflow(ResetChild.run, id=child_id)
        return result


async def test_reset_keeps_a_started_child_for_the_reset_run(
    official_client: Client, task_queue: str
) -> None:
    """A run a reset replaces applies no parent close policy (the child, TERMINATE by
    default, keeps running), and the child's outcome reaches the reset run, which took it
    over: the reset point lies after the child started."""
    client = official_client
    key = uuid.uuid4().hex[:10]
    child_id = f"reset-child-{key}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ResetParent, ResetChild],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            ResetParent.run, child_id, id=f"reset-parent-{key}", task_queue=task_queue
        )
        assert handle.result_run_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while True:  # the task after the child's start is done
            events = await _events(client, handle.id, handle.result_run_id)
            types = _types(events)
            if (
                EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED in types
                and types[-1] == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            ):
                break
            assert loop.time() < deadline, "the child did not start"
            await asyncio.sleep(0.05)
        last_task = _completed_tasks(events)[-1]
        new_run = await _reset(client, handle.id, handle.result_run_id, last_task)
        old = await _events(client, handle.id, handle.result_run_id)
        assert _types(old)[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
        await asyncio.sleep(1)  # time for a close policy, were one applied
        child = client.get_workflow_handle(child_id)
        assert (await child.describe()).status == WorkflowExecutionStatus.RUNNING
        await child.signal(ResetChild.go_signal)
        result = await client.get_workflow_handle(handle.id, run_id=new_run).result()
        assert result == "child-done"
        closed = (await child.fetch_history()).events[-1].event_type
        assert closed == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
