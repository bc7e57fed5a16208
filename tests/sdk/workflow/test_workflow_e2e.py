"""End to end through the public API: perdure.workflow code on Perdure's worker, real servers.

The scenario workflows (scenario_code.py) run on both servers; histories written by our
worker must replay in the official SDK's Replayer and in ours, and histories written by
the official worker must replay in ours.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
import temporalio.client
import temporalio.worker
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause

from perdure import workflow
from perdure.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from perdure.converter import DataConverter, PayloadCodec
from perdure.exceptions import ActivityError, ApplicationError, CancelledError
from perdure.worker import Replayer, Worker
from tests.sdk.workflow.conftest import ACTIVITIES
from tests.sdk.workflow.scenarios import load

S = load("perdure")
T = load("temporalio")
SCENARIOS = [
    S.Activities, S.Timers, S.Signals, S.Child, S.Parent, S.LocalActivities, S.Patches,
    S.Updates, S.Randomness, S.CancelActivity, S.ContinueAsNew, S.Failing, S.LocalFailures,
]  # fmt: skip
OFFICIAL = [getattr(T, cls.__name__) for cls in SCENARIOS]


@asynccontextmanager
async def _worker(
    client: Client, task_queue: str, *workflows: type, **kwargs: Any
) -> AsyncIterator[Worker]:
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows) or SCENARIOS,
        activities=ACTIVITIES,
        **kwargs,
    ) as worker:
        yield worker


async def _start(
    client: Client, task_queue: str, run: Any, *args: Any, **kw: Any
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        run, args=list(args), id=f"wf-{uuid.uuid4().hex[:10]}", task_queue=task_queue, **kw
    )


async def _signals(client: Client, tq: str) -> tuple[WorkflowHandle[Any, Any], Any]:
    handle = await _start(client, tq, S.Signals.run)
    await handle.signal(S.Signals.add, "one")
    assert await handle.query(S.Signals.count) == 1
    await handle.signal(S.Signals.add, "two")
    return handle, ["one", "two"]


async def _updates(client: Client, tq: str) -> tuple[WorkflowHandle[Any, Any], Any]:
    handle = await _start(client, tq, S.Updates.run)
    assert await handle.execute_update(S.Updates.add, 2) == 2
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update(S.Updates.add, -1)
    assert isinstance(info.value.cause, ApplicationError) and info.value.cause.message == "negative"
    assert await handle.execute_update(S.Updates.add, 3) == 5
    assert await handle.execute_update(S.Updates.finish) == 5
    return handle, 5


def _simple(run: Any, expected: Any, *args: Any) -> Callable[[Client, str], Awaitable[Any]]:
    async def drive(client: Client, tq: str) -> tuple[WorkflowHandle[Any, Any], Any]:
        return await _start(client, tq, run, *args), expected

    return drive


CASES: dict[str, Callable[[Client, str], Awaitable[Any]]] = {
    "activities": _simple(S.Activities.run, ["hello x", "hello a", "hello b"], "x"),
    "signals": _signals,
    "parent": _simple(S.Parent.run, "ababc"),
    "local_activities": _simple(S.LocalActivities.run, ["hello local", "hello again"]),
    "patches": _simple(S.Patches.run, ["patched", "hello p"]),
    "updates": _updates,
    "cancel_activity": _simple(S.CancelActivity.run, "ActivityError:CancelledError"),
    "continue_as_new": _simple(S.ContinueAsNew.run, 0, 2),
    "local_failures": _simple(
        S.LocalFailures.run, ["ApplicationError:NoneType", "ActivityError:TimeoutError"]
    ),
}


MISSING: dict[str, str] = {}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=[pytest.mark.perdure_missing(MISSING[n])] if n in MISSING else [])
        for n in sorted(CASES)
    ],
)
async def test_scenario_on_any_server(any_client: Client, task_queue: str, name: str) -> None:
    async with _worker(any_client, task_queue):
        handle, expected = await CASES[name](any_client, task_queue)
        assert await asyncio.wait_for(handle.result(), 30) == expected


async def test_timers_use_workflow_time(client: Client, task_queue: str) -> None:
    async with _worker(client, task_queue):
        elapsed = await (await _start(client, task_queue, S.Timers.run)).result()
    assert elapsed >= 0.3


async def test_randomness_is_deterministic_and_replays(client: Client, task_queue: str) -> None:
    async with _worker(client, task_queue):
        handle = await _start(client, task_queue, S.Randomness.run)
        value, ident = await handle.result()
    assert 0 <= value <= 1_000_000 and uuid.UUID(ident).version == 4
    await Replayer(workflows=SCENARIOS).replay_workflow(await handle.fetch_history())


async def test_workflow_failure_carries_application_error(client: Client, task_queue: str) -> None:
    async with _worker(client, task_queue):
        handle = await _start(client, task_queue, S.Failing.run)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == "activity failed" and cause.details == ("ActivityError",)
    assert cause.non_retryable
    assert isinstance(cause.__cause__, ActivityError)


async def test_histories_we_write_replay_in_both_sdks(client: Client, task_queue: str) -> None:
    histories = []
    async with _worker(client, task_queue):
        for name in sorted(CASES):
            handle, _ = await CASES[name](client, task_queue)
            await handle.result()
            histories.append(await handle.fetch_history())
        for run in (S.Timers.run, S.Randomness.run, S.Failing.run):
            handle = await _start(client, task_queue, run)
            with contextlib.suppress(WorkflowFailureError):
                await handle.result()
            histories.append(await handle.fetch_history())
    ours = await Replayer(workflows=SCENARIOS).replay_workflows(histories)
    assert ours.replay_failures == {}
    official = temporalio.worker.Replayer(
        workflows=OFFICIAL, workflow_runner=temporalio.worker.UnsandboxedWorkflowRunner()
    )
    for history in histories:
        converted = temporalio.client.WorkflowHistory(history.workflow_id, list(history.events))
        await official.replay_workflow(converted)


async def test_official_worker_histories_replay_in_ours(
    temporal_server: Any, task_queue: str
) -> None:
    official_client = await temporalio.client.Client.connect(temporal_server.target)
    from tests.sdk.workflow import gen_histories

    async with temporalio.worker.Worker(
        official_client,
        task_queue=task_queue,
        workflows=OFFICIAL,
        activities=[gen_histories.greet, gen_histories.slow, gen_histories.fail],
        workflow_runner=temporalio.worker.UnsandboxedWorkflowRunner(),
    ):
        handles = []
        for run, args in ((T.Activities.run, ["x"]), (T.Parent.run, []), (T.Patches.run, [])):
            handles.append(
                await official_client.start_workflow(
                    run, args=args, id=f"wf-{uuid.uuid4().hex[:10]}", task_queue=task_queue
                )
            )
        for handle in handles:
            await handle.result()
    from perdure.client import WorkflowHistory

    replayer = Replayer(workflows=SCENARIOS)
    for handle in handles:
        history = await handle.fetch_history()
        await replayer.replay_workflow(WorkflowHistory(history.workflow_id, list(history.events)))


@workflow.defn(name="Versioned")
class VersionOne:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        first = await workflow.execute_activity(
            "greet", "one", start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: self.go)
        return first

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@workflow.defn(name="Versioned")
class VersionTwo(VersionOne):
    @workflow.run
    async def run(self) -> str:
        first = await workflow.execute_activity(
            "greet", "two", start_to_close_timeout=timedelta(seconds=10), activity_id="changed"
        )
        await workflow.wait_condition(lambda: self.go)
        return first

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


async def test_nondeterminism_fails_the_task_and_leaves_history_intact(
    any_client: Client, task_queue: str
) -> None:
    async with _worker(any_client, task_queue, VersionOne, max_cached_workflows=0):
        handle = await _start(any_client, task_queue, VersionOne.run)
        await _wait_for_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    before = len((await handle.fetch_history()).events)
    async with _worker(any_client, task_queue, VersionTwo, max_cached_workflows=0):
        await handle.signal(VersionOne.proceed)
        failed = await _wait_for_event(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
    attrs = failed.workflow_task_failed_event_attributes
    assert attrs.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
    message = attrs.failure.message
    assert "workflow Versioned" in message and handle.id in message
    assert "ActivityTaskScheduled" in message and "activity_id='changed'" in message
    history = await handle.fetch_history()
    recorded = [e.event_type for e in history.events[before:]]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in recorded
    async with _worker(any_client, task_queue, VersionOne, max_cached_workflows=0):
        assert await asyncio.wait_for(handle.result(), 30) == "hello one"


async def _wait_for_event(handle: WorkflowHandle[Any, Any], kind: int) -> Any:
    for _ in range(200):
        for event in (await handle.fetch_history()).events:
            if event.event_type == kind:
                return event
        await asyncio.sleep(0.05)
    raise AssertionError(f"event {kind} never recorded")


@workflow.defn(name="LongLocal")
class LongLocal:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_local_activity(
            "nap", seconds, start_to_close_timeout=timedelta(seconds=30)
        )


async def test_long_local_activity_heartbeats_the_workflow_task(
    any_client: Client, task_queue: str
) -> None:
    async with _worker(any_client, task_queue, LongLocal):
        handle = await _start(
            any_client, task_queue, LongLocal.run, 2.2, task_timeout=timedelta(seconds=2)
        )
        assert await asyncio.wait_for(handle.result(), 30) == "slept 2.2"
    history = await handle.fetch_history()
    completed = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    assert len(completed) >= 2  # at least one heartbeat before the marker
    assert not any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in history.events
    )
    await Replayer(workflows=[LongLocal]).replay_workflow(history)


@workflow.defn(name="Cancellable")
class Cancellable:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity("slow", start_to_close_timeout=timedelta(seconds=30),
                                            heartbeat_timeout=timedelta(seconds=2))  # fmt: skip
        except ActivityError as err:
            assert isinstance(err.cause, CancelledError)
            raise
        return "not cancelled"


async def test_cancelling_a_workflow_cancels_its_activity(
    any_client: Client, task_queue: str
) -> None:
    async with _worker(any_client, task_queue, Cancellable):
        handle = await _start(any_client, task_queue, Cancellable.run)
        await _wait_for_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), 30)
    assert isinstance(info.value.cause, CancelledError)
    history = await handle.fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED


async def test_query_after_close_replays_the_history(client: Client, task_queue: str) -> None:
    async with _worker(client, task_queue):
        handle, expected = await _signals(client, task_queue)
        assert await handle.result() == expected
        assert await handle.query(S.Signals.count) == 2


class Base64Codec(PayloadCodec):
    """Wraps each payload in another one: proves every payload crosses the codec."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={"encoding": b"binary/b64"}, data=base64.b64encode(p.SerializeToString())
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") == b"binary/b64":
                out.append(Payload.FromString(base64.b64decode(p.data)))
            else:
                out.append(p)
        return out


async def test_payload_codec_applies_to_history_and_commands(
    temporal_server: Any, task_queue: str
) -> None:
    converter = dataclasses.replace(DataConverter.default, payload_codec=Base64Codec())
    codec_client = await Client.connect(temporal_server.target, data_converter=converter)
    async with _worker(codec_client, task_queue):
        handle, expected = await CASES["updates"](codec_client, task_queue)
        assert await handle.result() == expected
        activities = await _start(codec_client, task_queue, S.Activities.run, "c")
        assert await activities.result() == ["hello c", "hello a", "hello b"]
    history = await activities.fetch_history()
    scheduled = next(
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )
    encoding = scheduled.activity_task_scheduled_event_attributes.input.payloads[0].metadata
    assert encoding["encoding"] == b"binary/b64"
    await Replayer(workflows=SCENARIOS, data_converter=converter).replay_workflow(history)


async def test_eager_workflow_start_runs_the_first_task_in_process(
    client: Client, task_queue: str
) -> None:
    async with _worker(client, task_queue) as worker:
        workflow_worker = worker._workflow_worker
        assert workflow_worker is not None
        eager: list[Any] = []
        handle_task = workflow_worker.handle_eager_workflow_task

        def spy(task: Any) -> None:
            eager.append(task)
            handle_task(task)

        workflow_worker.handle_eager_workflow_task = spy  # type: ignore[method-assign]
        handle = await _start(client, task_queue, S.Patches.run, request_eager_start=True)
        assert await handle.result() == ["patched", "hello p"]
    assert len(eager) == 1 and eager[0].workflow_execution.workflow_id == handle.id
