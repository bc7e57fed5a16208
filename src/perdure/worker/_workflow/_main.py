"""The workflow object and its run method.

The object is created on the first activation (or query) with the loop current, so that
``__init__`` runs as workflow code; a dynamic workflow's config is read from it then.
InitializeWorkflow starts the run method as the primary task; CancelWorkflow cancels it
(under single-batch activation a cancel can arrive before the start: it waits for it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import perdure.common
from perdure.worker._interceptor import ExecuteWorkflowInput, WorkflowInboundInterceptor
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._conversion import Conversion
from perdure.worker._workflow._loop import WorkflowEventLoop
from perdure.worker._workflow._mode import RunMode
from perdure.worker._workflow._outcome import WorkflowOutcome
from perdure.workflow import _Definition


def execute_input(
    defn: _Definition, start: jobs.InitializeWorkflow, conversion: Conversion
) -> ExecuteWorkflowInput:
    """The run method's input, decoded from the start event (dynamic workflows: raw values)."""
    payloads = list(start.attributes.input.payloads)
    arg_types = defn.arg_types
    if not defn.name:
        arg_types = [perdure.common.RawValue] * len(payloads)
    args: list[Any] = conversion.decode(payloads, arg_types)
    if not defn.name:
        args = [args]
    return ExecuteWorkflowInput(
        type=defn.cls,
        run_fn=defn.run_fn,
        args=args,
        headers=dict(start.attributes.header.fields),
    )


class WorkflowMain:
    """The workflow object, its primary task, and cancellation of that task."""

    def __init__(
        self,
        *,
        defn: _Definition,
        input: ExecuteWorkflowInput,
        inbound: WorkflowInboundInterceptor,
        loop: WorkflowEventLoop,
        mode: RunMode,
        conversion: Conversion,
        outcome: WorkflowOutcome,
    ) -> None:
        self._defn = defn
        self._input = input
        self._inbound = inbound
        self._loop = loop
        self._mode = mode
        self._conversion = conversion
        self._outcome = outcome
        self._primary_task: asyncio.Task[None] | None = None
        self._cancel_pending = False
        self.object: Any = None
        self.versioning_behavior: perdure.common.VersioningBehavior | None = (
            defn.versioning_behavior
        )

    def ensure_object(self) -> None:
        """Create the workflow object if it does not exist yet."""
        if self.object is None:
            self.object = self._loop.run_outside(self._instantiate)

    def _instantiate(self) -> Any:
        cls = self._defn.cls
        init = getattr(vars(cls).get("__init__"), "__temporal_workflow_init", False) or getattr(
            getattr(cls, "__init__", None), "__temporal_workflow_init", False
        )
        obj = cls(*self._input.args) if init else cls()
        if self._defn.name is None and self._defn.dynamic_config_fn is not None:
            with self._mode.read_only_section():
                config = self._defn.dynamic_config_fn(obj)
            if config.failure_exception_types is not None:
                self._conversion.use_failure_exception_types(config.failure_exception_types)
            if config.versioning_behavior != perdure.common.VersioningBehavior.UNSPECIFIED:
                self.versioning_behavior = config.versioning_behavior
        return obj

    def start(self) -> None:
        """Start the run method as the primary task (InitializeWorkflow)."""

        async def run_workflow() -> None:
            try:
                result = await self._inbound.execute_workflow(self._input)
                self._outcome.complete(result)
            except Exception:
                if self._mode.evicting:
                    return
                raise

        self._primary_task = self._loop.create_task(self._outcome.run(run_workflow()), name="run")
        if self._cancel_pending:
            self._cancel_pending = False
            self._loop.call_soon(self._primary_task.cancel)

    def cancel(self) -> None:
        """Cancel the primary task (CancelWorkflow; the reason is in RunMode)."""
        if self._primary_task is not None:
            self._loop.call_soon(self._primary_task.cancel)
        elif self._mode.single_batch:
            self._cancel_pending = True
