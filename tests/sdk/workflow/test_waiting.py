"""Timers (the loop's durable-timer hooks), durable sleep and wait conditions."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.sdk.v1 import UserMetadata

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._command_buffer import CommandBuffer
from perdure.worker._workflow._loop import WorkflowEventLoop
from perdure.worker._workflow._mode import RunMode
from perdure.worker._workflow._waiting import Conditions, Timers, durable_sleep
from perdure.workflow import ReadOnlyContextError


def _wired() -> tuple[RunMode, CommandBuffer, Timers, WorkflowEventLoop]:
    mode = RunMode()
    commands = CommandBuffer(mode)
    timers = Timers(mode, commands)
    loop = WorkflowEventLoop(  # type: ignore[abstract]
        start_timer=timers.start,
        cancel_timer=timers.cancel,
        register_task=lambda task: None,
        runtime=None,
        name="Test (workflow_id=w, run_id=r)",
    )
    return mode, commands, timers, loop


def test_call_later_starts_a_timer_that_fires_once() -> None:
    _, commands, timers, loop = _wired()
    handle = loop.call_later(2.0, lambda: None)
    assert commands.commands == [jobs.StartTimer(1, 2.0, None)]
    assert timers.fired(jobs.FireTimer(1)) is handle
    assert timers.fired(jobs.FireTimer(1)) is None


def test_cancelling_a_pending_timer_issues_cancel_once() -> None:
    _, commands, timers, loop = _wired()
    handle = loop.call_later(1.0, lambda: None)
    handle.cancel()
    handle.cancel()
    assert commands.commands[1:] == [jobs.CancelTimer(1)]
    assert timers.fired(jobs.FireTimer(1)) is None


def test_durable_sleep_carries_its_summary_and_resumes_when_fired() -> None:
    _, commands, timers, loop = _wired()
    summary = UserMetadata()
    task = loop.create_task(durable_sleep(loop, 3.0, summary))
    loop.run_once(check_conditions=False)
    assert commands.commands == [jobs.StartTimer(1, 3.0, summary)]
    handle = timers.fired(jobs.FireTimer(1))
    assert handle is not None
    loop.make_ready(handle)
    loop.run_once(check_conditions=False)
    assert task.done() and task.exception() is None


def test_conditions_resolve_once_their_predicate_holds() -> None:
    mode, _, _, loop = _wired()
    conditions = Conditions(loop, mode)
    assert not conditions.check()
    state = {"ready": False}
    task = loop.create_task(conditions.wait(lambda: state["ready"], None, None))
    loop.check_conditions = conditions.check
    loop.run_once(check_conditions=True)
    assert not task.done()
    state["ready"] = True
    loop.call_soon(lambda: None)  # conditions are checked after workflow code ran
    loop.run_once(check_conditions=True)
    assert task.done()


def test_conditions_refuse_read_only_code() -> None:
    mode, _, _, loop = _wired()
    conditions = Conditions(loop, mode)
    with mode.read_only_section():
        coro = conditions.wait(lambda: True, None, None)
        with pytest.raises(ReadOnlyContextError, match="wait condition"):
            asyncio.run(coro)
