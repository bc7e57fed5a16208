"""The replay state and instance on hand-built histories: commands, jobs, non-determinism."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import CommandType, EventType

import perdure.converter
from perdure import workflow
from perdure.worker._workflow._run import RunConfig, TaskFailure, WorkflowRun
from tests.sdk.workflow.history_builder import HistoryBuilder, payload

E = EventType
C = CommandType


@workflow.defn(name="Greet")
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            "greet", name, start_to_close_timeout=timedelta(seconds=5)
        )


@workflow.defn(name="GreetChanged")
class GreetChanged:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            "welcome", name, start_to_close_timeout=timedelta(seconds=5)
        )


@workflow.defn(name="SleepThenGreet")
class SleepThenGreet:
    @workflow.run
    async def run(self) -> str:
        await asyncio.sleep(30)
        return "done"


@workflow.defn(name="Patched")
class Patched:
    @workflow.run
    async def run(self) -> str:
        if workflow.patched("p1"):
            return await workflow.execute_activity(
                "new", start_to_close_timeout=timedelta(seconds=5)
            )
        return await workflow.execute_activity("old", start_to_close_timeout=timedelta(seconds=5))


@workflow.defn(name="Waiter")
class Waiter:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: len(self.got) == 2)
        return self.got

    @workflow.signal
    def add(self, value: str) -> None:
        self.got.append(value)

    @workflow.query
    def seen(self) -> int:
        return len(self.got)


def _run(builder: HistoryBuilder, *classes: type, previous: int | None = None) -> WorkflowRun:
    definitions, dynamic = RunConfig.collect(classes)
    converter = perdure.converter.DataConverter.default
    config = RunConfig(
        namespace="default",
        task_queue="tq",
        definitions=definitions,
        dynamic=dynamic,
        payload_converter=converter.payload_converter,
        failure_converter=converter.failure_converter,
    )
    started = builder.events[0].workflow_execution_started_event_attributes
    run = WorkflowRun(
        config,
        workflow_id="wf-1",
        run_id=started.original_execution_run_id,
        workflow_type=started.workflow_type.name,
    )
    run.feed(
        builder.events,
        previous_started_event_id=builder.last_started_id if previous is None else previous,
    )
    run.advance()
    return run


def _types(run: WorkflowRun) -> list[int]:
    return [c.command_type for c in run.replay.outgoing_commands()]


def test_first_task_schedules_the_activity_like_the_official_sdk() -> None:
    b = HistoryBuilder("Greet", "Ada")
    b.task_scheduled_started()
    run = _run(b, Greet, previous=0)
    (command,) = run.replay.outgoing_commands()
    attrs = command.schedule_activity_task_command_attributes
    assert command.command_type == C.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK
    assert attrs.activity_id == "1"
    assert attrs.activity_type.name == "greet"
    assert attrs.task_queue.name == "tq"
    assert attrs.task_queue.kind == 1  # NORMAL, always explicit
    assert attrs.HasField("header") and attrs.HasField("priority")
    assert attrs.use_workflow_build_id
    assert attrs.start_to_close_timeout.ToTimedelta() == timedelta(seconds=5)
    assert not attrs.HasField("schedule_to_close_timeout")
    assert attrs.input.payloads[0].data == b'"Ada"'
    metadata = run.replay.completion_metadata()
    assert sorted(metadata.core_used_flags) == [1, 2, 3, 4]


def test_completion_resolves_the_activity_and_completes_the_workflow() -> None:
    b = HistoryBuilder("Greet", "Ada")
    b.full_task()
    scheduled = b.activity_scheduled("1", "greet")
    b.activity_completed(scheduled, "hello Ada")
    b.task_scheduled_started()
    run = _run(b, Greet)
    (command,) = run.replay.outgoing_commands()
    assert command.command_type == C.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION
    result = command.complete_workflow_execution_command_attributes.result.payloads[0]
    assert result.data == b'"hello Ada"'


def test_changed_activity_type_is_a_nondeterminism_error_naming_everything() -> None:
    b = HistoryBuilder("GreetChanged", "Ada")
    b.full_task()
    scheduled = b.activity_scheduled("1", "greet")
    b.activity_completed(scheduled, "hello Ada")
    b.task_scheduled_started()
    with pytest.raises(workflow.NondeterminismError) as info:
        _run(b, GreetChanged)
    message = str(info.value)
    assert "GreetChanged" in message and "wf-1" in message and "run-1" in message
    assert "history event 5 ActivityTaskScheduled" in message
    assert "ScheduleActivityTask(activity_id='1', activity_type='welcome')" in message
    assert "'greet'" in message


def test_missing_command_for_a_recorded_event_is_nondeterminism() -> None:
    b = HistoryBuilder("SleepThenGreet")
    b.full_task()
    b.activity_scheduled("1", "greet")  # the code now starts a timer instead
    b.task_scheduled_started()
    with pytest.raises(workflow.NondeterminismError, match="StartTimer"):
        _run(b, SleepThenGreet)


def test_command_without_recorded_event_is_nondeterminism() -> None:
    b = HistoryBuilder("SleepThenGreet")
    b.full_task()  # completed without commands, but the code starts a timer
    b.signaled("ignored")
    b.task_scheduled_started()
    with pytest.raises(workflow.NondeterminismError, match="recorded no event"):
        _run(b, SleepThenGreet)


def test_timer_replays_and_fires() -> None:
    b = HistoryBuilder("SleepThenGreet")
    b.full_task()
    started = b.timer_started("1", 30)
    b.timer_fired("1", started)
    b.task_scheduled_started()
    run = _run(b, SleepThenGreet)
    assert _types(run) == [C.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION]


def test_patched_is_false_when_history_ran_the_old_code() -> None:
    b = HistoryBuilder("Patched")
    b.full_task()
    b.activity_scheduled("1", "old")
    b.task_scheduled_started()
    run = _run(b, Patched)
    assert _types(run) == []  # replay matched the old branch; the activity still runs


def test_patched_is_true_and_recorded_in_new_executions() -> None:
    b = HistoryBuilder("Patched")
    b.task_scheduled_started()
    run = _run(b, Patched, previous=0)
    commands = run.replay.outgoing_commands()
    assert [c.command_type for c in commands] == [
        C.COMMAND_TYPE_RECORD_MARKER,
        C.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        C.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
    ]
    assert commands[0].record_marker_command_attributes.marker_name == "core_patch"
    upsert = commands[1].upsert_workflow_search_attributes_command_attributes
    assert upsert.search_attributes.indexed_fields["TemporalChangeVersion"].data == b'["p1"]'
    assert commands[2].schedule_activity_task_command_attributes.activity_type.name == "new"


def test_signals_before_the_first_task_are_delivered_and_queries_answer() -> None:
    b = HistoryBuilder("Waiter")
    b.signaled("add", "a")
    b.task_scheduled_started()
    run = _run(b, Waiter, previous=0)
    assert _types(run) == []
    answer = run.query("q1", "seen", [], {})
    assert answer.answer is not None and answer.answer.data == b"1"
    b.task_completed()
    b.signaled("add", "b")
    b.task_scheduled_started()
    run.feed(b.events, previous_started_event_id=3)
    run.advance()
    (command,) = run.replay.outgoing_commands()
    result = command.complete_workflow_execution_command_attributes.result.payloads[0]
    assert result.data == b'["a","b"]'


def test_unknown_query_fails_the_query_only() -> None:
    b = HistoryBuilder("Waiter")
    b.task_scheduled_started()
    run = _run(b, Waiter, previous=0)
    answer = run.query("q1", "nope", [], {})
    assert answer.failure is not None and "nope" in answer.failure.message


def test_unregistered_workflow_type_fails_the_task() -> None:
    b = HistoryBuilder("Nope")
    b.task_scheduled_started()
    with pytest.raises(TaskFailure, match="not registered"):
        _run(b, Waiter, previous=0)


@workflow.defn(name="TwoThings")
class TwoThings:
    @workflow.run
    async def run(self) -> None:
        handle = workflow.start_activity("greet", "x", start_to_close_timeout=timedelta(seconds=5))
        await asyncio.sleep(10)
        await handle


def test_extra_command_at_the_end_of_a_replayed_history_is_nondeterminism() -> None:
    b = HistoryBuilder("TwoThings")
    b.full_task()
    b.activity_scheduled("1", "greet")  # history has the activity but not the timer
    with pytest.raises(workflow.NondeterminismError, match=r"StartTimer\(timer_id='1'\)"):
        run = _run(b, TwoThings)
        run.replay.finish_replay()


@workflow.defn(name="CancelEarly")
class CancelEarly:
    @workflow.run
    async def run(self) -> str:
        timer = asyncio.ensure_future(asyncio.sleep(60))
        await asyncio.sleep(0)  # the timer task runs: StartTimer is issued
        timer.cancel()  # ... and cancelled in the same activation
        return "ok"


def test_cancelling_an_unsent_timer_drops_its_command() -> None:
    b = HistoryBuilder("CancelEarly")
    b.task_scheduled_started()
    run = _run(b, CancelEarly, previous=0)
    assert _types(run) == [C.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION]


@workflow.defn(name="Updatable")
class Updatable:
    def __init__(self) -> None:
        self.value = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def set_value(self, value: int) -> int:
        await asyncio.sleep(1)
        self.value = value
        return value

    @set_value.validator
    def check(self, value: int) -> None:
        if value < 0:
            raise ValueError("negative")


def _update_message(update_id: str, value: int, event_id: int) -> Any:
    from temporalio.api.protocol.v1 import Message
    from temporalio.api.update.v1 import Request

    request = Request()
    request.meta.update_id = update_id
    request.input.name = "set_value"
    request.input.args.payloads.append(payload(value))
    message = Message(id=f"{update_id}/request", protocol_instance_id=update_id, event_id=event_id)
    message.body.Pack(request)
    return message


def test_update_is_accepted_with_protocol_messages_and_handler_commands_carry_markers() -> None:
    b = HistoryBuilder("Updatable")
    b.task_scheduled_started()
    run = _run(b, Updatable, previous=0)
    b.task_completed()
    b.task_scheduled_started()  # the update's (speculative) task: scheduled 5, started 6
    run.feed(b.events, previous_started_event_id=3, messages=[_update_message("u1", 7, 5)])
    run.advance()
    commands = run.replay.outgoing_commands()
    assert [c.command_type for c in commands] == [
        C.COMMAND_TYPE_PROTOCOL_MESSAGE,
        C.COMMAND_TYPE_START_TIMER,
    ]
    assert commands[0].protocol_message_command_attributes.message_id == "u1/request/accept"
    assert not commands[0].event_group_markers
    (marker,) = commands[1].event_group_markers
    assert marker.inbound_update.inbound_update_id == "u1"
    (message,) = run.replay.take_messages()
    assert message.id == "u1/request/accept" and message.protocol_instance_id == "u1"


def test_rejected_update_sends_a_rejection_and_no_command() -> None:
    from temporalio.api.update.v1 import Rejection

    b = HistoryBuilder("Updatable")
    b.task_scheduled_started()
    run = _run(b, Updatable, previous=0)
    b.task_completed()
    b.task_scheduled_started()
    run.feed(b.events, previous_started_event_id=3, messages=[_update_message("u2", -1, 5)])
    run.advance()
    assert run.replay.outgoing_commands() == []
    (message,) = run.replay.take_messages()
    rejection = Rejection()
    assert message.body.Unpack(rejection)
    assert message.id == "u2/request/reject"
    assert rejection.failure.message == "negative"
    assert rejection.rejected_request_sequencing_event_id == 5


@workflow.defn(name="Draw")
class Draw:
    @workflow.run
    async def run(self) -> int:
        return workflow.random().randint(0, 10**6)


def test_reset_reseeds_workflow_random_like_the_official_sdk() -> None:
    import random

    from temporalio.api.enums.v1 import WorkflowTaskFailedCause

    from perdure.worker._workflow._history import randomness_seed

    b = HistoryBuilder("Draw", run_id="old-run")
    b.task_scheduled_started()
    b.add(
        E.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
        base_run_id="old-run",
        new_run_id="new-run",
    )
    b.task_scheduled_started()
    run = _run(b, Draw, previous=0)
    (command,) = run.replay.outgoing_commands()
    drawn = command.complete_workflow_execution_command_attributes.result.payloads[0].data
    assert int(drawn) == random.Random(randomness_seed("new-run")).randint(0, 10**6)


@workflow.defn(name="Chatty")
class Chatty:
    @workflow.run
    async def run(self) -> None:
        workflow.logger.info("first task")
        await asyncio.sleep(1)
        workflow.logger.info("second task")


def test_workflow_logger_is_quiet_while_replaying(caplog: pytest.LogCaptureFixture) -> None:
    b = HistoryBuilder("Chatty")
    b.full_task()
    started = b.timer_started("1", 1)
    b.timer_fired("1", started)
    b.task_scheduled_started()
    with caplog.at_level("INFO", logger="perdure.workflow"):
        _run(b, Chatty, previous=3)  # the first task is replayed, the second is new
    messages = [r.getMessage() for r in caplog.records if r.name == "perdure.workflow"]
    assert len(messages) == 1 and messages[0].startswith("second task (")
    record = next(r for r in caplog.records if r.name == "perdure.workflow")
    assert record.temporal_workflow["workflow_type"] == "Chatty"  # type: ignore[attr-defined]
