"""Workflow API features end to end on the real server: handlers, external workflows,
children, memo and search attributes, shields, paging, local activity retries.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from perdure import workflow
from perdure.client import Client, WorkflowFailureError, WorkflowHandle
from perdure.common import RawValue, RetryPolicy, SearchAttributeKey
from perdure.exceptions import ApplicationError, CancelledError, ChildWorkflowError
from perdure.worker import Replayer, Worker
from tests.sdk.workflow.conftest import ACTIVITIES

SHORT = timedelta(seconds=10)


@workflow.defn
class Target:
    def __init__(self) -> None:
        self.received: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        try:
            await workflow.wait_condition(lambda: "stop" in self.received)
        except asyncio.CancelledError:
            return [*self.received, "cancelled"]
        return self.received

    @workflow.signal
    def note(self, value: str) -> None:
        self.received.append(value)


@workflow.defn
class Caller:
    @workflow.run
    async def run(self, target_id: str, cancel: bool) -> str:
        handle = workflow.get_external_workflow_handle_for(Target.run, target_id)
        await handle.signal(Target.note, "from caller")
        if cancel:
            await handle.cancel()
        else:
            await handle.signal("note", "stop")
        try:
            await workflow.get_external_workflow_handle("no-such-workflow").signal("note", "x")
        except ApplicationError as err:
            return f"{err.type}: {err.message}"
        return "signal to a missing workflow succeeded"


@workflow.defn
class Introspect:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        info = workflow.info()
        workflow.upsert_memo({"color": "blue", "gone": None})
        workflow.upsert_search_attributes(
            [SearchAttributeKey.for_keyword("PerdureWorkflowKeyword").value_set("kw")]
        )
        return {
            "workflow_type": info.workflow_type,
            "task_queue": info.task_queue,
            "attempt": info.attempt,
            "memo": dict(workflow.memo()),
            "memo_value": workflow.memo_value("start", type_hint=str),
            "typed": info.typed_search_attributes.get(
                SearchAttributeKey.for_keyword("PerdureWorkflowKeyword")
            ),
            "in_workflow": workflow.in_workflow(),
            "instance": type(workflow.instance()).__name__,
            "now_matches_time": abs(workflow.now().timestamp() - workflow.time()) < 1e-3,
        }


@workflow.defn
class Dynamic:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        workflow.set_query_handler("count", lambda: len(self.seen))
        await workflow.sleep(0.01)  # signals sent before this point are buffered

        def on_signal(name: str, args: Sequence[RawValue]) -> None:
            value = workflow.payload_converter().from_payload(args[0].payload, str)
            self.seen.append(f"{name}={value}")

        workflow.set_dynamic_signal_handler(on_signal)

        async def finish() -> str:
            info = workflow.current_update_info()
            assert info is not None
            self.done = True
            return info.name

        workflow.set_update_handler("finish", finish)
        await workflow.wait_condition(lambda: self.done and workflow.all_handlers_finished())
        return self.seen


@workflow.defn
class Napper:
    @workflow.run
    async def run(self) -> str:
        await asyncio.sleep(3600)
        return "woke up"


@workflow.defn
class ParentOfNapper:
    @workflow.run
    async def run(self, mode: int) -> str:
        child = await workflow.start_child_workflow(
            Napper.run,
            id=f"{workflow.info().workflow_id}-napper",
            cancellation_type=workflow.ChildWorkflowCancellationType(mode),
        )
        await workflow.sleep(0.01)
        child.cancel()
        try:
            await child
        except ChildWorkflowError as err:
            return f"{type(err.cause).__name__}"
        return "not cancelled"


@workflow.defn
class Shielded:
    @workflow.run
    async def run(self) -> str:
        try:
            return await asyncio.shield(
                workflow.execute_activity("nap", 0.3, start_to_close_timeout=SHORT)
            )
        except asyncio.CancelledError:
            return "cancelled"


@workflow.defn
class LocalRetry:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_local_activity(
                "fail",
                start_to_close_timeout=SHORT,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=10), maximum_attempts=3
                ),
            )
        except ApplicationError as err:
            return f"{err.message} after retries"
        return "no failure"


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self, expected: int) -> int:
        await workflow.wait_condition(lambda: self.count >= expected)
        return self.count

    @workflow.signal
    def bump(self) -> None:
        self.count += 1


WORKFLOWS = [
    Target,
    Caller,
    Introspect,
    Dynamic,
    Napper,
    ParentOfNapper,
    Shielded,
    LocalRetry,
    Counter,
]


async def _start(
    client: Client, tq: str, run: Any, *args: Any, **kw: Any
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        run, args=list(args), id=f"wf-{uuid.uuid4().hex[:10]}", task_queue=tq, **kw
    )


def _worker(client: Client, tq: str, **kw: Any) -> Worker:
    return Worker(client, task_queue=tq, workflows=WORKFLOWS, activities=ACTIVITIES, **kw)


@pytest.mark.parametrize("cancel", [False, True])
async def test_external_signal_and_cancel(client: Client, task_queue: str, cancel: bool) -> None:
    async with _worker(client, task_queue):
        target = await _start(client, task_queue, Target.run)
        caller = await _start(client, task_queue, Caller.run, target.id, cancel)
        assert "not found" in await caller.result()
        expected = ["from caller", "cancelled"] if cancel else ["from caller", "stop"]
        assert await target.result() == expected
        await Replayer(workflows=WORKFLOWS).replay_workflow(await caller.fetch_history())


async def _ensure_keyword_attribute(client: Client) -> None:
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from perdure.service import RPCError

    request = AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={"PerdureWorkflowKeyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
    )
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as err:
        if "already" not in str(err).lower():
            raise
    for _ in range(100):  # the dev server applies the mapping asynchronously
        from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        if "PerdureWorkflowKeyword" in listed.custom_attributes:
            return
        await asyncio.sleep(0.1)


async def test_info_memo_and_search_attributes(client: Client, task_queue: str) -> None:
    await _ensure_keyword_attribute(client)
    async with _worker(client, task_queue):
        handle = await _start(client, task_queue, Introspect.run, memo={"start": "red"})
        result = await handle.result()
    assert result == {
        "workflow_type": "Introspect",
        "task_queue": task_queue,
        "attempt": 1,
        "memo": {"start": "red", "color": "blue"},
        "memo_value": "red",
        "typed": "kw",
        "in_workflow": True,
        "instance": "Introspect",
        "now_matches_time": True,
    }
    description = await handle.describe()
    assert await description.memo_value("color") == "blue"


async def test_dynamic_handlers_buffered_signals_and_update_info(
    client: Client, task_queue: str
) -> None:
    async with _worker(client, task_queue):
        handle = await _start(client, task_queue, Dynamic.run)
        await handle.signal("early", "1")
        await handle.signal("later", "2")
        for _ in range(100):
            if await handle.query("count") == 2:
                break
            await asyncio.sleep(0.1)
        assert await handle.execute_update("finish") == "finish"
        assert await handle.result() == ["early=1", "later=2"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (workflow.ChildWorkflowCancellationType.TRY_CANCEL, "CancelledError"),
        (workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED, "CancelledError"),
        (workflow.ChildWorkflowCancellationType.ABANDON, "CancelledError"),
    ],
)
async def test_child_cancellation_types(
    client: Client, task_queue: str, mode: int, expected: str
) -> None:
    async with _worker(client, task_queue):
        parent = await _start(client, task_queue, ParentOfNapper.run, int(mode))
        assert await asyncio.wait_for(parent.result(), 30) == expected
        child = client.get_workflow_handle(f"{parent.id}-napper")
        status = (await child.describe()).status
    assert status is not None
    if mode == workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED:
        assert status.name == "CANCELED"  # the parent waited for it
    elif mode == workflow.ChildWorkflowCancellationType.TRY_CANCEL:
        assert status.name in ("CANCELED", "TERMINATED")  # cancel races the parent's close
    else:
        assert status.name == "TERMINATED"  # never asked to cancel; parent close terminates


async def test_shielded_activity_survives_workflow_cancellation(
    client: Client, task_queue: str
) -> None:
    async with _worker(client, task_queue):
        handle = await _start(client, task_queue, Shielded.run)
        await asyncio.sleep(0.1)
        await handle.cancel()
        assert await handle.result() == "cancelled"
    history = await handle.fetch_history()
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED not in kinds


async def test_local_activity_retries_locally(client: Client, task_queue: str) -> None:
    async with _worker(client, task_queue):
        handle = await _start(client, task_queue, LocalRetry.run)
        assert await handle.result() == "activity boom after retries"
    history = await handle.fetch_history()
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert len(markers) == 1  # three attempts, one marker
    assert (
        b'"attempt":3'
        in markers[0].marker_recorded_event_attributes.details["data"].payloads[0].data
    )
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def test_history_longer_than_a_page_is_fetched(client: Client, task_queue: str) -> None:
    handle = await _start(client, task_queue, Counter.run, 300)
    await asyncio.gather(*(handle.signal(Counter.bump) for _ in range(300)))
    async with _worker(client, task_queue):
        assert await asyncio.wait_for(handle.result(), 60) == 300


async def test_workflow_failure_from_cancelled_activity_is_cancellation(
    client: Client, task_queue: str
) -> None:
    async with _worker(client, task_queue):
        handle = await _start(client, task_queue, Target.run)
        await handle.cancel()
        assert await handle.result() == ["cancelled"]
        handle = await _start(client, task_queue, Napper.run)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, CancelledError)
