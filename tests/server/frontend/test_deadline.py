"""frontend/deadline.py: how long a long poll may wait, given the caller's deadline."""

from __future__ import annotations

import time

import pytest

from perdure.server.frontend.deadline import deadline_after, remaining_seconds


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
