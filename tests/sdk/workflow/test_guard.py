"""The determinism guard: refuses non-deterministic calls in workflow code, only there."""

from __future__ import annotations

import datetime
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import perdure.converter
from perdure import workflow
from perdure.worker._workflow import _guard
from perdure.worker._workflow._run import RunConfig, TaskFailure, WorkflowRun
from tests.sdk.workflow.history_builder import HistoryBuilder

_guard.install()

CALLS: dict[str, tuple[Callable[[], Any], str]] = {
    "time": (lambda: time.time(), "workflow.now() or workflow.time()"),
    "time_ns": (lambda: time.time_ns(), "workflow.time_ns()"),
    "datetime_now": (lambda: datetime.datetime.now(), "workflow.now()"),
    "date_today": (lambda: datetime.date.today(), "workflow.now()"),
    "random": (lambda: random.random(), "workflow.random()"),
    "uuid4": (lambda: uuid.uuid4(), "workflow.uuid4()"),
    "thread": (lambda: threading.Thread(target=print).start(), "asyncio tasks"),
    "sleep": (lambda: time.sleep(0.01), "workflow.sleep()"),
    "write": (lambda: open("/tmp/perdure-guard-test", "w"), "an activity for file I/O"),  # noqa: SIM115
    "read_data": (lambda: open("/etc/hostname"), "an activity for file I/O"),  # noqa: SIM115
}


@workflow.defn(name="Misbehave")
class Misbehave:
    @workflow.run
    async def run(self, which: str) -> None:
        CALLS[which][0]()


@workflow.defn(name="Behave")
class Behave:
    @workflow.run
    async def run(self) -> list[Any]:
        with workflow.unsafe.sandbox_unrestricted():
            time.time()  # explicitly allowed
        import json  # already imported: fine

        workflow.logger.info("logging works inside workflows")
        logging.getLogger("plain").warning("and so does a plain logger")
        return [workflow.now().year, json.dumps(workflow.random().random() < 1)]


def _first_task(cls: type, *args: Any) -> WorkflowRun:
    definitions, dynamic = RunConfig.collect([cls])
    converter = perdure.converter.DataConverter.default
    config = RunConfig(
        namespace="default",
        task_queue="tq",
        definitions=definitions,
        dynamic=dynamic,
        payload_converter=converter.payload_converter,
        failure_converter=converter.failure_converter,
    )
    builder = HistoryBuilder(cls.__name__, *args)
    builder.task_scheduled_started()
    config.debug_mode = False
    run = WorkflowRun(config, workflow_id="wf-1", run_id="run-1", workflow_type=cls.__name__)
    run.feed(builder.events, previous_started_event_id=0)
    run.advance()
    return run


@pytest.mark.parametrize("which", sorted(CALLS))
def test_non_deterministic_call_fails_the_task_naming_the_replacement(which: str) -> None:
    with pytest.raises(TaskFailure) as info:
        _first_task(Misbehave, which)
    error = info.value.error
    assert isinstance(error, _guard.DeterminismGuardError)
    assert isinstance(error, workflow.NondeterminismError)
    assert "Misbehave (workflow_id=wf-1, run_id=run-1)" in str(error)
    assert CALLS[which][1] in str(error)


def test_deterministic_workflow_code_and_escape_hatches_work() -> None:
    run = _first_task(Behave)
    (command,) = run.replay.outgoing_commands()
    result = command.complete_workflow_execution_command_attributes.result.payloads[0]
    assert result.data == b'[2024,"true"]'


def test_guard_is_inert_outside_workflow_code() -> None:
    assert time.time() > 0
    assert datetime.datetime.now().year >= 2024
    assert isinstance(random.random(), float)
    assert uuid.uuid4().version == 4
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()


def test_other_threads_are_not_guarded_while_workflow_code_runs() -> None:
    from perdure.workflow._unsafe import guard

    seen: list[float] = []
    thread = threading.Thread(target=lambda: seen.append(time.time()))
    guard.active, guard.thread, guard.workflow = True, threading.get_ident(), "W"
    try:
        with pytest.raises(_guard.DeterminismGuardError):
            time.time()
        threading.Thread.start.__wrapped__(thread)  # type: ignore[attr-defined]
        thread.join()
    finally:
        guard.active = False
    assert seen and seen[0] > 0


@workflow.defn(name="Spin")
class Spin:
    @workflow.run
    async def run(self) -> None:
        while True:  # never yields
            pass


def test_workflow_code_that_never_yields_fails_its_task() -> None:
    started = time.monotonic()
    with pytest.raises(TaskFailure) as info:
        _first_task(Spin)
    assert isinstance(info.value.error, _guard.PotentialDeadlockError)
    assert "Spin (workflow_id=wf-1, run_id=run-1) didn't yield within 2 second(s)" in str(
        info.value.error
    )
    assert time.monotonic() - started < 5
