"""The activity worker against a server: results, failures, retries, heartbeats,
cancellation, timeouts, thread and process activities, async completion.

Workflows run on an official temporalio worker (workflows only); activities on ours.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import temporalio.activity
import temporalio.client
import temporalio.exceptions
import temporalio.worker
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure

from perdure import activity
from perdure.common import RawValue
from perdure.exceptions import ApplicationError
from perdure.service import WorkflowService
from perdure.worker import SharedStateManager
from tests.sdk.worker import activities as acts
from tests.sdk.worker.conftest import connect_any, running_activity_worker, workflow_worker
from tests.servers import ServerProcess

_connections: dict[str, tuple[temporalio.client.Client, WorkflowService]] = {}


@pytest.fixture
async def server(any_server: ServerProcess) -> tuple[temporalio.client.Client, WorkflowService]:
    if any_server.target not in _connections:
        _connections[any_server.target] = await connect_any(any_server)
    return _connections[any_server.target]


async def run_call(
    client: temporalio.client.Client, task_queue: str, call: acts.ActivityCall
) -> Any:
    async with workflow_worker(client, task_queue, [acts.CallActivity]):
        return await client.execute_workflow(
            acts.CallActivity.run,
            call,
            id=f"wf-{uuid.uuid4().hex[:12]}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )


async def activity_failure(
    client: temporalio.client.Client, task_queue: str, call: acts.ActivityCall
) -> BaseException:
    """Run the call and return the activity's failure cause as the workflow saw it."""
    with pytest.raises(temporalio.client.WorkflowFailureError) as failure:
        await run_call(client, task_queue, call)
    activity_error = failure.value.cause
    assert isinstance(activity_error, temporalio.exceptions.ActivityError)
    assert activity_error.cause is not None
    return activity_error.cause


# --------------------------------------------------------------------------- results


@dataclass
class Greeting:
    greeting: str
    name: str


@activity.defn
async def greet(greeting: Greeting, times: int) -> str:
    return ", ".join([f"{greeting.greeting} {greeting.name}"] * times)


@activity.defn(name="info-echo")
def info_echo() -> dict[str, Any]:
    info = activity.info()
    return {
        "type": info.activity_type,
        "attempt": info.attempt,
        "in_workflow": info.in_workflow,
        "task_queue": info.task_queue,
        "local": info.is_local,
        "thread": threading.current_thread().name,
    }


@activity.defn(dynamic=True)
async def dynamic_echo(args: Sequence[RawValue]) -> list[Any]:
    converter = activity.payload_converter()
    return [activity.info().activity_type, *(converter.from_payload(a.payload) for a in args)]


async def test_async_activity_result(server: Any, task_queue: str) -> None:
    client, service = server
    async with running_activity_worker(service, task_queue, [greet]):
        result = await run_call(
            client,
            task_queue,
            acts.ActivityCall("greet", [{"greeting": "Hello", "name": "Ada"}, 2]),
        )
    assert result == "Hello Ada, Hello Ada"


async def test_sync_activity_runs_in_thread_executor(server: Any, task_queue: str) -> None:
    client, service = server
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="act") as executor:
        async with running_activity_worker(
            service, task_queue, [info_echo], activity_executor=executor
        ):
            result = await run_call(client, task_queue, acts.ActivityCall("info-echo"))
    assert result["type"] == "info-echo"
    assert result["attempt"] == 1
    assert result["in_workflow"] is True
    assert result["task_queue"] == task_queue
    assert result["local"] is False
    assert result["thread"].startswith("act")


async def test_dynamic_activity(server: Any, task_queue: str) -> None:
    client, service = server
    async with running_activity_worker(service, task_queue, [dynamic_echo]):
        result = await run_call(client, task_queue, acts.ActivityCall("anything", ["a", 2]))
    assert result == ["anything", "a", 2]


async def test_unregistered_activity_fails_not_found(server: Any, task_queue: str) -> None:
    client, service = server
    async with running_activity_worker(service, task_queue, [greet]):
        cause = await activity_failure(client, task_queue, acts.ActivityCall("missing"))
    assert isinstance(cause, temporalio.exceptions.ApplicationError)
    assert cause.type == "NotFoundError"
    assert "Activity function missing for workflow" in cause.message
    assert "available activities: greet" in cause.message


# --------------------------------------------------------------------------- failures


@activity.defn(name="fail-typed")
async def fail_typed_ours() -> None:
    try:
        raise ValueError("root cause")
    except ValueError as err:
        raise ApplicationError(
            "boom",
            {"k": 1},
            "two",
            type="MyType",
            non_retryable=True,
            next_retry_delay=timedelta(seconds=3),
        ) from err


@temporalio.activity.defn(name="fail-typed")
async def fail_typed_theirs() -> None:
    try:
        raise ValueError("root cause")
    except ValueError as err:
        raise temporalio.exceptions.ApplicationError(
            "boom",
            {"k": 1},
            "two",
            type="MyType",
            non_retryable=True,
            next_retry_delay=timedelta(seconds=3),
        ) from err


@activity.defn(name="fail-plain")
async def fail_plain_ours() -> None:
    raise KeyError("plain")


@temporalio.activity.defn(name="fail-plain")
async def fail_plain_theirs() -> None:
    raise KeyError("plain")


def _scrub(failure: Failure) -> Failure:
    """Drop what legitimately differs between SDKs: stack traces."""
    copy = Failure()
    copy.CopyFrom(failure)
    node: Failure | None = copy
    while node is not None:
        node.stack_trace = ""
        node = node.cause if node.HasField("cause") else None
    return copy


async def _failed_event_failure(client: temporalio.client.Client, workflow_id: str) -> Failure:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            return event.activity_task_failed_event_attributes.failure
    raise AssertionError("no ActivityTaskFailed event")


@pytest.mark.parametrize("name", ["fail-typed", "fail-plain"])
async def test_failure_encoding_matches_official_sdk(server: Any, name: str) -> None:
    client, service = server
    ours_tq, theirs_tq = f"ours-{uuid.uuid4().hex[:8]}", f"theirs-{uuid.uuid4().hex[:8]}"
    ours_id, theirs_id = f"wf-{uuid.uuid4().hex[:12]}", f"wf-{uuid.uuid4().hex[:12]}"
    theirs_act = {"fail-typed": fail_typed_theirs, "fail-plain": fail_plain_theirs}[name]
    ours_act = {"fail-typed": fail_typed_ours, "fail-plain": fail_plain_ours}[name]
    call = acts.ActivityCall(name)
    async with (
        running_activity_worker(service, ours_tq, [ours_act]),
        workflow_worker(client, ours_tq, [acts.CallActivity]),
        temporalio.worker.Worker(
            client,
            task_queue=theirs_tq,
            workflows=[acts.CallActivity],
            activities=[theirs_act],
            workflow_runner=temporalio.worker.UnsandboxedWorkflowRunner(),
        ),
    ):
        for workflow_id, tq in ((ours_id, ours_tq), (theirs_id, theirs_tq)):
            with pytest.raises(temporalio.client.WorkflowFailureError):
                await client.execute_workflow(
                    acts.CallActivity.run, call, id=workflow_id, task_queue=tq
                )
    ours = await _failed_event_failure(client, ours_id)
    theirs = await _failed_event_failure(client, theirs_id)
    assert ours.stack_trace  # we do send one
    assert _scrub(ours) == _scrub(theirs)


# --------------------------------------------------------------------------- retries


@activity.defn
async def flaky_with_progress() -> list[Any]:
    info = activity.info()
    activity.heartbeat(f"progress-{info.attempt}")
    if info.attempt < 3:
        raise RuntimeError(f"attempt {info.attempt} fails")
    return [info.attempt, *info.heartbeat_details]


async def test_retry_sees_heartbeat_details(server: Any, task_queue: str) -> None:
    client, service = server
    async with running_activity_worker(service, task_queue, [flaky_with_progress]):
        result = await run_call(
            client,
            task_queue,
            acts.ActivityCall("flaky_with_progress", max_attempts=3, heartbeat_timeout_ms=5000),
        )
    assert result == [3, "progress-2"]


@activity.defn
async def throttled_heartbeats() -> list[Any]:
    if activity.info().attempt == 1:
        # Only the first goes out at once; the last is flushed when the attempt fails.
        for i in range(20):
            activity.heartbeat(i)
            await asyncio.sleep(0.01)
        raise RuntimeError("retry me")
    return list(activity.info().heartbeat_details)


async def test_failure_flushes_throttled_heartbeat(server: Any, task_queue: str) -> None:
    client, service = server
    async with running_activity_worker(service, task_queue, [throttled_heartbeats]):
        result = await run_call(
            client,
            task_queue,
            acts.ActivityCall("throttled_heartbeats", max_attempts=2, heartbeat_timeout_ms=10_000),
        )
    assert result == [19]


# --------------------------------------------------------------------------- cancellation


@activity.defn
async def heartbeat_until_cancelled() -> str:
    while True:
        activity.heartbeat()
        try:
            await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            assert details is not None and details.cancel_requested
            raise


@activity.defn
def sync_heartbeat_until_cancelled() -> str:
    while True:
        activity.heartbeat()
        time.sleep(0.05)


async def _assert_cancelled(client: temporalio.client.Client, task_queue: str, name: str) -> None:
    cause = await activity_failure(
        client,
        task_queue,
        acts.ActivityCall(name, heartbeat_timeout_ms=1000, cancel_after_ms=500),
    )
    assert isinstance(cause, temporalio.exceptions.CancelledError)


async def test_cancel_async_activity_via_heartbeat(server: Any, task_queue: str) -> None:
    client, service = server
    async with running_activity_worker(service, task_queue, [heartbeat_until_cancelled]):
        await _assert_cancelled(client, task_queue, "heartbeat_until_cancelled")


async def test_cancel_thread_activity_raises_in_thread(server: Any, task_queue: str) -> None:
    client, service = server
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        async with running_activity_worker(
            service, task_queue, [sync_heartbeat_until_cancelled], activity_executor=executor
        ):
            await _assert_cancelled(client, task_queue, "sync_heartbeat_until_cancelled")


@activity.defn
async def outlive_heartbeat_timeout() -> str:
    activity.heartbeat()
    await asyncio.sleep(2.5)  # past the 1 s heartbeat timeout: the server forgets us
    try:
        activity.heartbeat()
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        details = activity.cancellation_details()
        _observed["not_found"] = bool(details and details.not_found)
        raise
    return "not cancelled"


_observed: dict[str, Any] = {}


async def test_heartbeat_after_timeout_cancels_not_found(server: Any, task_queue: str) -> None:
    client, service = server
    _observed.clear()
    async with running_activity_worker(service, task_queue, [outlive_heartbeat_timeout]):
        cause = await activity_failure(
            client,
            task_queue,
            acts.ActivityCall("outlive_heartbeat_timeout", heartbeat_timeout_ms=1000),
        )
        assert isinstance(cause, temporalio.exceptions.TimeoutError)
        assert cause.type == temporalio.exceptions.TimeoutType.HEARTBEAT
        for _ in range(100):
            if "not_found" in _observed:
                break
            await asyncio.sleep(0.05)
    assert _observed == {"not_found": True}


# --------------------------------------------------------------------------- processes


async def test_process_pool_activity_heartbeats_and_cancel(server: Any, task_queue: str) -> None:
    client, service = server
    ctx = multiprocessing.get_context("spawn")
    with (
        ctx.Manager() as manager,
        concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as executor,
    ):
        shared = SharedStateManager.create_from_multiprocessing(manager)
        async with running_activity_worker(
            service,
            task_queue,
            [acts.process_echo, acts.process_heartbeat_until_cancelled],
            activity_executor=executor,
            shared_state_manager=shared,
        ):
            echoed = await run_call(client, task_queue, acts.ActivityCall("process_echo", ["hi"]))
            assert echoed == "hi from process_echo attempt 1"
            # Cancellation crosses the process boundary through the manager event; the
            # activity returns normally, so the workflow sees a result, not a failure.
            result = await run_call(
                client,
                task_queue,
                acts.ActivityCall(
                    "process_heartbeat_until_cancelled",
                    [20],
                    heartbeat_timeout_ms=2000,
                    cancel_after_ms=1500,
                ),
            )
    assert result == "saw cancel in process"


# --------------------------------------------------------------------------- async completion


_tokens: asyncio.Queue[bytes] = asyncio.Queue()


@activity.defn
async def complete_later() -> str:
    _tokens.put_nowait(activity.info().task_token)
    activity.raise_complete_async()


async def test_async_completion(server: Any, task_queue: str) -> None:
    client, service = server
    async with (
        running_activity_worker(service, task_queue, [complete_later]),
        workflow_worker(client, task_queue, [acts.CallActivity]),
    ):
        handle = await client.start_workflow(
            acts.CallActivity.run,
            acts.ActivityCall("complete_later"),
            id=f"wf-{uuid.uuid4().hex[:12]}",
            task_queue=task_queue,
        )
        token = await asyncio.wait_for(_tokens.get(), 20)
        await client.get_async_activity_handle(task_token=token).complete("done later")
        assert await handle.result() == "done later"


# --------------------------------------------------------------------------- concurrency


_spans: list[tuple[float, float]] = []


@activity.defn
async def record_span() -> None:
    start = time.monotonic()
    await asyncio.sleep(0.3)
    _spans.append((start, time.monotonic()))


@temporalio.workflow.defn
class TwoAtOnce:
    @temporalio.workflow.run
    async def run(self) -> None:
        await asyncio.gather(
            *(
                temporalio.workflow.execute_activity(
                    "record_span", start_to_close_timeout=timedelta(seconds=20)
                )
                for _ in range(2)
            )
        )


async def test_max_concurrent_activities_is_respected(server: Any, task_queue: str) -> None:
    client, service = server
    _spans.clear()
    async with (
        running_activity_worker(service, task_queue, [record_span], max_concurrent_activities=1),
        workflow_worker(client, task_queue, [TwoAtOnce]),
    ):
        await client.execute_workflow(
            TwoAtOnce.run, id=f"wf-{uuid.uuid4().hex[:12]}", task_queue=task_queue
        )
    (_, first_end), (second_start, _) = sorted(_spans)
    assert second_start >= first_end


# --------------------------------------------------------------------------- shutdown


_shutdown_seen: dict[str, Any] = {}


@activity.defn
async def wait_for_shutdown() -> str:
    _shutdown_seen["started"] = True
    await activity.wait_for_worker_shutdown()
    _shutdown_seen["shutdown"] = True
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        details = activity.cancellation_details()
        _shutdown_seen["worker_shutdown"] = bool(details and details.worker_shutdown)
        raise
    return "unreachable"


async def test_shutdown_cancels_after_grace_and_reports_worker_shutdown(
    server: Any, task_queue: str
) -> None:
    client, service = server
    _shutdown_seen.clear()
    async with workflow_worker(client, task_queue, [acts.CallActivity]):
        handle = await client.start_workflow(
            acts.CallActivity.run,
            acts.ActivityCall("wait_for_shutdown", max_attempts=2, initial_interval_ms=60_000),
            id=f"wf-{uuid.uuid4().hex[:12]}",
            task_queue=task_queue,
        )
        async with running_activity_worker(
            service,
            task_queue,
            [wait_for_shutdown],
            graceful_shutdown_timeout=timedelta(milliseconds=300),
        ):
            for _ in range(200):
                if _shutdown_seen.get("started"):
                    break
                await asyncio.sleep(0.05)
        started = time.monotonic()
        # Leaving the block shut the worker down: grace, then cancel, then report.
        assert _shutdown_seen == {"started": True, "shutdown": True, "worker_shutdown": True}
        for _ in range(100):
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].HasField("last_failure"):
                break
            await asyncio.sleep(0.05)
        failure = pending[0].last_failure
        assert failure.application_failure_info.type == "WorkerShutdown"
        assert failure.message == (
            "Worker is shutting down and this activity did not complete in time"
        )
        assert time.monotonic() - started < 10
        await handle.terminate()
