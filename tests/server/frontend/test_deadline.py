"""frontend/deadline.py: how long a long poll may wait, given the caller's deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from perdure.server.errors import DeadlineExceeded, FailedPrecondition
from perdure.server.frontend.deadline import (
    deadline_after,
    remaining_seconds,
    task_poll_seconds,
    within_deadline,
)


def test_without_a_deadline_the_cap_applies() -> None:
    assert deadline_after(None) is None
    assert remaining_seconds(None, 20.0) == 20.0


@pytest.mark.parametrize(
    ("left", "cap", "margin", "low", "high"),
    [
        (100.0, 20.0, 1.0, 20.0, 20.0),  # far deadline: the cap
        (10.0, 20.0, 1.0, 8.5, 9.0),  # near deadline: up to a margin before it
        (10.0, 20.0, 0.5, 9.0, 9.5),
        (0.5, 20.0, 1.0, 0.0, 0.0),  # inside the margin: no wait at all
        (-3.0, 20.0, 1.0, 0.0, 0.0),  # already passed
    ],
)
def test_the_wait_ends_a_margin_before_the_deadline(
    left: float, cap: float, margin: float, low: float, high: float
) -> None:
    deadline = deadline_after(left)
    assert deadline is not None and abs(deadline - (time.monotonic() + left)) < 0.5
    assert low <= remaining_seconds(deadline, cap, margin) <= high


def test_a_task_poll_refuses_a_deadline_under_two_seconds() -> None:
    with pytest.raises(FailedPrecondition, match="Context timeout is too short"):
        task_poll_seconds(deadline_after(1.5), 55.0)
    assert 1.5 <= task_poll_seconds(deadline_after(3.0), 55.0) <= 2.0
    assert task_poll_seconds(None, 55.0) == 55.0


async def test_an_update_wait_is_not_cut_short_by_the_deadline_but_ends_in_its_error() -> None:
    began = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await within_deadline(deadline_after(0.3), asyncio.sleep(5))
    assert 0.25 <= time.monotonic() - began < 2.0
    assert await within_deadline(deadline_after(5.0), asyncio.sleep(0, "done")) == "done"
    assert await within_deadline(None, asyncio.sleep(0, "done")) == "done"
