"""perdure.activity: the decorator, the public names, and the context functions."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import pytest
import temporalio.activity

from perdure import activity
from perdure.common import RawValue
from perdure.testing import ActivityEnvironment


def test_public_names_match_temporalio() -> None:
    ours = {n for n in dir(activity) if not n.startswith("_")}
    theirs = {n for n in dir(temporalio.activity) if not n.startswith("_")}
    # Names temporalio's module imports for itself are not API.
    theirs -= {
        "annotations",
        "contextvars",
        "dataclasses",
        "inspect",
        "logging",
        "temporalio",
        "dataclass",
        "datetime",
        "timedelta",
        "contextmanager",
        "overload",
        "Any",
        "Callable",
        "Iterator",
        "Mapping",
        "MutableMapping",
        "NoReturn",
        "Sequence",
        "TYPE_CHECKING",
        "CallableType",
        "AbstractContextManager",
    }
    assert theirs <= ours, theirs - ours


def test_info_fields_match_temporalio() -> None:
    ours = [f.name for f in dataclasses.fields(activity.Info)]
    theirs = [f.name for f in dataclasses.fields(temporalio.activity.Info)]
    assert ours == theirs


def test_defn_names_and_defaults() -> None:
    @activity.defn
    async def plain(x: int) -> str:
        return str(x)

    @activity.defn(name="custom")
    def custom(x: int) -> int:
        return x

    plain_defn = activity._Definition.must_from_callable(plain)
    assert plain_defn.name == "plain"
    assert plain_defn.is_async
    assert plain_defn.arg_types == [int]
    assert plain_defn.ret_type is str
    custom_defn = activity._Definition.must_from_callable(custom)
    assert custom_defn.name == "custom"
    assert not custom_defn.is_async
    assert activity._Definition.get_name_and_result_type(custom) == ("custom", int)
    assert activity._Definition.get_name_and_result_type("by-name") == ("by-name", None)


def test_defn_async_callable_instance() -> None:
    class Callable:
        async def __call__(self, x: int) -> int:
            return x

    instance = Callable()
    activity.defn(name="inst")(instance)
    assert activity._Definition.must_from_callable(instance).is_async


def test_defn_rejections() -> None:
    with pytest.raises(TypeError, match="keyword-only"):

        @activity.defn
        async def kwonly(*, x: int) -> None: ...

    with pytest.raises(TypeError, match="Sequence\\[RawValue\\]"):

        @activity.defn(dynamic=True)
        async def bad_dynamic(x: int) -> None: ...

    async def twice() -> None: ...

    activity.defn(twice)
    with pytest.raises(ValueError, match="already contains"):
        activity.defn(twice)

    async def undecorated() -> None: ...

    with pytest.raises(TypeError, match=r"decorated with @activity\.defn"):
        activity._Definition.must_from_callable(undecorated)


def test_defn_dynamic() -> None:
    @activity.defn(dynamic=True)
    async def dyn(args: Sequence[RawValue]) -> None: ...

    assert activity._Definition.must_from_callable(dyn).name is None
    with pytest.raises(ValueError, match="has no name"):
        activity._Definition.get_name_and_result_type(dyn)


def test_outside_activity() -> None:
    assert not activity.in_activity()
    with pytest.raises(RuntimeError, match="Not in activity context"):
        activity.info()
    with pytest.raises(RuntimeError, match="Not in activity context"):
        activity.heartbeat("x")


async def test_context_functions_in_async_activity() -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, activity_type="typed", attempt=3)

    async def act() -> tuple[str, int, bool, bool, bool]:
        info = activity.info()
        return (
            info.activity_type,
            info.attempt,
            activity.in_activity(),
            activity.is_cancelled(),
            activity.is_worker_shutdown(),
        )

    assert await env.run(act) == ("typed", 3, True, False, False)


def test_payload_converter_in_activity() -> None:
    env = ActivityEnvironment()

    def act() -> list[object]:
        converter = activity.payload_converter()
        return converter.from_payloads(converter.to_payloads([{"a": 1}]))

    assert env.run(act) == [{"a": 1}]


async def test_client_only_in_async_activities() -> None:
    marker = object()
    env = ActivityEnvironment(client=marker)  # type: ignore[arg-type]

    async def async_act() -> object:
        return activity.client()

    def sync_act() -> object:
        return activity.client()

    assert await env.run(async_act) is marker
    with pytest.raises(RuntimeError, match="only available in `async def`"):
        env.run(sync_act)


def test_raise_complete_async_is_base_exception() -> None:
    # `except Exception` in activity code must not swallow it.
    with pytest.raises(BaseException) as info:
        activity.raise_complete_async()
    assert not isinstance(info.value, Exception)


def test_logger_adds_activity_details(caplog: pytest.LogCaptureFixture) -> None:
    env = ActivityEnvironment()

    def act() -> None:
        activity.logger.info("hello")

    with caplog.at_level(logging.INFO, logger="perdure.activity"):
        env.run(act)
        activity.logger.info("outside")
    inside, outside = caplog.records
    assert inside.getMessage().startswith("hello (")
    assert "'activity_id': 'test'" in inside.getMessage()
    assert inside.__dict__["temporal_activity"]["workflow_id"] == "test"
    assert outside.getMessage() == "outside"
    assert "temporal_activity" not in outside.__dict__
