"""Drive the engine by hand, the way the I/O shell does, without a store.

Every step also checks the one event->state path: the state rebuilt from the history
written so far equals the live state, field by field, except the fields that history
cannot hold (engine/apply.py NOT_REBUILT).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any, TypeVar

from temporalio.api.command.v1 import message_pb2 as command_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import command_type_pb2 as ct
from temporalio.api.enums.v1 import event_type_pb2 as et
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import codec, completion, start, workflow_task
from perdure.server.engine.apply import NOT_REBUILT
from perdure.server.engine.execution import Execution, HistoryEvent
from perdure.server.engine.rebuild import rebuild
from perdure.server.engine.retry import duration
from perdure.server.engine.state import ExecutionState
from perdure.server.engine.tokens import WorkflowTaskToken

SECOND = 1_000_000_000
T = TypeVar("T")


def differences(rebuilt: object, live: object, path: str = "") -> list[str]:
    """Where `rebuilt` differs from `live` (dataclasses compared field by field)."""
    if dataclasses.is_dataclass(live) and type(rebuilt) is type(live):
        out: list[str] = []
        cls = type(live).__name__
        for f in dataclasses.fields(live):
            if f"{cls}.{f.name}" in NOT_REBUILT:
                continue
            mine, theirs = getattr(rebuilt, f.name), getattr(live, f.name)
            if isinstance(live, ExecutionState):
                mine, theirs = _as_history_has_it(live, f.name, mine, theirs)
            out.extend(differences(mine, theirs, f"{path}{cls}.{f.name}"))
        return out
    if isinstance(live, dict) and isinstance(rebuilt, dict):
        if rebuilt.keys() != live.keys():
            extra, missing = rebuilt.keys() - live.keys(), live.keys() - rebuilt.keys()
            return [f"{path}: rebuilt has {sorted(extra)[:5]}, lacks {sorted(missing)[:5]}"]
        return [d for k in live for d in differences(rebuilt[k], live[k], f"{path}[{k!r}]/")]
    return [] if rebuilt == live else [f"{path}: rebuilt {rebuilt!r} != live {live!r}"]


def _as_history_has_it(live: ExecutionState, name: str, mine: Any, theirs: Any) -> Any:
    """The parts of a field that history records, for NOT_REBUILT's qualified entries."""
    qualified = {key.split(" ", 1)[1] for key in NOT_REBUILT if key.startswith(f"{_RUN}.{name} (")}
    if "(reset run)" in qualified and live.last_reset_time:
        return None, None
    if "(unwritten)" in qualified and theirs is not None and not theirs.scheduled_event_written:
        return mine, None
    if "(not accepted)" in qualified:
        return mine, {k: u for k, u in theirs.items() if u.accepted_event_id or u.admitted_event_id}
    return mine, theirs


_RUN = ExecutionState.__name__


def assert_rebuilds(state: ExecutionState, history: list[HistoryEvent]) -> None:
    """The state rebuilt from `history` is `state` (checked when no event is buffered)."""
    if state.buffered_events:
        return
    rebuilt = rebuild(
        history,
        namespace_id=state.namespace_id,
        workflow_id=state.workflow_id,
        run_id=state.run_id,
    )
    found = differences(rebuilt, state)
    assert not found, "rebuilt state differs from the live one:\n" + "\n".join(found)


class Harness:
    """One run's state carried across steps, with every written event collected."""

    def __init__(self, state: ExecutionState, events: list[HistoryEvent], now: int) -> None:
        self.state = state
        self.history: list[HistoryEvent] = list(events)
        self.now = now
        self.last: Execution | None = None
        self.planted = False
        """The test changed the state as no event could: rebuilding it is not checked."""
        self._ids = (f"id-{i}" for i in itertools.count())
        assert_rebuilds(state, self.history)

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
        if not self.planted:
            assert_rebuilds(self.state, self.history)
        for new in ex.out.new_runs:
            assert_rebuilds(new.execution.state, new.execution.out.events)
        return result

    def plant(self, change: Callable[[ExecutionState], object]) -> None:
        """Change the state directly, as no event could (to reach a limit quickly)."""
        change(self.state)
        self.planted = True

    def types(self) -> list[str]:
        return [et.EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in self.history]

    def ids_are_sequential(self) -> bool:
        return [e.event_id for e in self.history] == list(range(1, len(self.history) + 1))

    def start_wft(self, build_id: str = "") -> workflow_task.StartedWorkflowTask:
        assert self.state.workflow_task is not None
        seq = self.state.workflow_task.seq
        return self.step(
            lambda ex: workflow_task.start(ex, seq, identity="w", request_id="r", build_id=build_id)
        )

    def wft_token(self) -> WorkflowTaskToken:
        """The token of the run's current workflow task."""
        wt = self.state.workflow_task
        assert wt is not None
        return WorkflowTaskToken(
            self.state.namespace_id,
            self.state.workflow_id,
            self.state.run_id,
            seq=wt.seq,
            attempt=wt.attempt,
            started_event_id=wt.started_event_id,
        )

    def complete_wft(
        self, *commands: command_pb2.Command, **request_fields: object
    ) -> completion.CompletionResult:
        wt = self.state.workflow_task
        assert wt is not None and wt.started
        token = self.wft_token()
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
