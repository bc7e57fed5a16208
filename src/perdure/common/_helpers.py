"""Private helpers shared by the SDK modules (argument merging, headers, type hints)."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_type_hints

from temporalio.api.common.v1 import message_pb2 as common_pb

# --------------------------------------------------------------------------- SDK helpers

# Marks "no single argument given" where None is a legitimate argument.
_arg_unset: Any = object()


def _arg_or_args(arg: Any, args: Sequence[Any]) -> Sequence[Any]:
    """Merge the ``arg=`` / ``args=`` pair that SDK calls accept into one sequence."""
    if arg is _arg_unset:
        return args
    if args:
        raise ValueError("Cannot have arg and args")
    return [arg]


def _apply_headers(source: Mapping[str, common_pb.Payload] | None, dest: Any) -> None:
    """Copy header payloads into a proto map field (message maps cannot be assigned)."""
    if source is None:
        return
    for key, payload in source.items():
        dest[key].CopyFrom(payload)


_BUILTIN_CALLABLES = (
    type(type.__call__),
    type(all.__call__),  # type: ignore[attr-defined,operator]
    type(int.__dict__["from_bytes"]),
    types.BuiltinFunctionType,
)


def _type_hints_from_func(func: Callable[..., Any]) -> tuple[list[Any] | None, Any]:
    """The positional parameter types and the return type of ``func``.

    Parameter types are ``None`` when any parameter is keyword-only or variadic, since
    payloads then cannot be matched to parameters by position; an unannotated parameter
    has a ``None`` hint (decoded without a target type). A leading unannotated ``self``
    is skipped.
    """
    if (
        not inspect.isfunction(func)
        and not isinstance(func, _BUILTIN_CALLABLES)
        and not isinstance(func, types.MethodType)
    ):
        owner = func if isinstance(func, type) else type(func)
        call = getattr(owner, "__call__", None)  # noqa: B004 - we want the method itself
        if call is not None and not isinstance(owner, _BUILTIN_CALLABLES):
            func = call
    hints = get_type_hints(func)
    ret = hints.get("return")
    params: list[Any] = []
    for index, param in enumerate(inspect.signature(func).parameters.values()):
        if (
            index == 0
            and param.name == "self"
            and (
                param.annotation is inspect.Parameter.empty
                or str(param.annotation) == "typing.Self"
            )
        ):
            continue
        if param.kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            return None, ret
        params.append(hints.get(param.name))
    return params, ret
