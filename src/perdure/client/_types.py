"""Typing helpers for the client's overloads, and name resolution of workflow callables.

The client accepts a workflow's ``@workflow.run`` method (or a signal, query or update
method) in place of its name. Names and result types are read from the definition the
decorators attach, the same attributes temporalio's decorators set, so both
``perdure.workflow`` and ``temporalio.workflow`` definitions work:

* run method: ``__temporal_workflow_definition`` with ``name`` and ``ret_type``;
* signal method: ``__temporal_signal_definition`` with ``name``;
* query method: ``__temporal_query_definition`` with ``name`` and ``ret_type``;
* update method: ``_defn`` (or ``__temporal_update_definition``) with ``name`` and ``ret_type``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, Protocol, TypeVar

SelfType = TypeVar("SelfType")
"""The workflow class."""
ReturnType = TypeVar("ReturnType", covariant=True)
"""A workflow's result type."""
LocalReturnType = TypeVar("LocalReturnType", covariant=True)
"""A query's or update's result type."""
ParamType = TypeVar("ParamType")
"""A single parameter's type."""
AnyType = TypeVar("AnyType")
"""Any type."""
MultiParamSpec = ParamSpec("MultiParamSpec")
"""Several parameters."""

_SelfContra = TypeVar("_SelfContra", contravariant=True)
_ParamContra = TypeVar("_ParamContra", contravariant=True)
_ReturnCo = TypeVar("_ReturnCo", covariant=True)


class MethodAsyncNoParam(Protocol[_SelfContra, _ReturnCo]):
    """An async method without parameters (e.g. a ``@workflow.run``)."""

    def __call__(__self, self: _SelfContra) -> Awaitable[_ReturnCo]:
        """Call it."""
        ...


class MethodAsyncSingleParam(Protocol[_SelfContra, _ParamContra, _ReturnCo]):
    """An async method with one parameter."""

    def __call__(__self, self: _SelfContra, __arg: _ParamContra) -> Awaitable[_ReturnCo]:
        """Call it."""
        ...


class MethodSyncOrAsyncNoParam(Protocol[_SelfContra, _ReturnCo]):
    """A sync or async method without parameters (e.g. a query)."""

    def __call__(__self, self: _SelfContra) -> _ReturnCo | Awaitable[_ReturnCo]:
        """Call it."""
        ...


class MethodSyncOrAsyncSingleParam(Protocol[_SelfContra, _ParamContra, _ReturnCo]):
    """A sync or async method with one parameter."""

    def __call__(
        __self,
        self: _SelfContra,
        __arg: _ParamContra,
    ) -> _ReturnCo | Awaitable[_ReturnCo]:
        """Call it."""
        ...


class CallableAsyncNoParam(Protocol[_ReturnCo]):
    """An async callable without parameters."""

    def __call__(self) -> Awaitable[_ReturnCo]:
        """Call it."""
        ...


class CallableSyncNoParam(Protocol[_ReturnCo]):
    """A callable without parameters."""

    def __call__(self) -> _ReturnCo:
        """Call it."""
        ...


class CallableAsyncSingleParam(Protocol[_ParamContra, _ReturnCo]):
    """An async callable with one parameter."""

    def __call__(self, __arg: _ParamContra) -> Awaitable[_ReturnCo]:
        """Call it."""
        ...


class CallableSyncSingleParam(Protocol[_ParamContra, _ReturnCo]):
    """A callable with one parameter."""

    def __call__(self, __arg: _ParamContra) -> _ReturnCo:
        """Call it."""
        ...


def _definition(fn: object, *attributes: str) -> Any:
    for attribute in attributes:
        found = getattr(fn, attribute, None)
        if found is not None:
            return found
    return None


def workflow_name_and_result_type(workflow: str | Callable[..., Any]) -> tuple[str, Any]:
    """The workflow type name and result type hint of a name or ``@workflow.run`` method."""
    if isinstance(workflow, str):
        return workflow, None
    if not callable(workflow):
        raise TypeError("Workflow must be a string or callable")
    defn = _definition(workflow, "__temporal_workflow_definition")
    if defn is None:
        raise ValueError(
            f"Function {getattr(workflow, '__qualname__', workflow)} missing attributes, "
            "was it decorated with @workflow.run and was its class decorated with "
            "@workflow.defn?"
        )
    if not defn.name:
        raise ValueError("Cannot invoke dynamic workflow explicitly")
    return defn.name, defn.ret_type


def signal_name(signal: str | Callable[..., Any]) -> str:
    """The signal name of a name or ``@workflow.signal`` method."""
    if not callable(signal):
        return str(signal)
    defn = _definition(signal, "__temporal_signal_definition")
    if defn is None:
        raise RuntimeError(
            f"Signal definition not found on {signal.__qualname__}, "
            "is it decorated with @workflow.signal?"
        )
    if not defn.name:
        raise RuntimeError("Cannot invoke dynamic signal definition")
    return str(defn.name)


def query_name_and_result_type(query: str | Callable[..., Any]) -> tuple[str, Any]:
    """The query name and result type hint of a name or ``@workflow.query`` method."""
    if not callable(query):
        return str(query), None
    defn = _definition(query, "__temporal_query_definition")
    if defn is None:
        raise RuntimeError(
            f"Query definition not found on {query.__qualname__}, "
            "is it decorated with @workflow.query?"
        )
    if not defn.name:
        raise RuntimeError("Cannot invoke dynamic query definition")
    return defn.name, defn.ret_type


def update_name_and_result_type(update: str | Callable[..., Any]) -> tuple[str, Any]:
    """The update name and result type hint of a name or ``@workflow.update`` method."""
    if isinstance(update, str):
        return update, None
    defn = _definition(update, "_defn", "__temporal_update_definition")
    if defn is None:
        return str(update), None
    if not defn.name:
        raise RuntimeError("Cannot invoke dynamic update definition")
    return defn.name, defn.ret_type
