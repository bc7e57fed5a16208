"""WorkflowEnvironment: the in-process engine for tests, with and without time skipping."""

from __future__ import annotations

import asyncio
import pydoc
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from perdure.client import Client, WorkflowFailureError
from perdure.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from perdure.exceptions import ApplicationError
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker
from tests.sdk.testing.workflows import (
    ActivityWithTimeout,
    Asserts,
    DailyTimers,
    ParentThatContinues,
    RetriesAfterAnHour,
    Sleeper,
    SleepyChild,
    WaitsForSignal,
    fails_first_attempt,
    real_work,
)

WORKFLOWS = [
    Sleeper,
    DailyTimers,
    ActivityWithTimeout,
    RetriesAfterAnHour,
    Asserts,
    WaitsForSignal,
    SleepyChild,
    ParentThatContinues,
]
ACTIVITIES = [real_work, fails_first_attempt]


def _worker(client: Client, task_queue: str) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)


def _id() -> str:
    return f"wf-{uuid.uuid4().hex[:8]}"


async def test_thirty_daily_timers_take_well_under_a_second(task_queue: str) -> None:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        assert env.supports_time_skipping
        before = await env.get_current_time()
        async with _worker(env.client, task_queue):
            started = time.monotonic()
            woke = await env.client.execute_workflow(
                DailyTimers.run, 30, id=_id(), task_queue=task_queue
            )
            wall = time.monotonic() - started
        elapsed = await env.get_current_time() - before
    assert len(woke) == 30 and len(set(woke)) == 30
    assert wall < 1.0, f"30 skipped days took {wall:.2f}s of wall time"
    assert timedelta(days=30) <= elapsed < timedelta(days=30, minutes=1)


async def test_time_is_locked_until_a_result_is_awaited(task_queue: str) -> None:
    async with (
        await WorkflowEnvironment.start_time_skipping() as env,
        _worker(env.client, task_queue),
    ):
        handle = await env.client.start_workflow(
            Sleeper.run, 3600.0, id=_id(), task_queue=task_queue
        )
        started = await handle.query(Sleeper.now)
        await asyncio.sleep(0.3)  # nothing waits for a result: time does not jump
        assert await env.get_current_time() - started < timedelta(seconds=30)
        assert 3600 <= await handle.result() < 3610


async def test_sleep_moves_virtual_time_and_fires_timers_on_the_way(task_queue: str) -> None:
    async with (
        await WorkflowEnvironment.start_time_skipping() as env,
        _worker(env.client, task_queue),
    ):
        handle = await env.client.start_workflow(
            Sleeper.run, 100 * 86400.0, id=_id(), task_queue=task_queue
        )
        await handle.query(Sleeper.now)  # the first task has run
        before = await env.get_current_time()
        await env.sleep(timedelta(seconds=50))
        moved = await env.get_current_time() - before
        assert timedelta(seconds=50) <= moved < timedelta(seconds=60)
        with env.auto_time_skipping_disabled(), pytest.raises(TimeoutError):
            await asyncio.wait_for(handle.result(), 0.5)
        await env.sleep(timedelta(days=100))
        with env.auto_time_skipping_disabled():
            assert 100 * 86400 <= await asyncio.wait_for(handle.result(), 5) < 100 * 86400 + 10


async def test_help_says_what_disabling_auto_skipping_does() -> None:
    """It works where time skips, so its help must not call it a no-op there."""
    async with await WorkflowEnvironment.start_time_skipping() as env:
        text = pydoc.render_doc(env.auto_time_skipping_disabled, renderer=pydoc.plaintext)
    assert "no-op" not in text
    assert "real time" in text


async def test_no_skip_while_an_activity_runs(task_queue: str) -> None:
    """Skipping during the activity would fire its 30 s start-to-close timeout."""
    async with (
        await WorkflowEnvironment.start_time_skipping() as env,
        _worker(env.client, task_queue),
    ):
        result = await env.client.execute_workflow(
            ActivityWithTimeout.run, 0.5, id=_id(), task_queue=task_queue
        )
    assert result == "done"


async def test_retry_backoff_is_skipped(task_queue: str) -> None:
    async with (
        await WorkflowEnvironment.start_time_skipping() as env,
        _worker(env.client, task_queue),
    ):
        started = time.monotonic()
        attempt, waited = await env.client.execute_workflow(
            RetriesAfterAnHour.run, id=_id(), task_queue=task_queue
        )
    assert attempt == 2
    assert waited >= 3600
    assert time.monotonic() - started < 5


async def test_workflow_timeouts_are_skipped_to(task_queue: str) -> None:
    async with (
        await WorkflowEnvironment.start_time_skipping() as env,
        _worker(env.client, task_queue),
    ):
        handle = await env.client.start_workflow(
            WaitsForSignal.run, id=_id(), task_queue=task_queue
        )
        assert await handle.result() is False
        signalled = await env.client.start_workflow(
            WaitsForSignal.run, id=_id(), task_queue=task_queue
        )
        await signalled.signal(WaitsForSignal.go)
        assert await signalled.result() is True


async def test_handles_from_get_workflow_handle_do_not_skip(task_queue: str) -> None:
    """As in temporalio: only handles of workflows this client started unlock time."""
    async with (
        await WorkflowEnvironment.start_time_skipping() as env,
        _worker(env.client, task_queue),
    ):
        started = await env.client.start_workflow(
            Sleeper.run, 86400.0, id=_id(), task_queue=task_queue
        )
        other = env.client.get_workflow_handle(started.id)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(other.result(), 0.5)
        assert 86400 <= await started.result() < 86410


async def test_assert_fails_the_workflow(task_queue: str) -> None:
    async with await WorkflowEnvironment.start_local() as env, _worker(env.client, task_queue):
        with pytest.raises(WorkflowFailureError) as info:
            await env.client.execute_workflow(Asserts.run, id=_id(), task_queue=task_queue)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "AssertionError"
    assert "arithmetic is broken" in cause.message


async def test_local_environment_runs_in_real_time(task_queue: str) -> None:
    async with await WorkflowEnvironment.start_local(namespace="local-ns") as env:
        assert not env.supports_time_skipping
        assert env.client.namespace == "local-ns"
        assert env.grpc_target is None
        assert abs(await env.get_current_time() - datetime.now(UTC)) < timedelta(seconds=5)
        started = time.monotonic()
        await env.sleep(0.2)
        assert time.monotonic() - started >= 0.2
        async with _worker(env.client, task_queue):
            assert await env.client.execute_workflow(
                Sleeper.run, 0.2, id=_id(), task_queue=task_queue
            ) == pytest.approx(0.2, abs=0.2)


async def test_environments_are_fresh_and_stop_on_shutdown() -> None:
    env = await WorkflowEnvironment.start_local()
    other = await WorkflowEnvironment.start_local()
    try:
        handle = await env.client.start_workflow("Nobody", id="same-id", task_queue="none")
        await other.client.start_workflow("Nobody", id="same-id", task_queue="none")
        second = await env.connect_client()
        assert (await second.get_workflow_handle(handle.id).describe()).id == "same-id"
    finally:
        await other.shutdown()
        await env.shutdown()
    with pytest.raises(Exception, match="stopped"):
        await second.get_workflow_handle("same-id").describe()


async def test_from_client_wraps_any_client(task_queue: str) -> None:
    async with await WorkflowEnvironment.start_local() as owner:
        env = WorkflowEnvironment.from_client(owner.client)
        assert not env.supports_time_skipping
        async with _worker(env.client, task_queue):
            with pytest.raises(WorkflowFailureError):
                await env.client.execute_workflow(Asserts.run, id=_id(), task_queue=task_queue)
        await env.shutdown()  # does not own the server
        assert await owner.client.count_workflows() is not None


async def test_children_and_continue_as_new_share_the_clock(task_queue: str) -> None:
    async with (
        await WorkflowEnvironment.start_time_skipping() as env,
        _worker(env.client, task_queue),
    ):
        before = await env.get_current_time()
        assert (
            await env.client.execute_workflow(
                ParentThatContinues.run, 0, id=_id(), task_queue=task_queue
            )
            == 3
        )
        elapsed = await env.get_current_time() - before
    assert timedelta(days=12, hours=20) <= elapsed < timedelta(days=12, hours=20, minutes=1)


async def test_search_attributes_are_registered() -> None:
    key = SearchAttributeKey.for_keyword("CustomerId")
    async with await WorkflowEnvironment.start_local(search_attributes=[key]) as env:
        handle = await env.client.start_workflow(
            "Absent",
            id=_id(),
            task_queue="nobody",
            search_attributes=TypedSearchAttributes([SearchAttributePair(key, "c-42")]),
        )
        described = await handle.describe()
    assert described.typed_search_attributes.get(key) == "c-42"
