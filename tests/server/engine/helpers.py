"""Drive the engine by hand, the way the I/O shell does, without a store."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TypeVar

from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import codec, completion, start, workflow_task
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.retry import duration
from perdure.server.engine.state import ExecutionState
from perdure.server.engine.tokens import TaskToken, TokenKind

SECOND = 1_000_000_000
T = TypeVar("T")


class Harness:
    """One run's state carried across steps, with every written event collected."""

    def __init__(self, state: ExecutionState, events: list[HistoryEvent], now: int) -> None:
        self.state = state
        self.history: list[HistoryEvent] = list(events)
        self.now = now
        self.last: Execution | None = None
        self._ids = (f"id-{i}" for i in itertools.count())

    def new_id(self) -> str:
        return next(self._ids)

    def step(self, fn: Callable[[Execution], T], *, advance: int = 0) -> T:
        """Apply `fn` to a round-tripped copy of the state, as after a store reload."""
        self.now += advance
        state = codec.decode(ExecutionState, codec.encode(self.state))
        ex = Execution(state, self.now, "default")
        result = fn(ex)
        self.state = ex.state
        self.history.extend(ex.out.events)
        self.last = ex
        return result

    def types(self) -> list[str]:
        return [et.EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in self.history]

    def ids_are_sequential(self) -> bool:
        return [e.event_id for e in self.history] == list(range(1, len(self.history) + 1))

    def start_wft(self) -> workflow_task.StartedWorkflowTask:
        assert self.state.workflow_task is not None
        seq = self.state.workflow_task.seq
        return self.step(lambda ex: workflow_task.start(ex, seq, identity="w", request_id="r"))

    def complete_wft(
        self, *commands: command_pb2.Command, **request_fields: object
    ) -> completion.CompletionResult:
        wt = self.state.workflow_task
        assert wt is not None and wt.started
        token = TaskToken(
            TokenKind.WORKFLOW_TASK,
            self.state.namespace_id,
            self.state.workflow_id,
            self.state.run_id,
            scheduled_event_id=wt.seq,
            started_event_id=wt.started_event_id,
        )
        request = rr.RespondWorkflowTaskCompletedRequest(
            commands=list(commands),
            identity="w",
            **request_fields,  # type: ignore[arg-type]
        )
        return self.step(lambda ex: completion.complete(ex, token, request, new_id=self.new_id))


def started(**fields: object) -> Harness:
    request = rr.StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id="wf-1",
        request_id="req-1",
        **fields,  # type: ignore[arg-type]
    )
    request.workflow_type.name = request.workflow_type.name or "Flow"
    request.task_queue.name = request.task_queue.name or "tq"
    start.validate(request)
    now = 1_700_000_000 * SECOND
    ex = start.new_run(request, namespace="default", namespace_id="ns", run_id="run-1", now=now)
    return Harness(ex.state, ex.out.events, now)


def schedule_activity(
    activity_id: str = "1", *, start_to_close: int = 10 * SECOND, **fields: object
) -> command_pb2.Command:
    attrs = command_pb2.ScheduleActivityTaskCommandAttributes(
        activity_id=activity_id,
        start_to_close_timeout=duration(start_to_close),
        **fields,  # type: ignore[arg-type]
    )
    attrs.activity_type.name = "act"
    attrs.task_queue.name = "tq"
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=attrs,
    )


def start_timer(timer_id: str, seconds: float) -> command_pb2.Command:
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_START_TIMER,
        start_timer_command_attributes=command_pb2.StartTimerCommandAttributes(
            timer_id=timer_id, start_to_fire_timeout=duration(int(seconds * SECOND))
        ),
    )


def complete_workflow(result: bytes = b'"ok"') -> command_pb2.Command:
    attrs = command_pb2.CompleteWorkflowExecutionCommandAttributes()
    attrs.result.payloads.add(metadata={"encoding": b"json/plain"}, data=result)
    return command_pb2.Command(
        command_type=ct.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        complete_workflow_execution_command_attributes=attrs,
    )


def payloads(data: bytes) -> common_pb2.Payloads:
    p = common_pb2.Payloads()
    p.payloads.add(metadata={"encoding": b"json/plain"}, data=data)
    return p
