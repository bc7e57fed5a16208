"""The @workflow.signal, @workflow.query and @workflow.update decorators and their definitions.

Definitions are attached under temporalio's attribute names (``__temporal_signal_definition``,
``__temporal_query_definition``, ``_defn`` on update methods) so clients of either SDK can
resolve names from method references.
"""

from __future__ import annotations

import inspect
import typing
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any, Literal, ParamSpec, Protocol, TypeVar, cast, overload

import perdure.common

CallableType = TypeVar("CallableType", bound=Callable[..., Any])
MultiParamSpec = ParamSpec("MultiParamSpec")
ProtocolReturnType = TypeVar("ProtocolReturnType", covariant=True)
ReturnType = TypeVar("ReturnType")

_SIGNAL_ATTR = "__temporal_signal_definition"
_QUERY_ATTR = "__temporal_query_definition"


class HandlerUnfinishedPolicy(Enum):
    """What to do when the workflow finishes while a signal or update handler still runs."""

    WARN_AND_ABANDON = 1
    """Log a warning (UnfinishedSignalHandlersWarning / UnfinishedUpdateHandlersWarning)."""
    ABANDON = 2
    """Finish silently."""


class UnfinishedUpdateHandlersWarning(RuntimeWarning):
    """The workflow finished while update handlers were still running."""


class UnfinishedSignalHandlersWarning(RuntimeWarning):
    """The workflow finished while signal handlers were still running."""


def _bind_method(obj: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Bind an unbound method to the workflow object, keeping it a coroutine function."""
    if inspect.iscoroutinefunction(fn):

        async def bound(*args: Any, **kwargs: Any) -> Any:
            return await fn(obj, *args, **kwargs)

        return bound
    return partial(fn, obj)


def _assert_dynamic_handler_args(
    fn: Callable[..., Any], arg_types: list[Any] | None, is_method: bool
) -> bool:
    """Dynamic handlers take (name: str, args: Sequence[RawValue]); True unless old varargs."""
    params = list(inspect.signature(fn).parameters.values())
    expected = 3 if is_method else 2
    if (
        len(params) == expected
        and params[-2].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        and params[-1].kind is inspect.Parameter.VAR_POSITIONAL
    ):
        return False
    if (
        not arg_types
        or len(arg_types) != 2
        or arg_types[0] is not str
        or (
            arg_types[1] != Sequence[perdure.common.RawValue]
            and arg_types[1] != typing.Sequence[perdure.common.RawValue]
        )
    ):
        raise RuntimeError(
            "Dynamic handler must have 3 arguments: self, str, and Sequence[RawValue]"
        )
    return True


@dataclass(frozen=True)
class _SignalDefinition:
    """A signal handler: its name (None = dynamic), function and unfinished policy."""

    name: str | None
    fn: Callable[..., Awaitable[None] | None]
    is_method: bool
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON
    description: str | None = None
    arg_types: list[Any] | None = None
    dynamic_vararg: bool = False

    @staticmethod
    def from_fn(fn: Callable[..., Any]) -> _SignalDefinition | None:
        """The definition attached to a @workflow.signal method, if any."""
        return getattr(fn, _SIGNAL_ATTR, None)

    @staticmethod
    def must_name_from_fn_or_str(signal: str | Callable[..., Any]) -> str:
        """The signal name of a decorated method, or the string itself."""
        if callable(signal):
            defn = _SignalDefinition.from_fn(signal)
            if not defn:
                raise RuntimeError(
                    f"Signal definition not found on {signal.__qualname__}, "
                    "is it decorated with @workflow.signal?"
                )
            if not defn.name:
                raise RuntimeError("Cannot invoke dynamic signal definition")
            return defn.name
        return str(signal)

    def __post_init__(self) -> None:
        if self.arg_types is None:
            arg_types, _ = perdure.common._type_hints_from_func(self.fn)
            if not self.name:
                vararg = not _assert_dynamic_handler_args(self.fn, arg_types, self.is_method)
                object.__setattr__(self, "dynamic_vararg", vararg)
            object.__setattr__(self, "arg_types", arg_types)

    def bind_fn(self, obj: Any) -> Callable[..., Any]:
        """The handler bound to the workflow object."""
        return _bind_method(obj, self.fn)


@dataclass(frozen=True)
class _QueryDefinition:
    """A query handler: its name (None = dynamic) and function."""

    name: str | None
    fn: Callable[..., Any]
    is_method: bool
    description: str | None = None
    arg_types: list[Any] | None = None
    ret_type: Any = None
    dynamic_vararg: bool = False

    @staticmethod
    def from_fn(fn: Callable[..., Any]) -> _QueryDefinition | None:
        """The definition attached to a @workflow.query method, if any."""
        return getattr(fn, _QUERY_ATTR, None)

    def __post_init__(self) -> None:
        if self.arg_types is None and self.ret_type is None:
            arg_types, ret_type = perdure.common._type_hints_from_func(self.fn)
            if not self.name:
                vararg = not _assert_dynamic_handler_args(self.fn, arg_types, self.is_method)
                object.__setattr__(self, "dynamic_vararg", vararg)
            object.__setattr__(self, "arg_types", arg_types)
            object.__setattr__(self, "ret_type", ret_type)

    def bind_fn(self, obj: Any) -> Callable[..., Any]:
        """The handler bound to the workflow object."""
        return _bind_method(obj, self.fn)


@dataclass(frozen=True)
class _UpdateDefinition:
    """An update handler: name (None = dynamic), function, validator, unfinished policy."""

    name: str | None
    fn: Callable[..., Any]
    is_method: bool
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON
    description: str | None = None
    arg_types: list[Any] | None = None
    ret_type: Any = None
    validator: Callable[..., None] | None = None
    dynamic_vararg: bool = False

    def __post_init__(self) -> None:
        if self.arg_types is None:
            arg_types, ret_type = perdure.common._type_hints_from_func(self.fn)
            if not self.name and not _assert_dynamic_handler_args(
                self.fn, arg_types, self.is_method
            ):
                raise RuntimeError(
                    "Dynamic updates do not support a vararg third param, use Sequence[RawValue]"
                )
            object.__setattr__(self, "arg_types", arg_types)
            object.__setattr__(self, "ret_type", ret_type)

    def bind_fn(self, obj: Any) -> Callable[..., Any]:
        """The handler bound to the workflow object."""
        return _bind_method(obj, self.fn)

    def bind_validator(self, obj: Any) -> Callable[..., Any]:
        """The validator bound to the workflow object (accepts everything when unset)."""
        if self.validator is not None:
            return _bind_method(obj, self.validator)
        return lambda *args, **kwargs: None

    def set_validator(self, validator: Callable[..., None]) -> None:
        """Attach the validator; it runs synchronously, so it cannot be async."""
        if inspect.iscoroutinefunction(validator):
            raise ValueError("Update validator must not be an async function")
        if self.validator:
            raise RuntimeError(f"Validator already set for update {self.name}")
        object.__setattr__(self, "validator", validator)

    @classmethod
    def get_name_and_result_type(
        cls, name_or_update_fn: str | Callable[..., Any]
    ) -> tuple[str, Any]:
        """Name and result type of a decorated update method, or the string name."""
        defn = getattr(name_or_update_fn, "_defn", None)
        if isinstance(defn, _UpdateDefinition):
            if not defn.name:
                raise RuntimeError("Cannot invoke dynamic update definition")
            return defn.name, defn.ret_type
        return str(name_or_update_fn), None


class UpdateMethodMultiParam(Protocol[MultiParamSpec, ProtocolReturnType]):
    """An update method: callable, with its definition and a ``validator`` decorator."""

    _defn: _UpdateDefinition

    def __call__(
        self, *args: MultiParamSpec.args, **kwargs: MultiParamSpec.kwargs
    ) -> ProtocolReturnType:
        """Call the handler."""
        ...

    def validator(self, vfunc: Callable[MultiParamSpec, None]) -> Callable[MultiParamSpec, None]:
        """Register the validator of this update."""
        ...


@overload
def signal(fn: CallableType) -> CallableType: ...


@overload
def signal(
    *,
    unfinished_policy: HandlerUnfinishedPolicy = ...,
    description: str | None = None,
) -> Callable[[CallableType], CallableType]: ...


@overload
def signal(
    *,
    name: str,
    unfinished_policy: HandlerUnfinishedPolicy = ...,
    description: str | None = None,
) -> Callable[[CallableType], CallableType]: ...


@overload
def signal(
    *,
    dynamic: Literal[True],
    unfinished_policy: HandlerUnfinishedPolicy = ...,
    description: str | None = None,
) -> Callable[[CallableType], CallableType]: ...


def signal(
    fn: CallableType | None = None,
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON,
    description: str | None = None,
) -> CallableType | Callable[[CallableType], CallableType]:
    """Decorate a workflow method (sync or async, returning None) as a signal handler.

    Args:
        fn: The method to decorate.
        name: Signal name; defaults to the method name. Cannot be set with ``dynamic``.
        dynamic: Handle every signal without a handler of its own; the method takes
            ``(self, name: str, args: Sequence[RawValue])``.
        unfinished_policy: What to do if the workflow ends while this handler runs.
        description: Shown by tools that list the workflow's handlers.
    """

    def decorator(
        name: str | None, unfinished_policy: HandlerUnfinishedPolicy, fn: CallableType
    ) -> CallableType:
        if not name and not dynamic:
            name = fn.__name__
        defn = _SignalDefinition(
            name=name,
            fn=fn,
            is_method=True,
            unfinished_policy=unfinished_policy,
            description=description,
        )
        setattr(fn, _SIGNAL_ATTR, defn)
        if defn.dynamic_vararg:
            warnings.warn(
                "Dynamic signals with vararg third param is deprecated, use Sequence[RawValue]",
                DeprecationWarning,
                stacklevel=2,
            )
        return fn

    if name is not None or dynamic:
        if name is not None and dynamic:
            raise RuntimeError("Cannot provide name and dynamic boolean")
        return partial(decorator, name, unfinished_policy)
    if fn is None:
        return partial(decorator, name, unfinished_policy)
    return decorator(fn.__name__, unfinished_policy, fn)


@overload
def query(fn: CallableType) -> CallableType: ...


@overload
def query(
    *, name: str, description: str | None = None
) -> Callable[[CallableType], CallableType]: ...


@overload
def query(
    *, dynamic: Literal[True], description: str | None = None
) -> Callable[[CallableType], CallableType]: ...


@overload
def query(*, description: str) -> Callable[[CallableType], CallableType]: ...


def query(
    fn: CallableType | None = None,
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    description: str | None = None,
) -> CallableType | Callable[[CallableType], CallableType]:
    """Decorate a workflow method as a query handler: read-only, must not block or command.

    Args:
        fn: The method to decorate.
        name: Query name; defaults to the method name. Cannot be set with ``dynamic``.
        dynamic: Handle every query without a handler of its own; the method takes
            ``(self, name: str, args: Sequence[RawValue])``.
        description: Shown by tools that list the workflow's handlers.
    """

    def decorator(name: str | None, description: str | None, fn: CallableType) -> CallableType:
        if not name and not dynamic:
            name = fn.__name__
        if inspect.iscoroutinefunction(fn):
            warnings.warn(
                "Queries as async def functions are deprecated",
                DeprecationWarning,
                stacklevel=2,
            )
        defn = _QueryDefinition(name=name, fn=fn, is_method=True, description=description)
        setattr(fn, _QUERY_ATTR, defn)
        if defn.dynamic_vararg:
            warnings.warn(
                "Dynamic queries with vararg third param is deprecated, use Sequence[RawValue]",
                DeprecationWarning,
                stacklevel=2,
            )
        return fn

    if name is not None or dynamic:
        if name is not None and dynamic:
            raise RuntimeError("Cannot provide name and dynamic boolean")
        return partial(decorator, name, description)
    if fn is None:
        return partial(decorator, name, description)
    return decorator(fn.__name__, description, fn)


@overload
def update(
    fn: Callable[MultiParamSpec, Awaitable[ReturnType]],
) -> UpdateMethodMultiParam[MultiParamSpec, ReturnType]: ...


@overload
def update(
    fn: Callable[MultiParamSpec, ReturnType],
) -> UpdateMethodMultiParam[MultiParamSpec, ReturnType]: ...


@overload
def update(
    *,
    unfinished_policy: HandlerUnfinishedPolicy = ...,
    description: str | None = None,
) -> Callable[
    [Callable[MultiParamSpec, ReturnType]], UpdateMethodMultiParam[MultiParamSpec, ReturnType]
]: ...


@overload
def update(
    *,
    name: str,
    unfinished_policy: HandlerUnfinishedPolicy = ...,
    description: str | None = None,
) -> Callable[
    [Callable[MultiParamSpec, ReturnType]], UpdateMethodMultiParam[MultiParamSpec, ReturnType]
]: ...


@overload
def update(
    *,
    dynamic: Literal[True],
    unfinished_policy: HandlerUnfinishedPolicy = ...,
    description: str | None = None,
) -> Callable[
    [Callable[MultiParamSpec, ReturnType]], UpdateMethodMultiParam[MultiParamSpec, ReturnType]
]: ...


def update(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON,
    description: str | None = None,
) -> Any:
    """Decorate a workflow method (sync or async) as an update handler.

    The decorated method gains a ``validator`` decorator: the validator runs (read-only)
    before the update is accepted, and an exception from it rejects the update.

    Args:
        fn: The method to decorate.
        name: Update name; defaults to the method name. Cannot be set with ``dynamic``.
        dynamic: Handle every update without a handler of its own; the method takes
            ``(self, name: str, args: Sequence[RawValue])``.
        unfinished_policy: What to do if the workflow ends while this handler runs.
        description: Shown by tools that list the workflow's handlers.
    """

    def decorator(
        name: str | None, unfinished_policy: HandlerUnfinishedPolicy, fn: Callable[..., Any]
    ) -> Any:
        if not name and not dynamic:
            name = fn.__name__
        defn = _UpdateDefinition(
            name=name,
            fn=fn,
            is_method=True,
            unfinished_policy=unfinished_policy,
            description=description,
        )
        fn_any = cast(Any, fn)
        fn_any._defn = defn
        fn_any.validator = partial(_update_validator, defn)
        return fn

    if name is not None or dynamic:
        if name is not None and dynamic:
            raise RuntimeError("Cannot provide name and dynamic boolean")
        return partial(decorator, name, unfinished_policy)
    if fn is None:
        return partial(decorator, name, unfinished_policy)
    return decorator(fn.__name__, unfinished_policy, fn)


def _update_validator(
    update_def: _UpdateDefinition, fn: Callable[..., None] | None = None
) -> Callable[..., None] | None:
    """The ``@my_update.validator`` decorator."""
    if fn is not None:
        update_def.set_validator(fn)
    return fn
