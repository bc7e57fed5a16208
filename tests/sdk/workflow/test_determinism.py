"""Patches (memoized, recorded when taken) and the seeded random generator."""

from __future__ import annotations

import pytest

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._command_buffer import CommandBuffer
from perdure.worker._workflow._determinism import Patches, SeededRandom
from perdure.worker._workflow._mode import RunMode
from perdure.workflow import ReadOnlyContextError


def _patches(*, replaying: bool) -> tuple[Patches, CommandBuffer, RunMode]:
    mode = RunMode()
    mode.start_activation(jobs.Activation([], 0, replaying))
    commands = CommandBuffer(mode)
    return Patches(mode, commands), commands, mode


def test_new_code_takes_the_patch_and_records_it_once() -> None:
    patches, commands, _ = _patches(replaying=False)
    assert patches.patched("p1", deprecated=False)
    assert patches.patched("p1", deprecated=False)
    assert commands.commands == [jobs.SetPatchMarker("p1", False)]


def test_replay_takes_only_patches_history_recorded() -> None:
    patches, commands, _ = _patches(replaying=True)
    patches.notify(jobs.NotifyHasPatch("recorded"))
    assert patches.patched("recorded", deprecated=True)
    assert not patches.patched("absent", deprecated=False)
    patches.notify(jobs.NotifyHasPatch("absent"))
    assert not patches.patched("absent", deprecated=False)  # memoized for the run
    assert commands.commands == [jobs.SetPatchMarker("recorded", True)]


def test_patches_are_refused_in_read_only_code() -> None:
    patches, _, mode = _patches(replaying=False)
    with mode.read_only_section(), pytest.raises(ReadOnlyContextError):
        patches.patched("p1", deprecated=False)


def test_reseeding_restarts_the_sequence_and_tells_callbacks() -> None:
    seeded = SeededRandom(7)
    first = [seeded.random.random() for _ in range(3)]
    heard: list[int] = []
    seeded.on_reseed(heard.append)
    seeded.reseed(jobs.UpdateRandomSeed(7))
    assert [seeded.random.random() for _ in range(3)] == first
    assert heard == [7] and seeded.seed == 7
