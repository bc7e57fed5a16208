"""Workflow API functions: time, randomness, timers, conditions, memo, search attributes,
patches and handler registration. Each one reaches the running instance through _Runtime.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any, TypeVar, overload

import perdure.common
import perdure.converter
from perdure.workflow._info import Info
from perdure.workflow._runtime import _Runtime

ParamType = TypeVar("ParamType")
AnyType = TypeVar("AnyType")


def in_workflow() -> bool:
    """Whether the caller is workflow code (running on a workflow event loop)."""
    return _Runtime.maybe_current() is not None


def info() -> Info:
    """Info of the current workflow run."""
    return _Runtime.current().workflow_info()


def instance() -> Any:
    """The current workflow object (the instance of the @workflow.defn class)."""
    return _Runtime.current().workflow_instance()


def now() -> datetime:
    """Workflow time as an aware UTC datetime: the time of the current workflow task."""
    return datetime.fromtimestamp(time(), UTC)


def time() -> float:
    """Workflow time in seconds since the epoch (deterministic, not the wall clock)."""
    return _Runtime.current().workflow_time_ns() / 1e9


def time_ns() -> int:
    """Workflow time in nanoseconds since the epoch."""
    return _Runtime.current().workflow_time_ns()


def random() -> Random:
    """The workflow's deterministic random generator (same draws on every replay)."""
    return _Runtime.current().workflow_random()


def random_seed() -> int:
    """The seed of :py:func:`random` (derived from the original run id)."""
    return _Runtime.current().workflow_random_seed()


def uuid4() -> uuid.UUID:
    """A deterministic version-4 UUID drawn from :py:func:`random`."""
    return uuid.UUID(int=random().getrandbits(128), version=4)


def uuid7() -> uuid.UUID:
    """A deterministic version-7 UUID: workflow time in milliseconds, then 74 random bits."""
    millis = (time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF
    rand = random()
    rand_a = rand.getrandbits(12)
    rand_b = rand.getrandbits(62)
    return uuid.UUID(int=(millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


def register_random_seed_callback(callback: Callable[[int], None]) -> None:
    """Call ``callback`` with the new seed when a workflow reset changes it."""
    _Runtime.current().workflow_register_random_seed_callback(callback)


def extern_functions() -> Mapping[str, Callable[..., Any]]:
    """Functions that interceptors exposed to workflow code."""
    return _Runtime.current().workflow_extern_functions()


def new_random(name: str | None = None) -> Random:
    """A separate deterministic generator (named ones are independent of :py:func:`random`)."""
    seed = random_seed()
    return Random(seed if name is None else f"{seed}:{name}")


def payload_converter() -> perdure.converter.PayloadConverter:
    """The worker's payload converter, for converting values inside workflow code."""
    return _Runtime.current().workflow_payload_converter()


def memo() -> Mapping[str, Any]:
    """The workflow's memo, decoded with the payload converter."""
    return _Runtime.current().workflow_memo()


@overload
def memo_value(key: str, default: Any = ...) -> Any: ...


@overload
def memo_value(key: str, *, type_hint: type[ParamType]) -> ParamType: ...


@overload
def memo_value(
    key: str, default: AnyType, *, type_hint: type[ParamType]
) -> AnyType | ParamType: ...


def memo_value(
    key: str, default: Any = perdure.common._arg_unset, *, type_hint: type | None = None
) -> Any:
    """One memo value; KeyError when missing and no default is given."""
    return _Runtime.current().workflow_memo_value(key, default, type_hint=type_hint)


def upsert_memo(updates: Mapping[str, Any]) -> None:
    """Add or change memo keys; a None value removes the key."""
    _Runtime.current().workflow_upsert_memo(updates)


def upsert_search_attributes(
    attributes: perdure.common.SearchAttributes
    | Sequence[perdure.common.SearchAttributeUpdate[Any]],
) -> None:
    """Upsert search attributes: typed updates (``key.value_set(v)``) or a legacy dict."""
    _Runtime.current().workflow_upsert_search_attributes(attributes)


def patched(id: str) -> bool:
    """Whether this run takes the new branch of patch ``id``.

    True (and recorded) in new executions; during replay, True only if the original
    execution recorded the patch. Use it to change workflow code without breaking runs
    that started on the old code.
    """
    return _Runtime.current().workflow_patch(id, deprecated=False)


def deprecate_patch(id: str) -> None:
    """Mark patch ``id`` as the only path (the old branch was removed)."""
    _Runtime.current().workflow_patch(id, deprecated=True)


async def sleep(duration: float | timedelta, *, summary: str | None = None) -> None:
    """Sleep on a durable timer (``asyncio.sleep`` does the same in workflow code)."""
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
    await _Runtime.current().workflow_sleep(seconds, summary=summary)


async def wait_condition(
    fn: Callable[[], bool],
    *,
    timeout: timedelta | float | None = None,
    timeout_summary: str | None = None,
) -> None:
    """Wait until ``fn()`` is true; with ``timeout``, raise asyncio.TimeoutError after it."""
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    await _Runtime.current().workflow_wait_condition(
        fn, timeout=seconds, timeout_summary=timeout_summary
    )


def all_handlers_finished() -> bool:
    """No signal or update handler is still running (wait on this before finishing)."""
    return _Runtime.current().workflow_all_handlers_finished()


def cancellation_reason() -> str | None:
    """Why cancellation of this workflow was requested, or None if it was not."""
    return _Runtime.current().workflow_cancellation_reason()


def is_failure_exception(err: BaseException) -> bool:
    """Whether raising ``err`` would fail the workflow (True) or the workflow task."""
    return _Runtime.current().workflow_is_failure_exception(err)


def get_current_details() -> str:
    """The current details string of this workflow."""
    return _Runtime.current().workflow_get_current_details()


def set_current_details(description: str) -> None:
    """Set the details string tools show for this workflow."""
    _Runtime.current().workflow_set_current_details(description)


def has_last_completion_result() -> bool:
    """A previous cron or retry run left a result."""
    return _Runtime.current().workflow_has_last_completion_result()


def get_last_completion_result(type_hint: type | None = None) -> Any | None:
    """The result of the previous cron or retry run, or None."""
    return _Runtime.current().workflow_last_completion_result(type_hint)


def get_last_failure() -> BaseException | None:
    """The failure of the previous retry attempt, or None."""
    return _Runtime.current().workflow_last_failure()


def metric_meter() -> perdure.common.MetricMeter:
    """The metric meter for workflow code (records nothing during replay)."""
    return _Runtime.current().workflow_metric_meter()


def get_signal_handler(name: str) -> Callable[..., Any] | None:
    """The signal handler registered under ``name``."""
    return _Runtime.current().workflow_get_signal_handler(name)


def set_signal_handler(
    name: str, handler: Callable[..., Any] | None, *, description: str | None = None
) -> None:
    """Register (or with None, remove) a signal handler; buffered signals reach it."""
    _Runtime.current().workflow_set_signal_handler(name, handler, description=description)


def get_dynamic_signal_handler() -> Callable[..., Any] | None:
    """The dynamic signal handler."""
    return _Runtime.current().workflow_get_signal_handler(None)


def set_dynamic_signal_handler(
    handler: Callable[..., Any] | None, *, description: str | None = None
) -> None:
    """Register (or remove) the handler of signals that have no handler of their own."""
    _Runtime.current().workflow_set_signal_handler(None, handler, description=description)


def get_query_handler(name: str) -> Callable[..., Any] | None:
    """The query handler registered under ``name``."""
    return _Runtime.current().workflow_get_query_handler(name)


def set_query_handler(
    name: str, handler: Callable[..., Any] | None, *, description: str | None = None
) -> None:
    """Register (or with None, remove) a query handler."""
    _Runtime.current().workflow_set_query_handler(name, handler, description=description)


def get_dynamic_query_handler() -> Callable[..., Any] | None:
    """The dynamic query handler."""
    return _Runtime.current().workflow_get_query_handler(None)


def set_dynamic_query_handler(
    handler: Callable[..., Any] | None, *, description: str | None = None
) -> None:
    """Register (or remove) the handler of queries that have no handler of their own."""
    _Runtime.current().workflow_set_query_handler(None, handler, description=description)


def get_update_handler(name: str) -> Callable[..., Any] | None:
    """The update handler registered under ``name``."""
    return _Runtime.current().workflow_get_update_handler(name)


def set_update_handler(
    name: str,
    handler: Callable[..., Any] | None,
    *,
    validator: Callable[..., None] | None = None,
    description: str | None = None,
) -> None:
    """Register (or with None, remove) an update handler and its optional validator."""
    _Runtime.current().workflow_set_update_handler(
        name, handler, validator, description=description
    )


def get_dynamic_update_handler() -> Callable[..., Any] | None:
    """The dynamic update handler."""
    return _Runtime.current().workflow_get_update_handler(None)


def set_dynamic_update_handler(
    handler: Callable[..., Any] | None,
    *,
    validator: Callable[..., None] | None = None,
    description: str | None = None,
) -> None:
    """Register (or remove) the handler of updates that have no handler of their own."""
    _Runtime.current().workflow_set_update_handler(
        None, handler, validator, description=description
    )
