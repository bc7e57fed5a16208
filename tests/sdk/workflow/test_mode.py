"""RunMode: what workflow code may do while replaying, read-only or being evicted."""

from __future__ import annotations

import pytest

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._mode import SINGLE_BATCH_ACTIVATION, EvictedError, RunMode
from perdure.workflow import ReadOnlyContextError


def _activation(*, replaying: bool, flags: frozenset[int] = frozenset()) -> jobs.Activation:
    return jobs.Activation([], 0, replaying, lang_flags=flags)


def test_read_only_section_refuses_actions_and_restores_the_previous_mode() -> None:
    mode = RunMode()
    mode.check_writable("add command")
    with mode.read_only_section():
        with pytest.raises(ReadOnlyContextError, match="action attempted: add command"):
            mode.check_writable("add command")
        with mode.read_only_section():
            pass
        assert mode.read_only  # the inner section restored the outer one
    assert not mode.read_only


def test_eviction_refuses_actions_unless_allowed() -> None:
    mode = RunMode()
    mode.start_eviction()
    assert mode.replaying
    with pytest.raises(EvictedError):
        mode.check_writable("schedule timer")
    mode.check_writable("create task", allow_during_eviction=True)


def test_flags_apply_to_new_code_and_to_histories_recorded_with_them() -> None:
    mode = RunMode()
    mode.start_activation(_activation(replaying=True, flags=frozenset({1})))
    assert mode.flag_applies(1) and not mode.flag_applies(7)
    assert mode.used_lang_flags == {1}
    mode.start_activation(_activation(replaying=False))
    assert mode.used_lang_flags == set()
    assert mode.flag_applies(7) and mode.used_lang_flags == {7}


def test_single_batch_follows_the_activation_flag() -> None:
    mode = RunMode()
    mode.start_activation(_activation(replaying=False, flags=frozenset({SINGLE_BATCH_ACTIVATION})))
    assert mode.single_batch
    mode.start_activation(_activation(replaying=False))
    assert not mode.single_batch
