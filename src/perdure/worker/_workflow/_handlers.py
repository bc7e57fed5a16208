"""Signals, queries and updates: delivering them to handlers, buffering, registration.

Signals without a handler are buffered until one is registered. Updates run validator
(read-only) then handler in their own task; the acceptance, rejection and completion become
update responses. Queries run read-only and may not issue commands.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import warnings
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
from perdure.worker._workflow._base import HandlerExecution, InstanceBase, _EvictedError
from perdure.workflow import (
    ContinueAsNewError,
    ReadOnlyContextError,
    UnfinishedSignalHandlersWarning,
    UnfinishedUpdateHandlersWarning,
    UpdateInfo,
    _QueryDefinition,
    _set_current_update_info,
    _SignalDefinition,
    _UpdateDefinition,
)
from perdure.workflow._event_groups import _inbound_event_group, _inbound_update_group
from perdure.workflow._handlers import HandlerUnfinishedPolicy

logger = logging.getLogger(__name__)


class RootInbound(WorkflowInboundInterceptor):
    """The innermost inbound interceptor: calls the workflow's own methods and handlers."""

    def __init__(self, instance: HandlersMixin) -> None:
        self._instance = instance

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        """Remember the outermost outbound interceptor."""
        self._instance._outbound = outbound

    async def execute_workflow(self, input: Any) -> Any:
        """Call the @workflow.run method."""
        return await input.run_fn(self._instance._object, *input.args)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        """Call the signal handler (named, else dynamic)."""
        handler = self._instance.workflow_get_signal_handler(
            input.signal
        ) or self._instance.workflow_get_signal_handler(None)
        assert handler is not None
        if inspect.iscoroutinefunction(handler):
            await handler(*input.args)
        else:
            handler(*input.args)

    async def handle_query(self, input: HandleQueryInput) -> Any:
        """Call the query handler (named, else dynamic)."""
        handler = self._instance.workflow_get_query_handler(
            input.query
        ) or self._instance.workflow_get_query_handler(None)
        assert handler is not None
        if inspect.iscoroutinefunction(handler):
            return await handler(*input.args)
        return handler(*input.args)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        """Call the validator of this exact update name, if it has one."""
        validator = self._instance.workflow_get_update_validator(input.update)
        if validator is not None:
            validator(*input.args)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        """Call the update handler (named, else dynamic)."""
        handler = self._instance.workflow_get_update_handler(
            input.update
        ) or self._instance.workflow_get_update_handler(None)
        assert handler is not None
        if inspect.iscoroutinefunction(handler):
            return await handler(*input.args)
        return handler(*input.args)


class HandlersMixin(InstanceBase):
    """Delivery of signals, updates and queries to the workflow's handlers."""

    def _init_handlers(self) -> None:
        self._buffered_signals: dict[str, list[jobs.SignalWorkflow]] = {}
        self._in_progress_signals: dict[int, HandlerExecution] = {}
        self._in_progress_updates: dict[str, HandlerExecution] = {}
        self._signal_count = 0

    # ------------------------------------------------------------------ registration

    def _bound(self, defn: Any) -> Callable[..., Any]:
        return defn.bind_fn(self._object) if defn.is_method else defn.fn  # type: ignore[no-any-return]

    def workflow_get_signal_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The signal handler registered under ``name`` (None = dynamic)."""
        defn = self._signals.get(name)
        return self._bound(defn) if defn else None

    def workflow_get_query_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The query handler registered under ``name`` (None = dynamic)."""
        defn = self._queries.get(name)
        return self._bound(defn) if defn else None

    def workflow_get_update_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The update handler registered under ``name`` (None = dynamic)."""
        defn = self._updates.get(name)
        return self._bound(defn) if defn else None

    def workflow_get_update_validator(self, name: str | None) -> Callable[..., Any] | None:
        """The validator of the update registered under ``name``."""
        defn = self._updates.get(name) or self._updates.get(None)
        if not defn or not defn.validator:
            return None
        return defn.bind_validator(self._object) if defn.is_method else defn.validator

    def workflow_set_signal_handler(
        self, name: str | None, handler: Callable[..., Any] | None
    ) -> None:
        """Register or remove a signal handler; buffered signals for it are delivered."""
        self._assert_not_read_only("set signal handler")
        if handler is None:
            self._signals.pop(name, None)
            return
        defn = _SignalDefinition(name=name, fn=handler, is_method=False)
        self._signals[name] = defn
        if name:
            pending = self._buffered_signals.pop(name, [])
        else:
            pending = [job for group in self._buffered_signals.values() for job in group]
            self._buffered_signals.clear()
        for job in pending:
            self._process_signal(defn, job)

    def workflow_set_query_handler(
        self, name: str | None, handler: Callable[..., Any] | None
    ) -> None:
        """Register or remove a query handler."""
        self._assert_not_read_only("set query handler")
        if handler is None:
            self._queries.pop(name, None)
            return
        self._queries[name] = _QueryDefinition(name=name, fn=handler, is_method=False)

    def workflow_set_update_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        validator: Callable[..., Any] | None,
    ) -> None:
        """Register or remove an update handler (and its validator)."""
        self._assert_not_read_only("set update handler")
        if handler is None:
            self._updates.pop(name, None)
            return
        defn = _UpdateDefinition(name=name, fn=handler, is_method=False)
        if validator is not None:
            defn.set_validator(validator)
        self._updates[name] = defn

    def workflow_all_handlers_finished(self) -> bool:
        """No signal or update handler is running."""
        return not self._in_progress_signals and not self._in_progress_updates

    # ------------------------------------------------------------------ arguments

    def _handler_args(
        self,
        name: str,
        payloads: Sequence[Payload],
        defn_name: str | None,
        arg_types: list[Any] | None,
        dynamic_vararg: bool,
    ) -> list[Any]:
        if not defn_name and dynamic_vararg:
            types = arg_types[1:] if arg_types else None
            return [name, *self._convert_payloads(payloads, types)]
        if not defn_name:
            raw = [perdure.common.RawValue] * len(payloads)
            return [name, self._convert_payloads(payloads, raw)]
        return self._convert_payloads(payloads, arg_types)

    # ------------------------------------------------------------------ signals

    def _apply_signal(self, job: jobs.SignalWorkflow) -> None:
        defn = self._signals.get(job.name) or self._signals.get(None)
        if defn is None:
            self._buffered_signals.setdefault(job.name, []).append(job)
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
        self._signal_count += 1
        key = self._signal_count
        self._in_progress_signals[key] = HandlerExecution(job.name, defn.unfinished_policy)

        async def run_signal() -> None:
            with _inbound_event_group(job.event_id).scope():
                await self._inbound.handle_signal(handler_input)

        task = self._create_task(self._run_top_level(run_signal()), f"signal: {job.name}")
        task.add_done_callback(lambda _: self._in_progress_signals.pop(key, None))

    # ------------------------------------------------------------------ updates

    def _apply_update(self, job: jobs.DoUpdate) -> None:
        async def run_update() -> None:
            _set_current_update_info(UpdateInfo(id=job.id, name=job.name))
            accepted = False
            try:
                defn = self._updates.get(job.name) or self._updates.get(None)
                if defn is None:
                    known = " ".join(sorted(k for k in self._updates if k))
                    raise RuntimeError(
                        f"Update handler for '{job.name}' expected but not found, and there "
                        f"is no dynamic handler. known updates: [{known}]"
                    )
                self._in_progress_updates[job.id] = HandlerExecution(
                    job.name, defn.unfinished_policy, job.id
                )
                args = self._handler_args(
                    job.name, job.input, defn.name, defn.arg_types, defn.dynamic_vararg
                )
                handler_input = HandleUpdateInput(
                    id=job.id, update=job.name, args=args, headers=job.headers
                )
                if job.run_validator and defn.validator is not None:
                    with self._read_only_section():
                        self._inbound.handle_update_validator(handler_input)
                    handler_input.args = self._handler_args(
                        job.name, job.input, defn.name, defn.arg_types, defn.dynamic_vararg
                    )
                accepted = True
                self._add_command(jobs.UpdateResponse(job.protocol_instance_id, accepted=True))
                with _inbound_update_group(job.id).scope():
                    result = await self._inbound.handle_update_handler(handler_input)
                payloads = self._payload_converter.to_payloads([result])
                if len(payloads) != 1:
                    raise ValueError(f"Expected 1 result payload, got {len(payloads)}")
                self._add_command(
                    jobs.UpdateResponse(job.protocol_instance_id, completed=payloads[0])
                )
            except (Exception, asyncio.CancelledError) as err:
                if self._deleting or isinstance(err, _EvictedError):
                    return
                if isinstance(err, asyncio.CancelledError):
                    err = perdure.exceptions.CancelledError(
                        f"Cancellation raised within update {err}"
                    )
                if isinstance(err, ReadOnlyContextError):
                    self._loop.failure = err
                    return
                if not accepted:
                    self._add_command(
                        jobs.UpdateResponse(
                            job.protocol_instance_id, rejected=self._to_failure(err)
                        )
                    )
                elif self.workflow_is_failure_exception(err):
                    self._add_command(
                        jobs.UpdateResponse(
                            job.protocol_instance_id, completed_failure=self._to_failure(err)
                        )
                    )
                else:
                    self._loop.failure = err
            except ContinueAsNewError:
                self._loop.failure = RuntimeError("Cannot continue as new from an update handler")
            finally:
                self._in_progress_updates.pop(job.id, None)

        self._create_task(run_update(), f"update: {job.name}")

    # ------------------------------------------------------------------ queries

    def _read_only_section(self) -> _ReadOnly:
        return _ReadOnly(self)

    async def _run_query(self, job: jobs.QueryWorkflow) -> Any:
        defn = self._queries.get(job.query_type) or self._queries.get(None)
        if defn is None:
            known = " ".join(sorted(k for k in self._queries if k))
            raise KeyError(
                f"Query handler for '{job.query_type}' expected but not found, known "
                f"queries: [{known}]"
            )
        args = self._handler_args(
            job.query_type, job.arguments, defn.name, defn.arg_types, defn.dynamic_vararg
        )
        handler_input = HandleQueryInput(
            id=job.query_id, query=job.query_type, args=args, headers=job.headers
        )
        return await self._inbound.handle_query(handler_input)

    def _warn_unfinished_handlers(self) -> None:
        def warnable(executions: Sequence[HandlerExecution]) -> list[HandlerExecution]:
            return [
                e
                for e in executions
                if e.unfinished_policy == HandlerUnfinishedPolicy.WARN_AND_ABANDON
            ]

        updates = warnable(list(self._in_progress_updates.values()))
        if updates:
            names = ", ".join(f"{{'name': '{u.name}', 'id': '{u.id}'}}" for u in updates)
            warnings.warn(
                UnfinishedUpdateHandlersWarning(
                    f"[TMPRL1102] Workflow finished while update handlers are still running. "
                    f"The following updates were unfinished (and will be dropped): [{names}]"
                ),
                stacklevel=2,
            )
        signals = warnable(list(self._in_progress_signals.values()))
        if signals:
            counts: dict[str, int] = {}
            for s in signals:
                counts[s.name] = counts.get(s.name, 0) + 1
            names = ", ".join(f"{{'name': '{n}', 'count': {c}}}" for n, c in counts.items())
            warnings.warn(
                UnfinishedSignalHandlersWarning(
                    f"[TMPRL1102] Workflow finished while signal handlers are still running. "
                    f"The following signals were unfinished (and will be dropped): [{names}]"
                ),
                stacklevel=2,
            )


class _ReadOnly:
    """Context manager: no commands may be issued inside (queries, validators)."""

    def __init__(self, instance: InstanceBase) -> None:
        self._instance = instance
        self._previous = False

    def __enter__(self) -> None:
        self._previous = self._instance._read_only
        self._instance._read_only = True

    def __exit__(self, *exc: object) -> None:
        self._instance._read_only = self._previous
