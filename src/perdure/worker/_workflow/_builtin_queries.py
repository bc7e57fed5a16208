"""The queries every workflow answers without declaring them, as temporalio's do.

``__stack_trace`` (what ``temporal workflow stack`` prints: the await stack of each of the
run's coroutines), ``__enhanced_stack_trace`` (the same as an ``EnhancedStackTrace`` proto
with the source files, for the UI) and ``__temporal_workflow_metadata`` (the handlers with
their descriptions and the current details, for ``temporal workflow metadata``).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from temporalio.api.sdk.v1 import (
    EnhancedStackTrace,
    StackTrace,
    StackTraceFileLocation,
    StackTraceFileSlice,
    StackTraceSDKInfo,
    WorkflowDefinition,
    WorkflowInteractionDefinition,
    WorkflowMetadata,
)

from perdure.workflow import _QueryDefinition
from perdure.workflow._unsafe import guard_suspended

STACK_TRACE = "__stack_trace"
ENHANCED_STACK_TRACE = "__enhanced_stack_trace"
WORKFLOW_METADATA = "__temporal_workflow_metadata"


class BuiltinQueries:
    """Answers the built-in queries from the run's live tasks and handler registry."""

    def __init__(
        self,
        *,
        workflow_type: str,
        tasks: Callable[[], Iterable[asyncio.Task[Any]]],
        definitions: Callable[[], tuple[Iterable[Any], Iterable[Any], Iterable[Any]]],
        current_details: Callable[[], str],
    ) -> None:
        """``definitions`` returns the (queries, signals, updates) definitions now registered."""
        self._workflow_type = workflow_type
        self._tasks = tasks
        self._definitions = definitions
        self._current_details = current_details

    def definitions(self) -> dict[str | None, _QueryDefinition]:
        """The query definitions to register before the workflow's own."""
        return {
            STACK_TRACE: _QueryDefinition(
                name=STACK_TRACE, fn=self.stack_trace, is_method=False, arg_types=[], ret_type=str
            ),
            ENHANCED_STACK_TRACE: _QueryDefinition(
                name=ENHANCED_STACK_TRACE,
                fn=self.enhanced_stack_trace,
                is_method=False,
                arg_types=[],
                ret_type=EnhancedStackTrace,
            ),
            WORKFLOW_METADATA: _QueryDefinition(
                name=WORKFLOW_METADATA,
                fn=self.metadata,
                is_method=False,
                arg_types=[],
                ret_type=WorkflowMetadata,
            ),
        }

    def stack_trace(self) -> str:
        """Each task's await stack, most recent call last (temporalio's text format)."""
        stacks = []
        for task in list(self._tasks()):
            frames = [
                traceback.FrameSummary(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)
                for f in await_frames(task)
            ]
            stacks.append(
                f"Stack for {task!r} (most recent call last):\n"
                + "\n".join(traceback.format_list(frames))
            )
        return "\n\n".join(stacks)

    def enhanced_stack_trace(self) -> EnhancedStackTrace:
        """Each task's frames as locations, with the source of every file they are in."""
        from perdure import __version__

        sources: dict[str, StackTraceFileSlice] = {}
        stacks: list[StackTrace] = []
        with guard_suspended():  # reading source files is I/O the guard would refuse
            for task in list(self._tasks()):
                locations = []
                for frame in await_frames(task):
                    filename = frame.f_code.co_filename
                    if filename not in sources:
                        sources[filename] = StackTraceFileSlice(
                            line_offset=0, content=_read_source(filename)
                        )
                    locations.append(
                        StackTraceFileLocation(
                            file_path=filename,
                            line=frame.f_lineno,
                            column=-1,
                            function_name=frame.f_code.co_name,
                            internal_code=False,
                        )
                    )
                stacks.append(StackTrace(locations=locations))
        return EnhancedStackTrace(
            sdk=StackTraceSDKInfo(name="perdure", version=__version__),
            sources=sources,
            stacks=stacks,
        )

    def metadata(self) -> WorkflowMetadata:
        """The workflow's type, its handlers (sorted by name) and its current details."""
        queries, signals, updates = self._definitions()
        return WorkflowMetadata(
            definition=WorkflowDefinition(
                type=self._workflow_type,
                query_definitions=_interactions(queries),
                signal_definitions=_interactions(signals),
                update_definitions=_interactions(updates),
            ),
            current_details=self._current_details(),
        )


def await_frames(task: asyncio.Task[Any]) -> list[FrameType]:
    """The frames a task is suspended in, outermost first, following each ``await``.

    ``Task.get_stack`` stops at the task's own coroutine; the awaited coroutines below it
    (where a workflow is actually waiting) hang off ``cr_await``.
    """
    frames: list[FrameType] = []
    awaitable: Any = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return frames


def _interactions(definitions: Iterable[Any]) -> list[WorkflowInteractionDefinition]:
    found = [
        WorkflowInteractionDefinition(name=d.name or "", description=d.description or "")
        for d in definitions
    ]
    return sorted(found, key=lambda d: d.name)


def _read_source(filename: str) -> str:
    try:
        with open(filename) as f:
            return f.read()
    except OSError as err:
        return f"Cannot access code.\n---\n{err.strerror}"
