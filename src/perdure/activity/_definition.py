"""The @activity.defn decorator and the definition it attaches to a callable.

The worker reads the definition to register activities; workflow code reads it
(through `_Definition.get_name_and_result_type`) to turn a function reference into
an activity type name and a result type.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import perdure.common

CallableType = TypeVar("CallableType", bound=Callable[..., Any])

_DEFN_ATTR = "__perdure_activity_definition"


@overload
def defn(fn: CallableType) -> CallableType: ...


@overload
def defn(
    *, name: str | None = None, no_thread_cancel_exception: bool = False
) -> Callable[[CallableType], CallableType]: ...


@overload
def defn(
    *, no_thread_cancel_exception: bool = False, dynamic: bool = False
) -> Callable[[CallableType], CallableType]: ...


def defn(
    fn: CallableType | None = None,
    *,
    name: str | None = None,
    no_thread_cancel_exception: bool = False,
    dynamic: bool = False,
) -> CallableType | Callable[[CallableType], CallableType]:
    """Mark a function (async or not) as an activity so a worker can register it.

    Args:
        fn: The function to decorate.
        name: Activity type name; defaults to the function's ``__name__``. Cannot be
            set together with ``dynamic``.
        no_thread_cancel_exception: For threaded sync activities, do not raise a
            cancellation exception inside the thread; the activity must poll
            :py:func:`is_cancelled` instead.
        dynamic: Handle every activity type not registered by name. The function
            must take one ``Sequence[RawValue]`` parameter.
    """
    if name is not None and dynamic:
        raise ValueError("Cannot set name and dynamic together")

    def decorator(fn: CallableType) -> CallableType:
        _Definition._apply_to_callable(
            fn,
            activity_name=None if dynamic else (name or fn.__name__),
            no_thread_cancel_exception=no_thread_cancel_exception,
        )
        return fn

    if fn is not None:
        return decorator(fn)
    return decorator


def _is_async_callable(fn: Callable[..., Any]) -> bool:
    # A callable instance with `async def __call__` is async too.
    if inspect.iscoroutinefunction(fn):
        return True
    return not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__)


@dataclass(frozen=True)
class _Definition:
    """What @activity.defn recorded: the type name (None when dynamic) and how to call it."""

    name: str | None
    fn: Callable[..., Any]
    is_async: bool
    no_thread_cancel_exception: bool
    arg_types: list[type] | None = None
    ret_type: type | None = None

    @staticmethod
    def from_callable(fn: Callable[..., Any]) -> _Definition | None:
        """The definition of a decorated callable, bound to `fn` itself (a method, say)."""
        found = getattr(fn, _DEFN_ATTR, None)
        if isinstance(found, _Definition):
            return dataclasses.replace(found, fn=fn)
        return None

    @staticmethod
    def must_from_callable(fn: Callable[..., Any]) -> _Definition:
        """Like `from_callable`, but a callable without a definition is a TypeError."""
        found = _Definition.from_callable(fn)
        if found is not None:
            return found
        fn_name = getattr(fn, "__name__", "<unknown>")
        raise TypeError(
            f"Activity {fn_name} missing attributes, was it decorated with @activity.defn?"
        )

    @classmethod
    def get_name_and_result_type(
        cls, name_or_run_fn: str | Callable[..., Any]
    ) -> tuple[str, type | None]:
        """Resolve what workflow code passed to execute_activity: a name or a function."""
        if isinstance(name_or_run_fn, str):
            return name_or_run_fn, None
        if callable(name_or_run_fn):
            found = cls.must_from_callable(name_or_run_fn)
            if not found.name:
                raise ValueError(f"Activity {name_or_run_fn} definition has no name")
            return found.name, found.ret_type
        raise TypeError("Activity must be a string or callable")

    @staticmethod
    def _apply_to_callable(
        fn: Callable[..., Any],
        *,
        activity_name: str | None,
        no_thread_cancel_exception: bool = False,
    ) -> None:
        if hasattr(fn, _DEFN_ATTR):
            raise ValueError("Function already contains activity definition")
        if not callable(fn):
            raise TypeError("Activity is not callable")
        for param in inspect.signature(fn).parameters.values():
            if param.kind == inspect.Parameter.KEYWORD_ONLY:
                raise TypeError("Activity cannot have keyword-only arguments")
        setattr(
            fn,
            _DEFN_ATTR,
            _Definition(
                name=activity_name,
                fn=fn,
                is_async=_is_async_callable(fn),
                no_thread_cancel_exception=no_thread_cancel_exception,
            ),
        )

    def __post_init__(self) -> None:
        if self.arg_types is not None or self.ret_type is not None:
            return
        arg_types, ret_type = perdure.common._type_hints_from_func(self.fn)
        if self.name is None and (
            not arg_types
            or len(arg_types) != 1
            or arg_types[0] != Sequence[perdure.common.RawValue]
        ):
            raise TypeError("Dynamic activity must accept a single Sequence[RawValue]")
        object.__setattr__(self, "arg_types", arg_types)
        object.__setattr__(self, "ret_type", ret_type)
