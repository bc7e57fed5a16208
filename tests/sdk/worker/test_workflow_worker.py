"""Workflow worker: its task slots (shared SlotPool) as eager workflow starts see them."""

from __future__ import annotations

from typing import Any, cast

import perdure.converter
from perdure.worker._workflow_worker import WorkflowWorker


def _worker(max_tasks: int) -> WorkflowWorker:
    return WorkflowWorker(
        service=cast(Any, None),  # never called: nothing here polls
        namespace="default",
        task_queue="tq",
        workflows=[],
        data_converter=perdure.converter.DataConverter.default,
        identity="test",
        max_concurrent_workflow_tasks=max_tasks,
    )


async def test_eager_start_reserves_free_slots_only() -> None:
    worker = _worker(2)
    assert worker.try_reserve_eager_workflow_slot("tq")
    assert worker.try_reserve_eager_workflow_slot("tq")
    assert not worker.try_reserve_eager_workflow_slot("tq")
    worker.release_eager_workflow_slot()
    assert worker.try_reserve_eager_workflow_slot("tq")


async def test_eager_start_on_another_queue_or_after_shutdown_is_refused() -> None:
    worker = _worker(2)
    assert not worker.try_reserve_eager_workflow_slot("other")
    worker.notify_shutdown()
    assert not worker.try_reserve_eager_workflow_slot("tq")


async def test_zero_max_tasks_still_allows_one() -> None:
    worker = _worker(0)
    assert worker.try_reserve_eager_workflow_slot("tq")
    assert not worker.try_reserve_eager_workflow_slot("tq")
