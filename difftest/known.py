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
from difftest.program import Json, Program


@dataclass(frozen=True)
class Known:
    id: str
    issue: str
    why: str
    signature: Callable[[list[Diff], Program], bool]
    covers: tuple[str, ...]
    """Regexes over diff paths that this root cause explains once its signature matched."""

    def covered(self, diff: Diff) -> bool:
        return any(re.search(c, diff.path) for c in self.covers)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def held_stimuli(program: Program, predicate: Callable[[Json], bool]) -> bool:
    """Some stimulus fired while a workflow task is held open matches `predicate`."""
    held = {point for point, kind in program.points() if kind == "hold"}
    return any(s["at"] in held and predicate(s) for s in program.stimuli)


def any_diff(diffs: list[Diff], path: str, temporal: str = "", perdure: str = "") -> bool:
    """Some diff at a path matching `path` whose values contain the given texts."""
    return any(
        re.search(path, d.path) and temporal in _text(d.temporal) and perdure in _text(d.perdure)
        for d in diffs
    )


def continues_as_new(program: Program) -> bool:
    return program.body.get("end", {}).get("kind") == "continue_as_new"


HISTORY_CASCADE = (
    r"\.eventTypes$",
    r"^describe\.history_length$",
    r"^result\.",
    r"^reset\d+_result\.",  # a reset replays the differing history
    r"^stimuli\[\d+\]\.ok",
    r"^describe\.",
)

KNOWN: list[Known] = []


def classify(diffs: list[Diff], program: Program) -> tuple[list[tuple[Diff, Known]], list[Diff]]:
    """Split diffs into known ones (with the entry that explains each) and unknown ones."""
    entries = [k for k in KNOWN if k.signature(diffs, program)]
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
    KNOWN.append(Known(id, issue, why, lambda ds, _: any_diff(ds, path), (path,)))


KNOWN.append(
    Known(
        "query-during-held-task",
        "issue 18 items 8-15 (queries; found by difftest)",
        "A query sent while a workflow task runs is answered at a different point of the run "
        "on each server, so its answer shows a different state. Seen both ways: Temporal "
        "answering once the task and the one for the events buffered meanwhile completed while "
        "Perdure answered after further tasks (a child's start); and, of two queries sent "
        "during one held task, Temporal answering the second only after the next task (the "
        "official SDK holds a second legacy query for a run while it answers the first) where "
        "Perdure answered both at once.",
        lambda ds, program: (
            any_diff(ds, r"^stimuli\[\d+\]\.ok")
            and held_stimuli(program, lambda s: s["kind"] == "query")
        ),
        (r"^stimuli\[\d+\]\.ok",),
    )
)
KNOWN.append(
    Known(
        "update-admitted-during-failed-task",
        "issue 18 items 1-3 (update engine; found by difftest, Perdure-SDK profile)",
        "An update admitted while a workflow task runs, that task then failed by the server "
        "(UNHANDLED_COMMAND: a signal arrived while it completed the run): Temporal clears its "
        "update registry, aborts the update with a retryable error and retries it internally, "
        "which lands after the next task completed the run ('workflow execution already "
        "completed'); Perdure keeps the update and delivers it with the next task, so the "
        "workflow answers it. Temporal's outcome rests on its retry's latency.",
        lambda ds, program: (
            any_diff(ds, r"^stimuli\[\d+\]\.error", "workflow execution already completed")
            and held_stimuli(program, lambda s: s["kind"] == "update")
        ),
        # The update Perdure delivered is in the run's history and result.
        (*HISTORY_CASCADE, r"^stimuli\[\d+\]\.error"),
    )
)
KNOWN.append(
    Known(
        "update-admitted-before-continue-as-new",
        "issue 18 items 1-3 (update engine; found by difftest)",
        "An update admitted while the task that continues the run as new runs: Temporal aborts "
        "it with a retryable error and its internal retry lands on the new run whenever it "
        "arrives (here after the new run's first task), or, when it arrives while the run is "
        "closing, the caller gets NOT_FOUND 'workflow execution already completed'; Perdure "
        "hands it to the new run, whose first workflow task delivers it. Temporal's outcome "
        "rests on its retry's latency (both seen on one program).",
        lambda ds, program: (
            continues_as_new(program)
            and held_stimuli(program, lambda s: s["kind"] == "update")
            and any_diff(ds, r"^runs\[1\]\.eventTypes$", "WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
        ),
        (*HISTORY_CASCADE, r"EventId$", r"^stimuli\[\d+\]\.error$"),
    )
)
KNOWN.append(
    Known(
        "child-start-races-next-task",
        "issue 19 (found by difftest, Perdure-SDK profile)",
        "A workflow cancelled right after its task initiated a child: on Temporal the child "
        "starts while the worker runs the next task (which cancels the workflow), so that "
        "completion fails with UNHANDLED_COMMAND and a later one cancels the child too; on "
        "Perdure the worker's next task wins the race and the run closes before the child "
        "starts. Which wins rests on each server's internal latency to start a child.",
        lambda ds, program: (
            any(s["kind"] == "cancel" for s in program.stimuli)
            and any_diff(ds, r"^runs\[\d+\]\.eventTypes$", "-CHILD_WORKFLOW_EXECUTION_STARTED")
        ),
        (*HISTORY_CASCADE, r"^children\[", r"EventId$"),
    )
)
KNOWN.append(
    Known(
        "close-policy-races-child-task",
        "issue 19 (found by difftest, official-SDK profile)",
        "A parent closes right after its child started, and its close policy terminates (or "
        "cancels) the child while the child's first workflow task runs: on Temporal the "
        "termination lands while that task is started, so the task fails (FORCE_CLOSE_COMMAND) "
        "before WorkflowExecutionTerminated; on Perdure the worker completes the task first. "
        "Which wins rests on each server's latency to apply a close policy.",
        lambda ds, program: (
            any(
                o.startswith(("child:TERMINATE:nowait", "child:REQUEST_CANCEL:nowait"))
                for o in program.ops()
            )
            and any_diff(ds, r"^children\[[^]]+\]\.eventTypes$", "-WORKFLOW_TASK_FAILED")
        ),
        (r"^children\[[^]]+\]\.eventTypes$", r"^children\[[^]]+\]\[\d+:WORKFLOW_TASK_"),
    )
)
attribute(
    "speculative-task-conversion-race",
    "issue 19 (found by difftest; cause established in the fourth session)",
    "A speculative workflow task (for an update) that gets written: Temporal writes its "
    "WorkflowTaskStarted event without identity or worker version when any change to the "
    "run is persisted while the task runs (convertSpeculativeWorkflowTaskToNormal: an event, "
    "an activity attempt starting or failing), and with the completing worker's when the "
    "worker completes it first. Which comes first rests on latency: one program gave both on "
    "Temporal in two runs. Perdure names no worker when an event reached the task while it "
    "ran, or after commands answered at once; it names the worker otherwise.",
    r"WORKFLOW_TASK_STARTED\]\.workflowTaskStartedEventAttributes\.workerVersion$",
)
