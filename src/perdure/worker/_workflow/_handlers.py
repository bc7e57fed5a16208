"""Delivering signals, updates and queries to the workflow's handlers.

Signals without a handler are buffered (in the ``HandlerRegistry``) until one is
registered. Updates run validator (read-only) then handler in their own task; the
acceptance, rejection and completion become update responses. Queries run read-only and
may not issue commands. ``RootInbound`` is the innermost inbound interceptor: it calls the
workflow's own methods and handlers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.api.common.v1 import Payload

import perdure.common
import perdure.exceptions
from perdure.worker._interceptor import (
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    WorkflowInboundInterceptor,
    WorkflowOutboundInterceptor,
)
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._command_buffer import CommandBuffer
from perdure.worker._workflow._conversion import Conversion
from perdure.worker._workflow._handler_registry import HandlerRegistry
from perdure.worker._workflow._loop import WorkflowEventLoop
from perdure.worker._workflow._mode import EvictedError, RunMode
from perdure.worker._workflow._outcome import WorkflowOutcome
from perdure.workflow import (
    ContinueAsNewError,
    Info,
    ReadOnlyContextError,
    UpdateInfo,
    _set_current_update_info,
    _SignalDefinition,
)
from perdure.workflow._event_groups import _inbound_event_group, _inbound_update_group

logger = logging.getLogger(__name__)


class RootInbound(WorkflowInboundInterceptor):
    """The innermost inbound interceptor: calls the workflow's own methods and handlers."""

    def __init__(self, registry: HandlerRegistry, workflow_object: Callable[[], Any]) -> None:
        self._registry = registry
        self._workflow_object = workflow_object
        self._outbound: WorkflowOutboundInterceptor | None = None

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        """Remember the outermost outbound interceptor."""
        self._outbound = outbound

    def outbound(self) -> WorkflowOutboundInterceptor:
        """The outermost outbound interceptor (set when the chain was initialised)."""
        if self._outbound is None:
            raise RuntimeError("The workflow's interceptor chain did not initialise its root")
        return self._outbound

    async def execute_workflow(self, input: Any) -> Any:
        """Call the @workflow.run method."""
        return await input.run_fn(self._workflow_object(), *input.args)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        """Call the signal handler (named, else dynamic)."""
        registry = self._registry
        handler = registry.signal_handler(input.signal) or registry.signal_handler(None)
        assert handler is not None
        if inspect.iscoroutinefunction(handler):
            await handler(*input.args)
        else:
            handler(*input.args)

    async def handle_query(self, input: HandleQueryInput) -> Any:
        """Call the query handler (named, else dynamic)."""
        registry = self._registry
        handler = registry.query_handler(input.query) or registry.query_handler(None)
        assert handler is not None
        if inspect.iscoroutinefunction(handler):
            return await handler(*input.args)
        return handler(*input.args)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        """Call the validator of this exact update name, if it has one."""
        validator = self._registry.update_validator(input.update)
        if validator is not None:
            validator(*input.args)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        """Call the update handler (named, else dynamic)."""
        registry = self._registry
        handler = registry.update_handler(input.update) or registry.update_handler(None)
        assert handler is not None
        if inspect.iscoroutinefunction(handler):
            return await handler(*input.args)
        return handler(*input.args)


class Handlers:
    """Runs signal, update and query jobs through the inbound interceptors."""

    def __init__(
        self,
        *,
        info: Info,
        registry: HandlerRegistry,
        inbound: WorkflowInboundInterceptor,
        loop: WorkflowEventLoop,
        mode: RunMode,
        commands: CommandBuffer,
        conversion: Conversion,
        outcome: WorkflowOutcome,
    ) -> None:
        self._info = info
        self._registry = registry
        self._inbound = inbound
        self._loop = loop
        self._mode = mode
        self._commands = commands
        self._conversion = conversion
        self._outcome = outcome

    def set_signal_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        description: str | None = None,
    ) -> None:
        """Register or remove a signal handler; buffered signals for it are delivered."""
        self._mode.check_writable("set signal handler")
        defn, pending = self._registry.set_signal_handler(name, handler, description)
        if defn is not None:
            for job in pending:
                self._process_signal(defn, job)

    def _handler_args(
        self,
        name: str,
        payloads: Sequence[Payload],
        defn_name: str | None,
        arg_types: list[Any] | None,
        dynamic_vararg: bool,
    ) -> list[Any]:
        decode = self._conversion.decode
        if not defn_name and dynamic_vararg:
            types = arg_types[1:] if arg_types else None
            return [name, *decode(payloads, types)]
        if not defn_name:
            raw = [perdure.common.RawValue] * len(payloads)
            return [name, decode(payloads, raw)]
        return decode(payloads, arg_types)

    # ------------------------------------------------------------------ signals

    def apply_signal(self, job: jobs.SignalWorkflow) -> None:
        """Run the signal's handler, or buffer the signal until there is one."""
        defn = self._registry.signal(job.name)
        if defn is None:
            self._registry.buffer_signal(job)
            return
        self._process_signal(defn, job)

    def _process_signal(self, defn: _SignalDefinition, job: jobs.SignalWorkflow) -> None:
        try:
            args = self._handler_args(
                job.name, job.input, defn.name, defn.arg_types, defn.dynamic_vararg
            )
        except Exception:
            logger.exception(
                "Failed deserializing signal input for %s on workflow %s (id %s, run %s), "
                "dropping the signal",
                job.name,
                self._info.workflow_type,
                self._info.workflow_id,
                self._info.run_id,
            )
            return
        handler_input = HandleSignalInput(signal=job.name, args=args, headers=job.headers)
        key = self._registry.signal_started(job.name, defn.unfinished_policy)

        async def run_signal() -> None:
            with _inbound_event_group(job.event_id).scope():
                await self._inbound.handle_signal(handler_input)

        task = self._loop.create_task(self._outcome.run(run_signal()), name=f"signal: {job.name}")
        task.add_done_callback(lambda _: self._registry.signal_finished(key))

    # ------------------------------------------------------------------ updates

    def apply_update(self, job: jobs.DoUpdate) -> None:
        """Validate and run an update in its own task; responses become commands."""
        registry = self._registry
        mode = self._mode
        commands = self._commands
        conversion = self._conversion

        async def run_update() -> None:
            _set_current_update_info(UpdateInfo(id=job.id, name=job.name))
            accepted = False
            try:
                defn = registry.update(job.name)
                if defn is None:
                    raise RuntimeError(
                        f"Update handler for '{job.name}' expected but not found, and there "
                        f"is no dynamic handler. known updates: [{registry.known_updates()}]"
                    )
                registry.update_started(job.id, job.name, defn.unfinished_policy)
                args = self._handler_args(
                    job.name, job.input, defn.name, defn.arg_types, defn.dynamic_vararg
                )
                handler_input = HandleUpdateInput(
                    id=job.id, update=job.name, args=args, headers=job.headers
                )
                if job.run_validator and defn.validator is not None:
                    with mode.read_only_section():
                        self._inbound.handle_update_validator(handler_input)
                    handler_input.args = self._handler_args(
                        job.name, job.input, defn.name, defn.arg_types, defn.dynamic_vararg
                    )
                accepted = True
                commands.add(jobs.UpdateResponse(job.protocol_instance_id, accepted=True))
                with _inbound_update_group(job.id).scope():
                    result = await self._inbound.handle_update_handler(handler_input)
                payloads = conversion.payload_converter.to_payloads([result])
                if len(payloads) != 1:
                    raise ValueError(f"Expected 1 result payload, got {len(payloads)}")
                commands.add(jobs.UpdateResponse(job.protocol_instance_id, completed=payloads[0]))
            except (Exception, asyncio.CancelledError) as err:
                if mode.evicting or isinstance(err, EvictedError):
                    return
                if isinstance(err, asyncio.CancelledError):
                    err = perdure.exceptions.CancelledError(
                        f"Cancellation raised within update {err}"
                    )
                if isinstance(err, ReadOnlyContextError):
                    self._loop.failure = err
                    return
                if not accepted:
                    commands.add(
                        jobs.UpdateResponse(
                            job.protocol_instance_id, rejected=conversion.to_failure(err)
                        )
                    )
                elif conversion.is_failure_exception(err):
                    commands.add(
                        jobs.UpdateResponse(
                            job.protocol_instance_id, completed_failure=conversion.to_failure(err)
                        )
                    )
                else:
                    self._loop.failure = err
            except ContinueAsNewError:
                self._loop.failure = RuntimeError("Cannot continue as new from an update handler")
            finally:
                registry.update_finished(job.id)

        self._loop.create_task(run_update(), name=f"update: {job.name}")

    # ------------------------------------------------------------------ queries

    async def run_query(self, job: jobs.QueryWorkflow) -> Any:
        """Answer a query through the inbound interceptors (the caller makes it read-only)."""
        defn = self._registry.query(job.query_type)
        if defn is None:
            raise KeyError(
                f"Query handler for '{job.query_type}' expected but not found, known "
                f"queries: [{self._registry.known_queries()}]"
            )
        args = self._handler_args(
            job.query_type, job.arguments, defn.name, defn.arg_types, defn.dynamic_vararg
        )
        handler_input = HandleQueryInput(
            id=job.query_id, query=job.query_type, args=args, headers=job.headers
        )
        return await self._inbound.handle_query(handler_input)
