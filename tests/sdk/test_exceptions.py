"""perdure.exceptions mirrors temporalio.exceptions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import temporalio.exceptions as te

from perdure import exceptions as pe


@pytest.mark.parametrize("name", ["ApplicationErrorCategory", "TimeoutType", "RetryState"])
def test_enums_match_temporalio(name: str) -> None:
    assert {m.name: m.value for m in getattr(pe, name)} == {
        m.name: m.value for m in getattr(te, name)
    }


def test_hierarchy() -> None:
    for name in (
        "ApplicationError",
        "CancelledError",
        "TerminatedError",
        "TimeoutError",
        "ServerError",
        "ActivityError",
        "ChildWorkflowError",
        "NexusOperationError",
        "WorkflowAlreadyStartedError",
    ):
        ours = getattr(pe, name)
        assert issubclass(ours, pe.FailureError) and issubclass(ours, pe.TemporalError)


def test_public_names_match_temporalio() -> None:
    public = {n for n in dir(te) if not n.startswith("_") and n[0].isupper()}
    public -= {"Any", "IntEnum", "Sequence"}
    assert sorted(n for n in public if not hasattr(pe, n)) == []


def test_application_error() -> None:
    err = pe.ApplicationError(
        "boom", 1, "two", type="MyErr", non_retryable=True, next_retry_delay=timedelta(seconds=3)
    )
    assert str(err) == "MyErr: boom" and err.message == "boom"
    assert err.details == (1, "two") and err.type == "MyErr" and err.non_retryable
    assert err.next_retry_delay == timedelta(seconds=3)
    assert err.category == pe.ApplicationErrorCategory.UNSPECIFIED
    assert str(pe.ApplicationError("plain")) == "plain"
    assert err.failure is None and err.cause is None


def test_is_cancelled_exception() -> None:
    assert pe.is_cancelled_exception(asyncio.CancelledError())
    assert pe.is_cancelled_exception(pe.CancelledError())
    activity = pe.ActivityError(
        "act",
        scheduled_event_id=5,
        started_event_id=6,
        identity="me",
        activity_type="t",
        activity_id="1",
        retry_state=pe.RetryState.CANCEL_REQUESTED,
    )
    assert not pe.is_cancelled_exception(activity)
    try:
        raise activity from pe.CancelledError("x")
    except pe.ActivityError as err:
        assert pe.is_cancelled_exception(err) and isinstance(err.cause, pe.CancelledError)
    assert not pe.is_cancelled_exception(pe.ApplicationError("x"))


def test_already_started() -> None:
    err = pe.WorkflowAlreadyStartedError("wf", "Type", run_id="r1")
    assert (err.workflow_id, err.workflow_type, err.run_id, err.first_run_id) == (
        "wf",
        "Type",
        "r1",
        None,
    )
    assert str(err) == "Workflow execution already started"
