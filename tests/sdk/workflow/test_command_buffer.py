"""CommandBuffer: an activation's commands and per-kind sequence numbers."""

from __future__ import annotations

import pytest

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._command_buffer import CommandBuffer
from perdure.worker._workflow._mode import RunMode
from perdure.workflow import ReadOnlyContextError


def test_each_kind_numbers_its_commands_from_one() -> None:
    buffer = CommandBuffer(RunMode())
    assert [buffer.next_seq("timer") for _ in range(3)] == [1, 2, 3]
    assert buffer.next_seq("activity") == 1
    assert buffer.next_seq("timer") == 4


def test_a_new_activation_starts_fresh_lists_and_keeps_numbering() -> None:
    buffer = CommandBuffer(RunMode())
    buffer.add(jobs.StartTimer(buffer.next_seq("timer"), 1.0))
    first = buffer.commands
    buffer.start_activation()
    assert first == [jobs.StartTimer(1, 1.0)] and buffer.commands == []
    assert buffer.next_seq("timer") == 2


def test_read_only_code_cannot_add_commands() -> None:
    mode = RunMode()
    buffer = CommandBuffer(mode)
    with mode.read_only_section(), pytest.raises(ReadOnlyContextError):
        buffer.add(jobs.CancelTimer(1))
    assert buffer.commands == []


def test_terminal_commands_and_accepted_updates_are_recognised() -> None:
    buffer = CommandBuffer(RunMode())
    buffer.add(jobs.UpdateResponse("u1", rejected=None))
    assert not buffer.has_accepted_update() and not buffer.has_terminal()
    buffer.add(jobs.UpdateResponse("u2", accepted=True))
    buffer.add(jobs.CompleteWorkflow(None))
    assert buffer.has_accepted_update() and buffer.has_terminal()
