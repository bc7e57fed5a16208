"""The @workflow.defn, @workflow.run and @workflow.init decorators, and the class definition.

``_Definition`` is what the worker registers and what clients read to turn
``MyWorkflow.run`` into a workflow type name; it is attached under temporalio's attribute
name (``__temporal_workflow_definition``) so either SDK's client resolves it.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload

import perdure.common
from perdure.workflow._handlers import (
    _QueryDefinition,
    _SignalDefinition,
    _UpdateDefinition,
)

ClassType = TypeVar("ClassType", bound=type)
CallableType = TypeVar("CallableType", bound=Callable[..., Any])
CallableAsyncType = TypeVar("CallableAsyncType", bound=Callable[..., Awaitable[Any]])

_DEFN_ATTR = "__temporal_workflow_definition"
_RUN_ATTR = "__temporal_workflow_run"
_INIT_ATTR = "__temporal_workflow_init"
_DYNAMIC_CONFIG_ATTR = "__temporal_workflow_dynamic_config"


@overload
def defn(cls: ClassType) -> ClassType: ...


@overload
def defn(
    *,
    name: str | None = None,
    sandboxed: bool = True,
    failure_exception_types: Sequence[type[BaseException]] = (),
    versioning_behavior: perdure.common.VersioningBehavior = ...,
) -> Callable[[ClassType], ClassType]: ...


@overload
def defn(
    *,
    sandboxed: bool = True,
    dynamic: bool = False,
    versioning_behavior: perdure.common.VersioningBehavior = ...,
) -> Callable[[ClassType], ClassType]: ...


def defn(
    cls: ClassType | None = None,
    *,
    name: str | None = None,
    sandboxed: bool = True,
    dynamic: bool = False,
    failure_exception_types: Sequence[type[BaseException]] = (),
    versioning_behavior: perdure.common.VersioningBehavior = (
        perdure.common.VersioningBehavior.UNSPECIFIED
    ),
) -> ClassType | Callable[[ClassType], ClassType]:
    """Decorate a workflow class: one @workflow.run method, any signal/query/update handlers.

    Args:
        cls: The class to decorate.
        name: Workflow type name; defaults to the class name. Cannot be set with ``dynamic``.
        sandboxed: Accepted for compatibility; Perdure has no import sandbox (its
            determinism guard is always on while workflow code runs).
        dynamic: Run every workflow type not registered by name; the run method takes one
            ``Sequence[RawValue]`` parameter.
        failure_exception_types: Exception types that fail the workflow (or update) instead
            of failing the workflow task, in addition to the worker's.
        versioning_behavior: Worker-deployment versioning behavior of this workflow.
    """

    def decorator(cls: ClassType) -> ClassType:
        _Definition._apply_to_class(
            cls,
            workflow_name=None if dynamic else (name or cls.__name__),
            sandboxed=sandboxed,
            failure_exception_types=failure_exception_types,
            versioning_behavior=versioning_behavior,
        )
        return cls

    if cls is not None:
        return decorator(cls)
    return decorator


def init(init_fn: CallableType) -> CallableType:
    """Decorate ``__init__`` to receive the workflow's arguments (same parameters as run)."""
    if init_fn.__name__ != "__init__":
        raise ValueError("@workflow.init may only be used on the __init__ method")
    setattr(init_fn, _INIT_ATTR, True)
    return init_fn


def run(fn: CallableAsyncType) -> CallableAsyncType:
    """Decorate the workflow's entry point: one async method on the @workflow.defn class."""
    if not inspect.iscoroutinefunction(fn):
        raise ValueError("Workflow run method must be an async function")
    if "<locals>" in fn.__qualname__:
        raise ValueError("Local classes unsupported, @workflow.run cannot be on a local class")
    setattr(fn, _RUN_ATTR, True)
    return fn  # type: ignore[return-value]


@dataclass(frozen=True)
class DynamicWorkflowConfig:
    """Per-type settings a dynamic workflow returns from its @workflow.dynamic_config method."""

    failure_exception_types: Sequence[type[BaseException]] | None = None
    """Exception types that fail the workflow instead of the task (overrides defn's)."""
    versioning_behavior: perdure.common.VersioningBehavior = (
        perdure.common.VersioningBehavior.UNSPECIFIED
    )
    """Versioning behavior of this workflow (overrides defn's)."""


def dynamic_config(fn: CallableType) -> CallableType:
    """Decorate the sync ``(self) -> DynamicWorkflowConfig`` method of a dynamic workflow."""
    if inspect.iscoroutinefunction(fn):
        raise ValueError("Workflow dynamic_config method must be synchronous")
    if len(inspect.signature(fn).parameters) != 1:
        raise ValueError("Workflow dynamic_config method must only take self parameter")
    setattr(fn, _DYNAMIC_CONFIG_ATTR, True)
    return fn


def _parameters_identical_up_to_naming(fn1: Callable[..., Any], fn2: Callable[..., Any]) -> bool:
    """Same parameter kinds, defaults and annotations, whatever the names."""

    def params(fn: Callable[..., Any]) -> list[inspect.Parameter]:
        return [p.replace(name="x") for p in inspect.signature(fn).parameters.values()]

    return params(fn1) == params(fn2)


def _is_unbound_method_on_cls(fn: Callable[..., Any], cls: type) -> bool:
    """Whether `fn` is a function defined directly in `cls`'s body."""
    return (
        inspect.isfunction(fn)
        and inspect.getmodule(fn) is inspect.getmodule(cls)
        and fn.__qualname__.rsplit(".", 1)[0] == cls.__name__
    )


@dataclass(frozen=True)
class _Definition:
    """A registered workflow class: name (None = dynamic), run method, handlers."""

    name: str | None
    cls: type
    run_fn: Callable[..., Awaitable[Any]]
    signals: Mapping[str | None, _SignalDefinition]
    queries: Mapping[str | None, _QueryDefinition]
    updates: Mapping[str | None, _UpdateDefinition]
    sandboxed: bool
    failure_exception_types: Sequence[type[BaseException]]
    arg_types: list[Any] | None = None
    ret_type: Any = None
    versioning_behavior: perdure.common.VersioningBehavior | None = None
    dynamic_config_fn: Callable[..., DynamicWorkflowConfig] | None = None
    init_fn: Callable[..., None] | None = None

    @staticmethod
    def from_class(cls: type) -> _Definition | None:
        """The definition of exactly this class (not one inherited from a base)."""
        defn = getattr(cls, _DEFN_ATTR, None)
        if isinstance(defn, _Definition) and defn.cls == cls:
            return defn
        return None

    @staticmethod
    def must_from_class(cls: type) -> _Definition:
        """Like from_class, but an undecorated class is an error."""
        found = _Definition.from_class(cls)
        if found:
            return found
        name = getattr(cls, "__name__", "<unknown>")
        raise ValueError(
            f"Workflow {name} missing attributes, was it decorated with @workflow.defn?"
        )

    @staticmethod
    def from_run_fn(fn: Callable[..., Awaitable[Any]]) -> _Definition | None:
        """The definition a @workflow.run method belongs to."""
        found = getattr(fn, _DEFN_ATTR, None)
        return found if isinstance(found, _Definition) else None

    @staticmethod
    def must_from_run_fn(fn: Callable[..., Awaitable[Any]]) -> _Definition:
        """Like from_run_fn, but an undecorated method is an error."""
        found = _Definition.from_run_fn(fn)
        if found:
            return found
        name = getattr(fn, "__qualname__", "<unknown>")
        raise ValueError(
            f"Function {name} missing attributes, was it decorated with @workflow.run and "
            "was its class decorated with @workflow.defn?"
        )

    @classmethod
    def get_name_and_result_type(
        cls, name_or_run_fn: str | Callable[..., Awaitable[Any]]
    ) -> tuple[str, Any]:
        """Workflow type name and result type of a run method, or the string name."""
        if isinstance(name_or_run_fn, str):
            return name_or_run_fn, None
        if callable(name_or_run_fn):
            defn = cls.must_from_run_fn(name_or_run_fn)
            if not defn.name:
                raise ValueError("Cannot invoke dynamic workflow explicitly")
            return defn.name, defn.ret_type
        raise TypeError("Workflow must be a string or callable")

    @staticmethod
    def _apply_to_class(
        cls: type,
        *,
        workflow_name: str | None,
        sandboxed: bool,
        failure_exception_types: Sequence[type[BaseException]],
        versioning_behavior: perdure.common.VersioningBehavior,
    ) -> None:
        if _Definition.from_class(cls):
            raise ValueError("Class already contains workflow definition")
        issues: list[str] = []
        init_fn: Callable[..., None] | None = None
        run_fn: Callable[..., Awaitable[Any]] | None = None
        config_fn: Callable[..., DynamicWorkflowConfig] | None = None
        seen_run = False
        signals: dict[str | None, _SignalDefinition] = {}
        queries: dict[str | None, _QueryDefinition] = {}
        updates: dict[str | None, _UpdateDefinition] = {}
        for name, member in inspect.getmembers(cls):
            if hasattr(member, _RUN_ATTR):
                seen_run = True
                if not _is_unbound_method_on_cls(member, cls):
                    issues.append(
                        f"@workflow.run method {name} must be defined on {cls.__qualname__}"
                    )
                elif run_fn is not None:
                    issues.append(
                        f"Multiple @workflow.run methods found (at least on {name} and "
                        f"{run_fn.__name__})"
                    )
                else:
                    run_fn = member
            elif isinstance(
                getattr(member, "__temporal_signal_definition", None), _SignalDefinition
            ):
                sig = cast(_SignalDefinition, getattr(member, "__temporal_signal_definition"))
                if sig.name in signals:
                    issues.append(f"Multiple signal methods found for {sig.name or '<dynamic>'}")
                else:
                    signals[sig.name] = sig
            elif isinstance(getattr(member, "__temporal_query_definition", None), _QueryDefinition):
                qry = cast(_QueryDefinition, getattr(member, "__temporal_query_definition"))
                if qry.name in queries:
                    issues.append(f"Multiple query methods found for {qry.name or '<dynamic>'}")
                else:
                    queries[qry.name] = qry
            elif name == "__init__" and hasattr(member, _INIT_ATTR):
                init_fn = member
            elif hasattr(member, _DYNAMIC_CONFIG_ATTR):
                if workflow_name:
                    issues.append(
                        "@workflow.dynamic_config can only be used in dynamic workflows, but "
                        f"workflow class {workflow_name} ({cls.__name__}) is not dynamic"
                    )
                if config_fn:
                    issues.append("@workflow.dynamic_config can only be defined once per workflow")
                config_fn = member
            elif isinstance(getattr(member, "_defn", None), _UpdateDefinition):
                upd = cast(_UpdateDefinition, member._defn)
                if upd.name in updates:
                    issues.append(f"Multiple update methods found for {upd.name or '<dynamic>'}")
                elif upd.validator and not _parameters_identical_up_to_naming(
                    upd.fn, upd.validator
                ):
                    issues.append(
                        f"Update validator method {upd.validator.__name__} parameters do not "
                        f"match update method {upd.fn.__name__} parameters"
                    )
                else:
                    updates[upd.name] = upd
        for base in inspect.getmro(cls)[1:]:
            for _, base_member in inspect.getmembers(base):
                if not inspect.isfunction(base_member) or not _is_unbound_method_on_cls(
                    base_member, base
                ):
                    continue
                if hasattr(base_member, _RUN_ATTR):
                    seen_run = True
                    if not run_fn or base_member.__name__ != run_fn.__name__:
                        issues.append(
                            f"@workflow.run defined on {base_member.__qualname__} but not on "
                            "the override"
                        )
        if not seen_run:
            issues.append("Missing @workflow.run method")
        if init_fn and run_fn and not _parameters_identical_up_to_naming(init_fn, run_fn):
            issues.append("@workflow.init and @workflow.run method parameters do not match")
        if issues:
            if len(issues) == 1:
                raise ValueError(f"Invalid workflow class: {issues[0]}")
            raise ValueError(
                f"Invalid workflow class for {len(issues)} reasons: {', '.join(issues)}"
            )
        assert run_fn is not None
        defn = _Definition(
            name=workflow_name,
            cls=cls,
            run_fn=run_fn,
            signals=signals,
            queries=queries,
            updates=updates,
            sandboxed=sandboxed,
            failure_exception_types=failure_exception_types,
            versioning_behavior=versioning_behavior,
            dynamic_config_fn=config_fn,
            init_fn=init_fn,
        )
        setattr(cls, _DEFN_ATTR, defn)
        setattr(run_fn, _DEFN_ATTR, defn)

    def __post_init__(self) -> None:
        if self.arg_types is None and self.ret_type is None:
            arg_types, ret_type = perdure.common._type_hints_from_func(self.run_fn)
            if self.name is None and not _is_raw_values_param(arg_types):
                raise TypeError("Dynamic workflow must accept a single Sequence[RawValue]")
            object.__setattr__(self, "arg_types", arg_types)
            object.__setattr__(self, "ret_type", ret_type)


def _is_raw_values_param(arg_types: list[Any] | None) -> bool:
    raw = perdure.common.RawValue
    return (
        bool(arg_types)
        and len(arg_types or ()) == 1
        and (
            arg_types[0] == Sequence[raw] or arg_types[0] == typing.Sequence[raw]  # type: ignore[index,valid-type]
        )
    )
