"""Known mismatches: differences the runner reports but does not fail on.

Each entry names the issue item it belongs to (being fixed elsewhere, or a deliberate
difference), recognises its root signature in a program's diffs, and says which diff
paths that root accounts for (a difference in history also shows in the history length,
the result, queries). Diffs no entry accounts for are real, unknown mismatches. Once the
item is fixed its entry stops matching; remove it then.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from difftest.compare import Diff


@dataclass(frozen=True)
class Known:
    id: str
    issue: str
    why: str
    signature: Callable[[list[Diff]], bool]
    covers: tuple[str, ...]
    """Regexes over diff paths that this root cause explains once its signature matched."""

    def covered(self, diff: Diff) -> bool:
        return any(re.search(c, diff.path) for c in self.covers)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def history_adds(diffs: list[Diff], event: str, side: str = "+") -> bool:
    """A history diff adds `event` on `side` ("+" perdure only, "-" temporal only)."""
    return any(
        d.path.endswith(".eventTypes") and f"\n{side}{event}" in _text(d.temporal) for d in diffs
    )


def any_diff(diffs: list[Diff], path: str, temporal: str = "", perdure: str = "") -> bool:
    """Some diff at a path matching `path` whose values contain the given texts."""
    return any(
        re.search(path, d.path)
        and temporal in _text(d.temporal)
        and perdure in _text(d.perdure)
        for d in diffs
    )


HISTORY_CASCADE = (
    r"\.eventTypes$",
    r"^describe\.history_length$",
    r"^result\.",
    r"^stimuli\[\d+\]\.ok",
    r"^describe\.",
)

KNOWN: list[Known] = []


def classify(diffs: list[Diff]) -> tuple[list[tuple[Diff, Known]], list[Diff]]:
    """Split diffs into known ones (with the entry that explains each) and unknown ones."""
    entries = [k for k in KNOWN if k.signature(diffs)]
    found: list[tuple[Diff, Known]] = []
    unknown: list[Diff] = []
    for d in diffs:
        entry = next((k for k in entries if k.covered(d)), None)
        if entry is None:
            unknown.append(d)
        else:
            found.append((d, entry))
    return found, unknown


def attribute(id: str, issue: str, why: str, path: str) -> None:
    """A known difference confined to one attribute: it explains exactly those diffs."""
    KNOWN.append(Known(id, issue, why, lambda ds: any_diff(ds, path), (path,)))


attribute(
    "start-timeouts-unset",
    "issue 18 item 6",
    "WorkflowExecutionStarted without execution or run timeout: Temporal leaves "
    "workflow_execution_timeout and workflow_run_timeout unset, Perdure sets them to 0s.",
    r"workflowExecutionStartedEventAttributes\.(workflowExecutionTimeout|workflowRunTimeout)$",
)
attribute(
    "first-task-backoff-zero",
    "issue 18 item 6 (WorkflowExecutionStarted fields; found by difftest)",
    "WorkflowExecutionStarted of a run started without delay: Temporal sets "
    "first_workflow_task_backoff to 0s, Perdure leaves it unset.",
    r"workflowExecutionStartedEventAttributes\.firstWorkflowTaskBackoff$",
)
attribute(
    "worker-build-id",
    "issue 18 item 8",
    "Temporal records the worker's build id as worker_version.build_id on "
    "WorkflowTaskStarted and WorkflowTaskCompleted and no binary_checksum; Perdure records "
    "the build id as binary_checksum and no worker_version.",
    r"workflowTask(Started|Completed)EventAttributes\.(workerVersion|binaryChecksum)$",
)
