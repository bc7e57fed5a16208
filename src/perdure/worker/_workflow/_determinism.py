"""What keeps workflow code deterministic across replays: patches and the seeded random.

A patch is taken when running new code, or on replay when history recorded it (the replay
state notifies it); the answer is memoized for the run. The random generator is seeded
from the run (and re-seeded when a reset changes the seed).
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._command_buffer import CommandBuffer
from perdure.worker._workflow._mode import RunMode


class Patches:
    """``workflow.patched`` / ``deprecate_patch`` decisions of one run."""

    def __init__(self, mode: RunMode, commands: CommandBuffer) -> None:
        self._mode = mode
        self._commands = commands
        self._notified: set[str] = set()
        self._memoized: dict[str, bool] = {}

    def notify(self, job: jobs.NotifyHasPatch) -> None:
        """History recorded this patch."""
        self._notified.add(job.patch_id)

    def patched(self, patch_id: str, *, deprecated: bool) -> bool:
        """Take the new branch? Recorded (SetPatchMarker) the first time it is taken."""
        self._mode.check_writable("patch")
        use = self._memoized.get(patch_id)
        if use is not None:
            return use
        use = not self._mode.replaying or patch_id in self._notified
        self._memoized[patch_id] = use
        if use:
            self._commands.add(jobs.SetPatchMarker(patch_id, deprecated))
        return use


class SeededRandom:
    """``workflow.random()``: seeded per run; callbacks hear about re-seeding."""

    def __init__(self, seed: int) -> None:
        self.random = Random(seed)
        self.seed = seed
        self._callbacks: list[Callable[[int], None]] = []

    def on_reseed(self, callback: Callable[[int], None]) -> None:
        """Call ``callback`` with the new seed when a reset changes it."""
        self._callbacks.append(callback)

    def reseed(self, job: jobs.UpdateRandomSeed) -> None:
        """A reset changed the seed."""
        self.random.seed(job.seed)
        self.seed = job.seed
        for callback in self._callbacks:
            callback(job.seed)
