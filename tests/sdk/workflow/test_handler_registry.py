"""HandlerRegistry: handler lookup, signals buffered until a handler exists, running handlers."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from perdure import workflow
from perdure.common import RawValue
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._handler_registry import HandlerRegistry
from perdure.workflow import (
    UnfinishedSignalHandlersWarning,
    UnfinishedUpdateHandlersWarning,
    _Definition,
)
from perdure.workflow._handlers import HandlerUnfinishedPolicy


@workflow.defn
class Greeter:
    def __init__(self) -> None:
        self.names: list[str] = []

    @workflow.run
    async def run(self) -> None:
        pass

    @workflow.signal
    def greet(self, name: str) -> None:
        self.names.append(name)

    @workflow.query
    def greeted(self) -> list[str]:
        return self.names


def _registry(obj: Any = None) -> HandlerRegistry:
    return HandlerRegistry(_Definition.must_from_class(Greeter), lambda: obj)


def _signal(name: str) -> jobs.SignalWorkflow:
    return jobs.SignalWorkflow(name, [], {})


def _dynamic(name: str, *args: Any) -> None:
    """A dynamic signal handler (old varargs form)."""


def _dynamic_update(name: str, args: Sequence[RawValue]) -> None:
    """A dynamic update handler."""


def test_method_handlers_are_bound_to_the_workflow_object() -> None:
    obj = Greeter()
    registry = _registry(obj)
    handler = registry.signal_handler("greet")
    assert handler is not None
    handler("ada")
    assert obj.names == ["ada"]
    assert registry.signal("greet") is not None and registry.signal("other") is None
    assert registry.known_queries() == "greeted"


def test_buffered_signals_go_to_the_handler_registered_for_their_name() -> None:
    registry = _registry()
    first, second, other = _signal("late"), _signal("late"), _signal("other")
    for job in (first, second, other):
        registry.buffer_signal(job)
    defn, pending = registry.set_signal_handler("late", lambda: None)
    assert defn is not None and defn.name == "late"
    assert pending == [first, second]
    _, rest = registry.set_signal_handler(None, _dynamic)
    assert rest == [other]
    assert registry.set_signal_handler(None, _dynamic)[1] == []


def test_removing_a_handler_falls_back_to_the_dynamic_one() -> None:
    registry = _registry()
    registry.set_update_handler("bump", lambda: 1, None)
    registry.set_update_handler(None, _dynamic_update, None)
    named = registry.update("bump")
    assert named is not None and named.name == "bump"
    registry.set_update_handler("bump", None, None)
    dynamic = registry.update("bump")
    assert dynamic is not None and dynamic.name is None
    assert registry.known_updates() == ""


def test_running_handlers_are_tracked_until_they_finish() -> None:
    registry = _registry()
    key = registry.signal_started("greet", HandlerUnfinishedPolicy.WARN_AND_ABANDON)
    registry.update_started("u1", "bump", HandlerUnfinishedPolicy.ABANDON)
    assert not registry.all_finished()
    registry.signal_finished(key)
    assert not registry.all_finished()
    registry.update_finished("u1")
    assert registry.all_finished()


def test_only_handlers_with_the_warn_policy_are_warned_about() -> None:
    registry = _registry()
    registry.signal_started("greet", HandlerUnfinishedPolicy.WARN_AND_ABANDON)
    registry.signal_started("greet", HandlerUnfinishedPolicy.WARN_AND_ABANDON)
    registry.update_started("u1", "quiet", HandlerUnfinishedPolicy.ABANDON)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry.warn_unfinished()
    assert [type(w.message) for w in caught] == [UnfinishedSignalHandlersWarning]
    assert "{'name': 'greet', 'count': 2}" in str(caught[0].message)
    registry.update_started("u2", "loud", HandlerUnfinishedPolicy.WARN_AND_ABANDON)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry.warn_unfinished()
    assert type(caught[0].message) is UnfinishedUpdateHandlersWarning
    assert "'id': 'u2'" in str(caught[0].message)
