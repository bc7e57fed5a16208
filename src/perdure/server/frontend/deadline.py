"""The caller's deadline: the one thing handlers need of a call besides its request.

Every frontend handler is `async def Rpc(self, request, deadline)`. The gRPC adapter
(rpc.py) reads the deadline off the ServicerContext; embedded mode (perdure.service's
"embedded://" transport) passes its own call's. Both then run the same validation and
handler code, so they fail alike.
"""

from __future__ import annotations

import time
from typing import TypeAlias

Deadline: TypeAlias = float | None
"""When the caller stops waiting, on `time.monotonic()`'s clock; None: it never does."""


def deadline_after(seconds: float | None) -> Deadline:
    """The deadline of a call with `seconds` left (None: no deadline)."""
    return None if seconds is None else time.monotonic() + seconds


def remaining_seconds(deadline: Deadline, cap: float, margin: float = 1.0) -> float:
    """How long a long poll may wait: up to `cap`, ending `margin` before the deadline."""
    if deadline is None:
        return cap
    return max(min(cap, deadline - time.monotonic() - margin), 0.0)
