"""What a workflow instance is doing right now, and how that limits workflow code.

One ``RunMode`` per instance: replaying or not, inside a query or validator (read-only),
being evicted, and the core flags of the current activation. Every part of the instance
asks it before acting (``check_writable``) instead of reading the others' fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from perdure.worker._workflow import _jobs as jobs
from perdure.workflow import ReadOnlyContextError

RAISE_ON_CANCELLING_COMPLETED_ACTIVITY = 1
"""Lang flag: cancelling an already completed operation raises in workflow code."""
SINGLE_BATCH_ACTIVATION = 2
"""Lang flag: all of an activation's jobs are applied before workflow code runs."""


class EvictedError(Exception):
    """Raised into workflow code that tries to act while its run is being evicted."""


class RunMode:
    """Replaying, read-only, evicting; the flags and cancel reason of the run so far."""

    def __init__(self) -> None:
        self.replaying = False
        self.read_only = False
        self.evicting = False
        self.single_batch = False
        self.lang_flags: frozenset[int] = frozenset()
        self.used_lang_flags: set[int] = set()
        self.cancel_reason: str | None = None

    def start_activation(self, activation: jobs.Activation) -> None:
        """Take the replay state and lang flags of a new activation."""
        self.used_lang_flags = set()
        self.replaying = activation.is_replaying
        self.lang_flags = activation.lang_flags
        self.single_batch = SINGLE_BATCH_ACTIVATION in activation.lang_flags

    def start_eviction(self) -> None:
        """The run is being dropped: workflow code may only unwind from now on."""
        self.evicting = True
        self.replaying = True

    def flag_applies(self, flag: int) -> bool:
        """The flag's behaviour applies: new code, or history recorded with it (marked used)."""
        if not self.replaying or flag in self.lang_flags:
            self.used_lang_flags.add(flag)
            return True
        return False

    def check_writable(self, action: str, *, allow_during_eviction: bool = False) -> None:
        """Refuse ``action`` inside queries and validators, and (unless allowed) on eviction."""
        if self.evicting and not allow_during_eviction:
            raise EvictedError(f"Ignoring {action} while evicting workflow. This is not an error.")
        if self.read_only:
            raise ReadOnlyContextError(f"While in read-only function, action attempted: {action}")

    @contextmanager
    def read_only_section(self) -> Iterator[None]:
        """No commands may be issued inside (queries, update validators)."""
        previous = self.read_only
        self.read_only = True
        try:
            yield
        finally:
            self.read_only = previous
