"""Which signal, query and update handlers a workflow has, and which of them are running.

Handlers come from the definition's decorated methods and from ``workflow.set_*_handler``
at run time. Signals that arrive before a handler for them exists wait here, buffered by
name, until one is registered. Running signal and update handlers are tracked for
``all_handlers_finished`` and the unfinished-handler warnings.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perdure.worker._workflow import _jobs as jobs
from perdure.workflow import (
    UnfinishedSignalHandlersWarning,
    UnfinishedUpdateHandlersWarning,
    _Definition,
    _QueryDefinition,
    _SignalDefinition,
    _UpdateDefinition,
)
from perdure.workflow._handlers import HandlerUnfinishedPolicy


@dataclass
class HandlerExecution:
    """A running signal or update handler (for unfinished-handler warnings)."""

    name: str
    unfinished_policy: HandlerUnfinishedPolicy
    id: str | None = None


class HandlerRegistry:
    """Handler definitions by name (None = dynamic), buffered signals, running handlers."""

    def __init__(
        self,
        defn: _Definition,
        workflow_object: Callable[[], Any],
        builtin_queries: Mapping[str | None, _QueryDefinition] | None = None,
    ) -> None:
        """``workflow_object``: the workflow object, which method handlers are bound to.

        ``builtin_queries`` (stack trace, metadata) take precedence, as in temporalio.
        """
        self._workflow_object = workflow_object
        self._signals: dict[str | None, _SignalDefinition] = dict(defn.signals)
        self._queries: dict[str | None, _QueryDefinition] = {
            **defn.queries,
            **(builtin_queries or {}),
        }
        self._updates: dict[str | None, _UpdateDefinition] = dict(defn.updates)
        self._buffered_signals: dict[str, list[jobs.SignalWorkflow]] = {}
        self._running_signals: dict[int, HandlerExecution] = {}
        self._running_updates: dict[str, HandlerExecution] = {}
        self._signal_count = 0

    # ------------------------------------------------------------------ lookup

    def signal(self, name: str) -> _SignalDefinition | None:
        """The definition that handles signal ``name`` (named, else dynamic)."""
        return self._signals.get(name) or self._signals.get(None)

    def query(self, name: str) -> _QueryDefinition | None:
        """The definition that handles query ``name`` (named, else dynamic)."""
        return self._queries.get(name) or self._queries.get(None)

    def update(self, name: str) -> _UpdateDefinition | None:
        """The definition that handles update ``name`` (named, else dynamic)."""
        return self._updates.get(name) or self._updates.get(None)

    def definitions(
        self,
    ) -> tuple[list[_QueryDefinition], list[_SignalDefinition], list[_UpdateDefinition]]:
        """Every query, signal and update definition registered now (for the metadata query)."""
        return (
            list(self._queries.values()),
            list(self._signals.values()),
            list(self._updates.values()),
        )

    def known_queries(self) -> str:
        """Names of the registered queries, for error messages."""
        return " ".join(sorted(k for k in self._queries if k))

    def known_updates(self) -> str:
        """Names of the registered updates, for error messages."""
        return " ".join(sorted(k for k in self._updates if k))

    def signal_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The signal handler registered under exactly ``name``."""
        defn = self._signals.get(name)
        return self._bound(defn) if defn else None

    def query_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The query handler registered under exactly ``name``."""
        defn = self._queries.get(name)
        return self._bound(defn) if defn else None

    def update_handler(self, name: str | None) -> Callable[..., Any] | None:
        """The update handler registered under exactly ``name``."""
        defn = self._updates.get(name)
        return self._bound(defn) if defn else None

    def update_validator(self, name: str | None) -> Callable[..., Any] | None:
        """The validator of the update that handles ``name`` (named, else dynamic)."""
        defn = self._updates.get(name) or self._updates.get(None)
        if not defn or not defn.validator:
            return None
        obj = self._workflow_object()
        return defn.bind_validator(obj) if defn.is_method else defn.validator

    def _bound(self, defn: Any) -> Callable[..., Any]:
        return defn.bind_fn(self._workflow_object()) if defn.is_method else defn.fn  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ registration

    def set_signal_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        description: str | None = None,
    ) -> tuple[_SignalDefinition | None, list[jobs.SignalWorkflow]]:
        """Register or remove a signal handler; returns it and the buffered signals it takes."""
        if handler is None:
            self._signals.pop(name, None)
            return None, []
        defn = _SignalDefinition(name=name, fn=handler, is_method=False, description=description)
        self._signals[name] = defn
        if name:
            pending = self._buffered_signals.pop(name, [])
        else:
            pending = [job for group in self._buffered_signals.values() for job in group]
            self._buffered_signals.clear()
        return defn, pending

    def set_query_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        description: str | None = None,
    ) -> None:
        """Register or remove a query handler."""
        if handler is None:
            self._queries.pop(name, None)
            return
        self._queries[name] = _QueryDefinition(
            name=name, fn=handler, is_method=False, description=description
        )

    def set_update_handler(
        self,
        name: str | None,
        handler: Callable[..., Any] | None,
        validator: Callable[..., Any] | None,
        description: str | None = None,
    ) -> None:
        """Register or remove an update handler (and its validator)."""
        if handler is None:
            self._updates.pop(name, None)
            return
        defn = _UpdateDefinition(name=name, fn=handler, is_method=False, description=description)
        if validator is not None:
            defn.set_validator(validator)
        self._updates[name] = defn

    def buffer_signal(self, job: jobs.SignalWorkflow) -> None:
        """Keep a signal nobody handles yet until a handler for it is registered."""
        self._buffered_signals.setdefault(job.name, []).append(job)

    # ------------------------------------------------------------------ running handlers

    def signal_started(self, name: str, policy: HandlerUnfinishedPolicy) -> int:
        """A signal handler started; returns its key for ``signal_finished``."""
        self._signal_count += 1
        self._running_signals[self._signal_count] = HandlerExecution(name, policy)
        return self._signal_count

    def signal_finished(self, key: int) -> None:
        """A signal handler ended."""
        self._running_signals.pop(key, None)

    def update_started(self, update_id: str, name: str, policy: HandlerUnfinishedPolicy) -> None:
        """An update handler started."""
        self._running_updates[update_id] = HandlerExecution(name, policy, update_id)

    def update_finished(self, update_id: str) -> None:
        """An update handler ended."""
        self._running_updates.pop(update_id, None)

    def all_finished(self) -> bool:
        """No signal or update handler is running."""
        return not self._running_signals and not self._running_updates

    def warn_unfinished(self) -> None:
        """The run is closing: warn about handlers that are still running (unless told not to)."""

        def warnable(executions: Sequence[HandlerExecution]) -> list[HandlerExecution]:
            return [
                e
                for e in executions
                if e.unfinished_policy == HandlerUnfinishedPolicy.WARN_AND_ABANDON
            ]

        updates = warnable(list(self._running_updates.values()))
        if updates:
            names = ", ".join(f"{{'name': '{u.name}', 'id': '{u.id}'}}" for u in updates)
            warnings.warn(
                UnfinishedUpdateHandlersWarning(
                    f"[TMPRL1102] Workflow finished while update handlers are still running. "
                    f"The following updates were unfinished (and will be dropped): [{names}]"
                ),
                stacklevel=2,
            )
        signals = warnable(list(self._running_signals.values()))
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
