"""The soak's workflows and activity, one source for either SDK.

temporalio accepts only module-level workflow classes, so the decorators are bound at
import time to the SDK ``CHAOS_SDK`` names ("perdure", the default, or "temporalio"), as
in bench/workflows.py. The activities (one run as a local activity) record each attempt as
a row in the SQLite file ``CHAOS_EFFECTS`` before they return, so the checker can count side
effects against the attempts the histories record.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sqlite3
from datetime import timedelta
from typing import Any

SDK = os.environ.get("CHAOS_SDK", "perdure")
if SDK not in ("temporalio", "perdure"):
    raise ValueError(f"CHAOS_SDK must be temporalio or perdure, not {SDK!r}")
workflow: Any = importlib.import_module(f"{SDK}.workflow")
activity: Any = importlib.import_module(f"{SDK}.activity")
RetryPolicy: Any = importlib.import_module(f"{SDK}.common").RetryPolicy
exceptions: Any = importlib.import_module(f"{SDK}.exceptions")

EFFECTS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS effects (workflow_id TEXT, run_id TEXT, activity_id TEXT,"
    " attempt INTEGER, sdk TEXT, at REAL, local INTEGER)"
)
RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=1.5,
    maximum_interval=timedelta(seconds=1),
)
ACTIVITY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=20),
    "heartbeat_timeout": timedelta(seconds=4),
    "retry_policy": RETRY,
}


def record_effect(path: str, info: Any) -> None:
    """One row per attempt, committed before the attempt reports anything."""
    with sqlite3.connect(path, timeout=60) as db:
        db.execute(EFFECTS_SCHEMA)
        db.execute(
            "INSERT INTO effects (workflow_id, run_id, activity_id, attempt, sdk, at, local)"
            " VALUES (?, ?, ?, ?, ?, strftime('%s','now'), ?)",
            (
                info.workflow_id, info.workflow_run_id, info.activity_id, info.attempt, SDK,
                int(info.is_local),
            ),
        )  # fmt: skip
    db.close()


@activity.defn(name="effect")
async def effect(n: int) -> int:
    """Records its side effect, heartbeats, and fails its first attempt when n % 3 == 1."""
    info = activity.info()
    record_effect(os.environ["CHAOS_EFFECTS"], info)
    for _ in range(3):
        activity.heartbeat(n)
        await asyncio.sleep(0.05)
    if n % 3 == 1 and info.attempt == 1:
        raise RuntimeError(f"planned failure of the first attempt (n={n})")
    return n + 1


@activity.defn(name="local_effect")
async def local_effect(n: int) -> int:
    """The local activity: records its side effect, fails its first attempt when n % 3 == 1."""
    info = activity.info()
    record_effect(os.environ["CHAOS_EFFECTS"], info)
    if n % 3 == 1 and info.attempt == 1:
        raise RuntimeError(f"planned failure of the first local attempt (n={n})")
    return n + 100


ONCE_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=20),
    "retry_policy": RetryPolicy(maximum_attempts=1),
}
"""Retries off: the activity runs at most once, and exactly once where no fault hit it."""


@activity.defn(name="once_effect")
async def once_effect(n: int) -> int:
    """The retries-off activity: records its side effect and succeeds."""
    record_effect(os.environ["CHAOS_EFFECTS"], activity.info())
    return n


LOCAL_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=5),
    "retry_policy": RETRY,
}


@workflow.defn(name="ChaosChild")
class ChaosChild:
    """A child workflow: one activity."""

    @workflow.run
    async def run(self, n: int) -> int:
        got: int = await workflow.execute_activity(effect, n, **ACTIVITY_OPTIONS)
        return got * 2


@workflow.defn(name="ChaosOrder")
class ChaosOrder:
    """Activities, a timer and a child, then waits for every signal and update it expects."""

    def __init__(self) -> None:
        self.signals: list[int] = []
        self.updates: list[int] = []

    @workflow.signal(name="add")
    def add(self, value: int) -> None:
        self.signals.append(value)

    @workflow.update(name="bump")
    def bump(self, value: int) -> int:
        self.updates.append(value)
        return value * 10

    @workflow.query(name="progress")
    def progress(self) -> int:
        return len(self.signals) + len(self.updates)

    @workflow.run
    async def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        total = 0
        for i in range(spec["acts"]):
            total += await workflow.execute_activity(effect, i, **ACTIVITY_OPTIONS)
        await asyncio.sleep(spec["sleep"])
        # TRY_CANCEL: with the default (wait for the child's cancellation), a child that
        # completes anyway resolves the await with its result and the run's cancellation is
        # spent (both SDKs), so a cancelled order would wait for ever for its last signal.
        child = await workflow.execute_child_workflow(
            ChaosChild.run, spec["acts"], id=f"{workflow.info().workflow_id}-child",
            cancellation_type=workflow.ChildWorkflowCancellationType.TRY_CANCEL,
        )  # fmt: skip
        if spec.get("once"):  # absent from the specs of recorded histories
            try:
                await workflow.execute_activity(once_effect, spec["acts"], **ONCE_OPTIONS)
            except exceptions.ActivityError as err:
                # A fault (a killed worker, a lost completion) fails it for good: the
                # checker still holds it to one side effect at most. A cancellation is
                # the run's own, not the activity's.
                if isinstance(err.cause, exceptions.CancelledError):
                    raise
        local = None
        if spec.get("local"):  # absent from the specs of recorded histories
            local = await workflow.execute_local_activity(
                local_effect, spec["acts"], **LOCAL_OPTIONS
            )
        await workflow.wait_condition(
            lambda: len(self.signals) >= spec["signals"] and len(self.updates) >= spec["updates"]
        )
        out = {
            "acts": total,
            "child": child,
            "signals": sorted(self.signals),
            "updates": sorted(self.updates),
        }
        if local is not None:
            out["local"] = local
        return out


@workflow.defn(name="ChaosChain")
class ChaosChain:
    """A continue-as-new chain: one activity per run, `remaining` more runs."""

    @workflow.run
    async def run(self, remaining: int, acc: int) -> int:
        acc += await workflow.execute_activity(effect, remaining, **ACTIVITY_OPTIONS)
        if remaining <= 0:
            return acc
        workflow.continue_as_new(args=[remaining - 1, acc])


def expected_result(kind: str, spec: dict[str, Any]) -> Any:
    """What a workflow of `kind` started with `spec` must return."""
    if kind == "ChaosOrder":
        acts = spec["acts"]
        out = {
            "acts": sum(i + 1 for i in range(acts)),
            "child": (acts + 1) * 2,
            "signals": list(range(spec["signals"])),
            "updates": list(range(spec["updates"])),
        }
        if spec.get("local"):
            out["local"] = acts + 100
        return out
    if kind == "ChaosChain":
        return sum(r + 1 for r in range(spec["length"] + 1))
    if kind == "ChaosChild":
        return (spec["n"] + 1) * 2
    raise ValueError(kind)


WORKFLOWS = [ChaosOrder, ChaosChain, ChaosChild]
ACTIVITIES = [effect, local_effect, once_effect]
