"""The commands workflow code issues during one activation, and their sequence numbers.

Each kind of operation (timer, activity, child workflow, external signal, external cancel)
numbers its commands from 1, as sdk-core does: the replay side pairs resolutions with
commands by these numbers. Commands issued inside an event group carry its markers.
"""

from __future__ import annotations

from typing import Literal

from temporalio.api.sdk.v1 import EventGroupMarker

from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._mode import RunMode
from perdure.workflow._event_groups import _capture_markers

SequenceKind = Literal["timer", "activity", "child_workflow", "external_signal", "external_cancel"]


class CommandBuffer:
    """Collects an activation's commands; hands out per-kind sequence numbers."""

    def __init__(self, mode: RunMode) -> None:
        self._mode = mode
        self._seqs: dict[SequenceKind, int] = {}
        self.commands: list[jobs.Command] = []
        self.markers: dict[int, list[EventGroupMarker]] = {}

    def start_activation(self) -> None:
        """Start fresh lists (the previous activation's completion keeps its own)."""
        self.commands = []
        self.markers = {}

    def add(self, command: jobs.Command) -> None:
        """Issue ``command`` (refused in read-only code and on eviction)."""
        self._mode.check_writable("add command")
        self.commands.append(command)
        markers = _capture_markers()
        if markers:
            self.markers[id(command)] = markers

    def next_seq(self, kind: SequenceKind) -> int:
        """The next sequence number of ``kind``."""
        seq = self._seqs.get(kind, 0) + 1
        self._seqs[kind] = seq
        return seq

    def has_accepted_update(self) -> bool:
        """An update was accepted in this activation."""
        return any(isinstance(c, jobs.UpdateResponse) and c.accepted for c in self.commands)

    def has_terminal(self) -> bool:
        """The run completes, fails, cancels or continues as new in this activation."""
        return any(isinstance(c, jobs.TERMINAL_COMMANDS) for c in self.commands)
