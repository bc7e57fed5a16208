"""One attempt, end to end, against a scripted service: responses, interceptors, eager
and local activities, cancellation reasons, local timeouts and the poll request."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import ActivityTaskFailedCause, TaskQueueKind
from temporalio.api.workflowservice.v1 import RecordActivityTaskHeartbeatResponse

import perdure.worker._activity as activity_worker_module
from perdure import activity
from perdure.converter import DataConverter, PayloadCodec
from perdure.exceptions import ApplicationError
from perdure.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)
from perdure.worker._activity import _ActivityWorker
from tests.sdk.worker.conftest import make_activity_worker
from tests.sdk.worker.fake_service import FakeService, activity_task


@asynccontextmanager
async def started(
    service: FakeService, *acts: Any, **kwargs: Any
) -> AsyncIterator[_ActivityWorker]:
    worker = make_activity_worker(service, "tq", list(acts), **kwargs)  # type: ignore[arg-type]
    run = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.initiate_shutdown()
        await run
        await worker.wait_all_completed()


async def wait_responded(service: FakeService) -> None:
    await asyncio.wait_for(service.responded.wait(), 5)


@activity.defn
async def add(a: int, b: int) -> int:
    return a + b


@activity.defn
async def fails() -> None:
    raise ApplicationError("no", type="Bad", non_retryable=True)


@activity.defn
async def sleeps_until_cancelled() -> str:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        details = activity.cancellation_details()
        return f"cancelled: {details}"
    return "slept"


@activity.defn
async def heartbeats_forever() -> None:
    while True:
        activity.heartbeat("hb")
        await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- polls


async def test_poll_request_shape() -> None:
    service = FakeService()
    async with started(
        service, add, max_concurrent_activities=3, max_task_queue_activities_per_second=7.5
    ):
        await asyncio.sleep(0.05)
    # Each poller takes a slot first: never more polls than slots.
    assert len(service.polls) == 3
    poll = service.polls[0]
    assert poll.namespace == "default"
    assert poll.task_queue.name == "tq"
    assert poll.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    assert poll.identity.endswith("@perdure-tests")
    assert poll.worker_instance_key
    assert poll.worker_version_capabilities.build_id == "perdure-test-build"
    assert poll.task_queue_metadata.max_tasks_per_second.value == 7.5


async def test_default_pollers_is_five() -> None:
    service = FakeService()
    async with started(service, add):
        await asyncio.sleep(0.05)
    assert len(service.polls) == 5


async def test_completed_response() -> None:
    service = FakeService()
    async with started(service, add):
        service.tasks.put_nowait(activity_task("add", input=[2, 3]))
        await wait_responded(service)
    [(kind, response)] = service.responses()
    assert kind == "completed"
    assert response.task_token == b"token-1"
    assert response.identity.endswith("@perdure-tests")
    assert response.namespace == "default"
    assert response.worker_version.build_id == "perdure-test-build"
    assert DataConverter.default.payload_converter.from_payloads(response.result.payloads) == [5]


async def test_failed_response_carries_cause_and_failure() -> None:
    service = FakeService()
    async with started(service, fails):
        service.tasks.put_nowait(activity_task("fails"))
        await wait_responded(service)
    [(kind, response)] = service.responses()
    assert kind == "failed"
    assert (
        response.cause
        == ActivityTaskFailedCause.ACTIVITY_TASK_FAILED_CAUSE_ACTIVITY_WORKER_UNHANDLED_FAILURE
    )
    assert response.failure.message == "no"
    assert response.failure.application_failure_info.type == "Bad"
    assert response.failure.application_failure_info.non_retryable


# --------------------------------------------------------------------------- cancellation


@pytest.mark.parametrize(
    ("response", "kind", "failure_type"),
    [
        (RecordActivityTaskHeartbeatResponse(cancel_requested=True), "canceled", None),
        (RecordActivityTaskHeartbeatResponse(activity_paused=True), "failed", "ActivityPause"),
        (RecordActivityTaskHeartbeatResponse(activity_reset=True), "failed", "ActivityReset"),
    ],
)
async def test_heartbeat_response_cancels(
    response: RecordActivityTaskHeartbeatResponse, kind: str, failure_type: str | None
) -> None:
    service = FakeService()
    service.heartbeat_response = response
    async with started(service, heartbeats_forever):
        service.tasks.put_nowait(activity_task("heartbeats_forever"))
        await wait_responded(service)
    [(got_kind, got)] = service.responses()
    assert got_kind == kind
    if failure_type is not None:
        assert got.failure.application_failure_info.type == failure_type
    # Throttled: one immediate heartbeat, not one per call.
    assert len(service.heartbeats()) == 1


async def test_not_found_heartbeat_cancels_without_reporting() -> None:
    service = FakeService()
    service.heartbeat_not_found = True
    async with started(service, heartbeats_forever) as worker:
        service.tasks.put_nowait(activity_task("heartbeats_forever"))
        for _ in range(100):
            if service.heartbeats() and not worker._running:
                break
            await asyncio.sleep(0.02)
    assert service.responses() == []


async def test_local_timeout_cancels_without_reporting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(activity_worker_module, "_LOCAL_TIMEOUT_BUFFER", 0.05)
    service = FakeService()
    seen: list[str] = []

    @activity.defn(name="slow")
    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            seen.append("timed_out" if details and details.timed_out else "other")
            raise

    async with started(service, slow) as worker:
        service.tasks.put_nowait(
            activity_task("slow", start_to_close_timeout=timedelta(milliseconds=100))
        )
        for _ in range(100):
            if seen and not worker._running:
                break
            await asyncio.sleep(0.02)
    assert seen == ["timed_out"]
    assert service.responses() == []


async def test_shutdown_without_grace_cancels_at_once() -> None:
    service = FakeService()
    seen: list[bool] = []

    @activity.defn(name="long")
    async def long() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append(activity.is_worker_shutdown())
            raise

    async with started(service, long):
        service.tasks.put_nowait(activity_task("long"))
        await asyncio.sleep(0.1)
    assert seen == [True]
    [(kind, response)] = service.responses()
    assert kind == "failed"
    assert response.failure.application_failure_info.type == "WorkerShutdown"
    assert not response.failure.application_failure_info.non_retryable


# --------------------------------------------------------------------------- eager


async def test_eager_slots() -> None:
    service = FakeService()
    async with started(service, add, max_concurrent_activities=2) as worker:
        await asyncio.sleep(0.02)  # both slots are held by pollers
        assert not worker.try_reserve_eager_slot("tq")
    worker = make_activity_worker(service, "tq", [add], max_concurrent_activities=2)  # type: ignore[arg-type]
    assert not worker.try_reserve_eager_slot("other-queue")
    assert worker.try_reserve_eager_slot("tq")
    assert worker.try_reserve_eager_slot("tq")
    assert not worker.try_reserve_eager_slot("tq")
    worker.release_eager_slot()
    assert worker.try_reserve_eager_slot("tq")
    worker.handle_eager_task(activity_task("add", input=[1, 1]))
    await wait_responded(service)
    await worker.wait_all_completed()
    [(kind, _)] = service.responses()
    assert kind == "completed"
    # The eager task's slot came back when it finished.
    assert worker.try_reserve_eager_slot("tq")
    worker.initiate_shutdown()
    assert not worker.try_reserve_eager_slot("tq")


# --------------------------------------------------------------------------- local


async def test_local_activity_returns_response_without_sending() -> None:
    service = FakeService()
    worker = make_activity_worker(service, "tq", [add, fails])  # type: ignore[arg-type]
    done = await worker.execute_local_activity(activity_task("add", input=[4, 5]))
    assert DataConverter.default.payload_converter.from_payloads(done.result.payloads) == [9]
    failed = await worker.execute_local_activity(activity_task("fails", token=b"t2"))
    assert failed.failure.application_failure_info.type == "Bad"
    assert service.calls == []


async def test_local_activity_info_and_heartbeat_noop() -> None:
    service = FakeService()

    @activity.defn(name="local-info")
    async def local_info() -> bool:
        activity.heartbeat("ignored")
        return activity.info().is_local

    worker = make_activity_worker(service, "tq", [local_info])  # type: ignore[arg-type]
    response = await worker.execute_local_activity(activity_task("local-info"))
    assert DataConverter.default.payload_converter.from_payloads(response.result.payloads) == [True]
    assert service.calls == []


async def test_cancelling_local_activity_returns_cancel_outcome() -> None:
    service = FakeService()
    worker = make_activity_worker(service, "tq", [sleeps_until_cancelled])  # type: ignore[arg-type]
    task = asyncio.create_task(
        worker.execute_local_activity(activity_task("sleeps_until_cancelled"))
    )
    await asyncio.sleep(0.05)
    task.cancel()
    response = await task
    [value] = DataConverter.default.payload_converter.from_payloads(response.result.payloads)
    assert value.startswith("cancelled: ActivityCancellationDetails(")
    assert "cancel_requested=True" in value


# --------------------------------------------------------------------------- interceptors


class Recording(Interceptor):
    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: Recording) -> None:
        super().__init__(next)
        self.owner = owner

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        super().init(_Outbound(outbound, self.owner))

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        self.owner.log.append(f"{self.owner.name}:execute:{list(input.args)}")
        return await super().execute_activity(input)


class _Outbound(ActivityOutboundInterceptor):
    def __init__(self, next: ActivityOutboundInterceptor, owner: Recording) -> None:
        super().__init__(next)
        self.owner = owner

    def heartbeat(self, *details: Any) -> None:
        self.owner.log.append(f"{self.owner.name}:heartbeat:{list(details)}")
        super().heartbeat(*details)


@activity.defn(name="beat-once")
async def beat_once(x: int) -> int:
    activity.heartbeat(x)
    return x


async def test_interceptors_wrap_in_order() -> None:
    service = FakeService()
    log: list[str] = []
    async with started(
        service, beat_once, interceptors=[Recording(log, "outer"), Recording(log, "inner")]
    ):
        service.tasks.put_nowait(activity_task("beat-once", input=[7]))
        await wait_responded(service)
    assert log == [
        "outer:execute:[7]",
        "inner:execute:[7]",
        "inner:heartbeat:[7]",
        "outer:heartbeat:[7]",
    ]


@activity.defn(name="sync-long")
def sync_long() -> str:
    import time

    for _ in range(500):
        time.sleep(0.01)
    return "finished"


@pytest.mark.parametrize("name", ["sleeps_until_cancelled", "sync-long"])
async def test_cancel_before_start_reaches_the_activity(name: str) -> None:
    import concurrent.futures

    service = FakeService()
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        worker = make_activity_worker(
            service,  # type: ignore[arg-type]
            "tq",
            [sleeps_until_cancelled, sync_long],
            activity_executor=executor,
        )
        task = asyncio.create_task(worker.execute_local_activity(activity_task(name)))
        await asyncio.sleep(0)  # the attempt is set up; the function has not run yet
        task.cancel()
        response = await asyncio.wait_for(task, 3)
    assert response.DESCRIPTOR.name == "RespondActivityTaskCanceledRequest"


class Reverse(PayloadCodec):
    """Reverses payload bytes: easy to see whether the codec ran."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata=p.metadata, data=p.data[::-1]) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.encode(payloads)


class HeaderCapture(Interceptor):
    def __init__(self) -> None:
        self.headers: dict[str, bytes] = {}

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        capture = self

        class Inbound(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                capture.headers = {k: v.data for k, v in input.headers.items()}
                return await super().execute_activity(input)

        return Inbound(next)


@pytest.mark.parametrize(("decode", "expected"), [(True, b"plain"), (False, b"nialp")])
async def test_header_codec(decode: bool, expected: bytes) -> None:
    service = FakeService()
    capture = HeaderCapture()
    converter = dataclasses.replace(DataConverter.default, payload_codec=Reverse())
    worker = make_activity_worker(
        service,  # type: ignore[arg-type]
        "tq",
        [add],
        interceptors=[capture],
        data_converter=converter,
        decode_headers=decode,
    )
    task = activity_task("add")
    task.input.payloads.extend(await converter.encode([1, 2]))
    task.header.fields["h"].CopyFrom(Payload(data=b"nialp"))
    response = await worker.execute_local_activity(task)
    assert await converter.decode(response.result.payloads) == [3]
    assert capture.headers == {"h": expected}
