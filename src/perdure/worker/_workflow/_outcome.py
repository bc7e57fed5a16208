"""How the run's top-level code ends: the main method, and signal handlers like it.

Returning completes the workflow; ContinueAsNewError continues it as new; a failure
exception fails it; cancellation after a cancel request cancels it; anything else fails
the workflow task (the loop re-raises it from ``activate``) and leaves history untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import perdure.exceptions
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._command_buffer import CommandBuffer
from perdure.worker._workflow._conversion import Conversion
from perdure.worker._workflow._loop import WorkflowEventLoop
from perdure.worker._workflow._mode import RunMode
from perdure.worker._workflow._outbound import ContinueAsNewRequested


class WorkflowOutcome:
    """Turns how top-level workflow code ended into a closing command or a task failure."""

    def __init__(
        self,
        loop: WorkflowEventLoop,
        mode: RunMode,
        commands: CommandBuffer,
        conversion: Conversion,
    ) -> None:
        self._loop = loop
        self._mode = mode
        self._commands = commands
        self._conversion = conversion

    async def run(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run the main method or a signal handler and route how it ended."""
        try:
            await coro
        except ContinueAsNewRequested as err:
            err.apply()
        except (Exception, asyncio.CancelledError) as err:
            if self._mode.evicting:
                return
            error: BaseException = err
            if isinstance(err, asyncio.CancelledError):
                error = perdure.exceptions.CancelledError(str(err))
            if self._mode.cancel_reason is not None and perdure.exceptions.is_cancelled_exception(
                error
            ):
                self._commands.add(jobs.CancelWorkflowExecution())
            elif self._conversion.is_failure_exception(error):
                self.fail(error)
            else:
                self._loop.failure = error

    def complete(self, result: Any) -> None:
        """CompleteWorkflowExecution with the main method's result."""
        payloads = self._conversion.payload_converter.to_payloads([result])
        if len(payloads) != 1:
            raise ValueError(f"Expected 1 result payload, got {len(payloads)}")
        self._commands.add(jobs.CompleteWorkflow(payloads[0]))

    def fail(self, err: BaseException) -> None:
        """FailWorkflowExecution with ``err``."""
        try:
            failure = self._conversion.to_failure(err)
        except Exception as inner:
            raise ValueError("Failed converting workflow exception") from inner
        self._commands.add(jobs.FailWorkflow(failure))
