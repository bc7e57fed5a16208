"""Replay recorded histories against workflow code to prove the code still fits them.

Histories come from ``WorkflowHandle.fetch_history()`` or Temporal's JSON export
(``temporal workflow show --output json``, ``WorkflowHistory.from_json``), including ones
written by the official SDK's workers. Replay runs entirely in process: no server, no
activities; a mismatch is a NondeterminismError naming the workflow, event and command.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

import perdure.converter
from perdure.worker._interceptor import Interceptor
from perdure.worker._workflow import _codec, _guard
from perdure.worker._workflow._instance import WorkflowInstance
from perdure.worker._workflow._run import RunConfig, TaskFailure, WorkflowRun
from perdure.workflow import NondeterminismError
from perdure.workflow._unsafe import guard_suspended


class _History(Protocol):
    """What replay needs of a history (perdure's or temporalio's WorkflowHistory)."""

    @property
    def workflow_id(self) -> str: ...

    @property
    def events(self) -> Sequence[HistoryEvent]: ...


class ReplayerConfig(TypedDict, total=False):
    """The options a :py:class:`Replayer` was created with."""

    workflows: Sequence[type]
    namespace: str
    data_converter: perdure.converter.DataConverter
    interceptors: Sequence[Interceptor]
    build_id: str | None
    identity: str | None
    workflow_failure_exception_types: Sequence[type[BaseException]]
    debug_mode: bool


@dataclass(frozen=True)
class WorkflowReplayResult:
    """The replay of one history."""

    history: Any
    """The history that was replayed."""

    replay_failure: Exception | None
    """Why replay failed (NondeterminismError, or a workflow task failure), or None."""


@dataclass(frozen=True)
class WorkflowReplayResults:
    """The replays of several histories."""

    replay_failures: Mapping[str, Exception]
    """Replay failures by run id."""


class Replayer:
    """Replays histories with the given workflow classes (mirrors temporalio's Replayer)."""

    def __init__(
        self,
        *,
        workflows: Sequence[type],
        namespace: str = "ReplayNamespace",
        data_converter: perdure.converter.DataConverter = perdure.converter.DataConverter.default,
        interceptors: Sequence[Interceptor] = (),
        build_id: str | None = None,
        identity: str | None = None,
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        debug_mode: bool = False,
        **_compat: Any,
    ) -> None:
        """Configure replay (``workflow_runner`` and other temporalio options are accepted).

        Args:
            workflows: Workflow classes the histories may belong to.
            namespace: Namespace shown in the workflows' Info.
            data_converter: Converter the workflows were run with (codec included).
            interceptors: Interceptors the worker used.
            build_id: Accepted for compatibility.
            identity: Accepted for compatibility.
            workflow_failure_exception_types: As on the worker.
            debug_mode: No deadlock detection (for stepping through workflow code).
        """
        if not workflows:
            raise ValueError("At least one workflow must be specified")
        self._config = ReplayerConfig(
            workflows=list(workflows),
            namespace=namespace,
            data_converter=data_converter,
            interceptors=list(interceptors),
            build_id=build_id,
            identity=identity,
            workflow_failure_exception_types=list(workflow_failure_exception_types),
            debug_mode=debug_mode,
        )
        definitions, dynamic = RunConfig.collect(workflows)
        extern: dict[str, Callable[..., Any]] = {}
        self._run_config = RunConfig(
            namespace=namespace,
            task_queue="",
            definitions=definitions,
            dynamic=dynamic,
            payload_converter=data_converter.payload_converter,
            failure_converter=data_converter.failure_converter,
            interceptor_classes=WorkflowInstance.interceptor_classes(interceptors, extern),
            failure_exception_types=tuple(workflow_failure_exception_types),
            extern_functions=extern,
            debug_mode=debug_mode,
            replay_only=True,
        )
        self._codec = data_converter.payload_codec
        _guard.install()

    def config(self) -> ReplayerConfig:
        """A copy of the options."""
        return ReplayerConfig(**self._config)

    async def replay_workflow(
        self, history: _History, *, raise_on_replay_failure: bool = True
    ) -> WorkflowReplayResult:
        """Replay one history; raises its failure unless ``raise_on_replay_failure`` is False."""
        result = await self._replay(history)
        if raise_on_replay_failure and result.replay_failure is not None:
            raise result.replay_failure
        return result

    async def replay_workflows(
        self,
        histories: Iterable[_History] | AsyncIterator[_History],
        *,
        raise_on_replay_failure: bool = True,
    ) -> WorkflowReplayResults:
        """Replay many histories; failures are raised (first one) or collected by run id."""
        failures: dict[str, Exception] = {}
        async with self.workflow_replay_iterator(histories) as results:
            async for result in results:
                if result.replay_failure is None:
                    continue
                if raise_on_replay_failure:
                    raise result.replay_failure
                failures[_run_id(result.history)] = result.replay_failure
        return WorkflowReplayResults(replay_failures=failures)

    def workflow_replay_iterator(
        self, histories: Iterable[_History] | AsyncIterator[_History]
    ) -> AbstractAsyncContextManager[AsyncIterator[WorkflowReplayResult]]:
        """An async iterator of replay results, one per history, in order."""

        @asynccontextmanager
        async def iterate() -> AsyncIterator[AsyncIterator[WorkflowReplayResult]]:
            async def results() -> AsyncIterator[WorkflowReplayResult]:
                if isinstance(histories, AsyncIterator):
                    async for history in histories:
                        yield await self._replay(history)
                else:
                    for history in histories:
                        yield await self._replay(history)

            yield results()

        return iterate()

    async def _replay(self, history: _History) -> WorkflowReplayResult:
        events = [_copy(e) for e in history.events]
        if not events:
            raise ValueError("History has no events")
        if self._codec is not None:
            await _codec.transform(events, self._codec.decode)
        started = events[0].workflow_execution_started_event_attributes
        run = WorkflowRun(
            self._run_config,
            workflow_id=history.workflow_id or started.workflow_id,
            run_id=_run_id(history),
            workflow_type=started.workflow_type.name,
        )
        last_started = max(
            (
                e.event_id
                for e in events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
            ),
            default=0,
        )
        failure: Exception | None = None
        try:
            run.feed(events, previous_started_event_id=last_started)
            run.advance()
            run.replay.finish_replay()
        except NondeterminismError as err:
            failure = err
        except TaskFailure as err:
            failure = RuntimeError(
                f"Workflow task failed during replay of workflow {run.workflow_type} "
                f"(workflow_id={run.workflow_id}, run_id={run.run_id}): {err.error}"
            )
            failure.__cause__ = err.error
        finally:
            with guard_suspended():
                run.evict()
        await asyncio.sleep(0)
        return WorkflowReplayResult(history=history, replay_failure=failure)


def _copy(event: HistoryEvent) -> HistoryEvent:
    copy = HistoryEvent()
    copy.CopyFrom(event)
    return copy


def _run_id(history: _History) -> str:
    run_id = getattr(history, "run_id", None)
    if isinstance(run_id, str) and run_id:
        return run_id
    events = history.events
    if events:
        return events[0].workflow_execution_started_event_attributes.original_execution_run_id
    return ""
