"""The checker: after the load stops and the system settles, account for everything.

`check` is pure: it takes what the driver was told (`Started`) and what the system holds
afterwards (`Observed`: histories, visibility rows, side-effect rows, replay outcomes) and
names every violation. `observe` gathers `Observed` from a server through the Perdure
client, so a test can plant a fault in real observations and see it caught.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.history.v1 import History, HistoryEvent

from chaos.workflows import expected_result

REPO = Path(__file__).resolve().parent.parent
_S = WorkflowExecutionStatus
CLOSE_STATUS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: _S.WORKFLOW_EXECUTION_STATUS_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: _S.WORKFLOW_EXECUTION_STATUS_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: _S.WORKFLOW_EXECUTION_STATUS_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: _S.WORKFLOW_EXECUTION_STATUS_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: _S.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: (
        _S.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
    ),
}
"""The status visibility must list for a run closed by each close event."""
CONTINUED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
ENDINGS = {
    None: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    "terminate": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    "cancel": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
}
"""How the last run of a workflow must close, by the driver's ending."""
LOCAL_ACTIVITY_MARKER = "core_local_activity"


@dataclass
class Started:
    """A workflow whose start the server acknowledged, and what it was sent."""

    workflow_id: str
    kind: str
    spec: dict[str, Any]
    sdk: str
    signals_acked: list[int] = field(default_factory=list)
    updates_acked: dict[str, int] = field(default_factory=dict)
    """Update id -> the value it carried, for each update whose result came back."""
    ending: str | None = None
    """"terminate" or "cancel" when the driver ends the workflow before it can complete."""
    result: Any = None
    completed_at: float | None = None
    odd_answers: list[str] = field(default_factory=list)
    """Answers the driver got that cannot be right (a query counting more than was sent)."""
    released: bool = False
    """A cancelled order that had not closed CANCEL_GRACE seconds after its cancellation
    (spent on an operation that completed in the same activation, as both SDKs do): the
    driver sent it the held-back signal, so it may complete instead."""
    from_schedule: bool = False
    """Started by the soak's schedule, not by the driver."""


@dataclass
class ScheduleRun:
    """The soak's schedule: a ChaosChain of one run every `every` seconds while the load
    lasts (overlap ALLOW_ALL: no action may be skipped), deleted when the load ends."""

    schedule_id: str
    every: float
    created_at: float = 0.0
    deleted_at: float = 0.0
    """Wall clock (the server's time base on this machine)."""
    started: list[str] = field(default_factory=list)
    """The workflow ids it started, from visibility: `<action id>-<nominal time>`."""

    def nominal_times(self) -> list[float]:
        """When each started workflow was due (the time its id ends with), in order."""
        return sorted(
            datetime.strptime(wf_id[-20:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
            for wf_id in self.started
        )

    def least_actions(self) -> int:
        """Actions due from its creation to its last action taken: the interval's
        multiples of the epoch in between, the last one included."""
        times = self.nominal_times()
        if not times:
            return 0
        return int(times[-1] // self.every) - int(self.created_at // self.every)


@dataclass
class RunHistory:
    workflow_id: str
    run_id: str
    events: list[HistoryEvent]


@dataclass
class Observed:
    runs: dict[str, list[RunHistory]]
    """Workflow id -> its runs, first to last (continue-as-new chains have several)."""
    visibility: dict[tuple[str, str], int]
    """(workflow id, run id) -> the status visibility lists."""
    effects: list[tuple[str, str, str, int, bool]]
    """(workflow id, run id, activity id, attempt, local), one per recorded side effect."""
    replay_failures: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    workflow_id: str
    what: str

    def __str__(self) -> str:
        return f"{self.workflow_id}: {self.what}"


def expected_workflows(started: list[Started]) -> list[tuple[str, str, dict[str, Any], Started]]:
    """Every workflow the checker must account for: the started ones and their children."""
    out = []
    for s in started:
        out.append((s.workflow_id, s.kind, s.spec, s))
        if s.kind == "ChaosOrder":
            out.append((f"{s.workflow_id}-child", "ChaosChild", {"n": s.spec["acts"]}, s))
    return out


def decode(payloads: Any) -> Any:
    """The first value in `payloads` (None when empty)."""
    from perdure.converter import DataConverter

    values = DataConverter.default.payload_converter.from_payloads(list(payloads.payloads))
    return values[0] if values else None


def check(started: list[Started], observed: Observed) -> list[Violation]:
    """Every violation of the guarantees, by workflow."""
    out: list[Violation] = []
    effects: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    local_effects: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for wf, run_id, act, attempt, local in observed.effects:
        (local_effects if local else effects)[(wf, run_id, act)].append(attempt)
    known_runs: set[tuple[str, str]] = set()
    for wf_id, kind, spec, origin in expected_workflows(started):
        runs = observed.runs.get(wf_id, [])
        is_child = wf_id != origin.workflow_id
        if not runs:
            if not (is_child and origin.ending):  # an ended parent may not have started it
                out.append(Violation(wf_id, "no history"))
            continue
        signals: Counter[int] = Counter()
        cancels = 0
        accepted: Counter[str] = Counter()
        completed_updates: Counter[str] = Counter()
        closes: list[tuple[int, Any]] = []
        for run in runs:
            known_runs.add((wf_id, run.run_id))
            out += _check_run(run, effects, observed, closes)
            out += _check_local_activities(run, local_effects, ended=origin.ending is not None)
            for e in run.events:
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                    a = e.workflow_execution_signaled_event_attributes
                    if a.signal_name == "add":
                        signals[decode(a.input)] += 1
                elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
                    cancels += 1
                elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                    a2 = e.workflow_execution_update_accepted_event_attributes
                    accepted[a2.accepted_request.meta.update_id] += 1
                elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
                    a3 = e.workflow_execution_update_completed_event_attributes
                    completed_updates[a3.meta.update_id] += 1
        want = expected_result(kind, spec)
        for close_type, got in closes:
            if close_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED and got != want:
                out.append(Violation(wf_id, f"result {got!r}, expected {want!r}"))
        types = [t for t, _ in closes]
        if not (is_child and origin.ending):  # a child of an ended parent may end any way
            final = ENDINGS[None if is_child else origin.ending]
            if not is_child and origin.released and types == [ENDINGS[None]]:
                final = ENDINGS[None]  # its cancellation was spent; it completed instead
            expected = [CONTINUED] * (len(runs) - 1) + [final]
            if types != expected:
                got_names = [EventType.Name(t) for t in types]  # type: ignore[arg-type]
                want_names = [EventType.Name(t) for t in expected]
                out.append(Violation(wf_id, f"runs closed by {got_names}, expected {want_names}"))
        if kind == "ChaosChain" and len(runs) != spec["length"] + 1:
            out.append(Violation(wf_id, f"{len(runs)} runs, expected {spec['length'] + 1}"))
        if kind == "ChaosOrder" and origin.result is not None and origin.result != want:
            out.append(Violation(wf_id, f"client got result {origin.result!r}, expected {want!r}"))
        if wf_id == origin.workflow_id:
            out += [Violation(wf_id, odd) for odd in origin.odd_answers]
            if origin.ending == "cancel" and cancels != 1:
                out.append(Violation(wf_id, f"the cancel request appears {cancels} times"))
            for value in origin.signals_acked:
                if signals[value] != 1:
                    out.append(
                        Violation(
                            wf_id, f"acknowledged signal {value} appears {signals[value]} times"
                        )
                    )
            for value, n in signals.items():
                if n > 1 and value not in origin.signals_acked:
                    out.append(Violation(wf_id, f"signal {value} appears {n} times"))
            for update_id in origin.updates_acked:
                if accepted[update_id] != 1 or completed_updates[update_id] != 1:
                    what = (
                        f"acknowledged update {update_id} accepted {accepted[update_id]}, "
                        f"completed {completed_updates[update_id]} times"
                    )
                    out.append(Violation(wf_id, what))
    for key in [*effects, *local_effects]:
        if (key[0], key[1]) not in known_runs:
            out.append(
                Violation(
                    key[0], f"side effect of run {key[1]} activity {key[2]}, a run no history holds"
                )
            )
    return out


def _check_run(
    run: RunHistory,
    effects: dict[tuple[str, str, str], list[int]],
    observed: Observed,
    closes_out: list[tuple[int, Any]],
) -> list[Violation]:
    out: list[Violation] = []
    wf = run.workflow_id
    where = f"run {run.run_id}"
    ids = [e.event_id for e in run.events]
    if ids != list(range(1, len(ids) + 1)):
        out.append(Violation(wf, f"{where}: event ids are not contiguous from 1"))
    closes = [e for e in run.events if e.event_type in CLOSE_STATUS]
    if len(closes) != 1 or (closes and closes[0] is not run.events[-1]):
        out.append(Violation(wf, f"{where}: {len(closes)} close events (expected one, last)"))
    if closes:
        close = closes[-1]
        result = None
        if close.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            result = decode(close.workflow_execution_completed_event_attributes.result)
        closes_out.append((close.event_type, result))
        listed = observed.visibility.get((wf, run.run_id))
        if listed is None:
            out.append(Violation(wf, f"{where}: not in visibility"))
        elif listed != CLOSE_STATUS[close.event_type]:
            what = (
                f"{where}: visibility says {WorkflowExecutionStatus.Name(listed)}, "
                f"history {EventType.Name(close.event_type)}"
            )
            out.append(Violation(wf, what))
    failure = observed.replay_failures.get((wf, run.run_id))
    if failure:
        out.append(Violation(wf, f"{where}: replay failed: {failure}"))
    scheduled: dict[int, str] = {}
    attempts: dict[str, int] = {}
    completed: set[str] = set()
    started: set[str] = set()
    retries_off: set[str] = set()
    for e in run.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            act = e.activity_task_scheduled_event_attributes.activity_id
            scheduled[e.event_id] = act
            attempts[act] = 0
            if e.activity_task_scheduled_event_attributes.retry_policy.maximum_attempts == 1:
                retries_off.add(act)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = e.activity_task_started_event_attributes
            attempts[scheduled[a.scheduled_event_id]] = a.attempt
            started.add(scheduled[a.scheduled_event_id])
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed.add(scheduled[e.activity_task_completed_event_attributes.scheduled_event_id])
    for act, attempt in attempts.items():
        rows = effects.get((wf, run.run_id, act), [])
        if act in completed and not rows:
            out.append(Violation(wf, f"{where}: activity {act} completed with no side effect"))
        # The attempt is known only from a started event: one running, or failed and waiting
        # for its retry, when it or its workflow was cancelled has none.
        if len(rows) > attempt and act in started:
            out.append(Violation(wf, f"{where}: activity {act} has {len(rows)} side effects "
                                 f"for {attempt} recorded attempts {sorted(rows)}"))  # fmt: skip
        if act in retries_off and len(rows) > 1:
            out.append(Violation(wf, f"{where}: activity {act} has retries off and "
                                 f"{len(rows)} side effects"))  # fmt: skip
        dup = [a for a, n in Counter(rows).items() if n > 1]
        if dup:
            out.append(
                Violation(wf, f"{where}: activity {act} ran attempt(s) {dup} more than once")
            )
    for w, r, act in effects:
        if w == wf and r == run.run_id and act not in attempts:
            out.append(Violation(wf, f"{where}: side effect of activity {act}, never scheduled"))
    return out


def _check_local_activities(
    run: RunHistory, effects: dict[tuple[str, str, str], list[int]], *, ended: bool
) -> list[Violation]:
    """Local activities are at least once: each recorded marker has a side effect, none
    ran past the attempt its marker records (a worker that dies before its task completes
    runs the activity again from attempt 1), and in a run the driver did not end, every
    side effect belongs to a marker (the retry after a crash must get recorded)."""
    out: list[Violation] = []
    wf, where = run.workflow_id, f"run {run.run_id}"
    markers: dict[str, tuple[int, bool]] = {}
    for e in run.events:
        if e.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        a = e.marker_recorded_event_attributes
        if a.marker_name != LOCAL_ACTIVITY_MARKER or "data" not in a.details:
            continue
        data = json.loads(a.details["data"].payloads[0].data)
        markers[str(data["activity_id"])] = (int(data.get("attempt", 1)), "result" in a.details)
    for act, (attempt, completed) in markers.items():
        rows = effects.get((wf, run.run_id, act), [])
        if completed and not rows:
            out.append(Violation(wf, f"{where}: local activity {act} completed, no side effect"))
        if rows and max(rows) > attempt:
            out.append(Violation(wf, f"{where}: local activity {act} ran attempt {max(rows)}, "
                                 f"its marker records {attempt}"))  # fmt: skip
    for w, r, act in effects:
        if w == wf and r == run.run_id and act not in markers and not ended:
            out.append(Violation(wf, f"{where}: side effect of local activity {act}, no marker"))
    return out


def read_effects(path: str) -> list[tuple[str, str, str, int, bool]]:
    with sqlite3.connect(path, timeout=60) as db:
        try:
            rows = db.execute(
                "SELECT workflow_id, run_id, activity_id, attempt, local FROM effects"
            ).fetchall()
        except sqlite3.OperationalError:  # no activity ever ran
            rows = []
    db.close()
    return [(str(a), str(b), str(c), int(d), bool(e)) for a, b, c, d, e in rows]


async def observe(client: Any, started: list[Started], effects_path: str) -> Observed:
    """Histories (walked back along continue-as-new), visibility rows, side effects, replays."""
    runs: dict[str, list[RunHistory]] = {}
    visibility: dict[tuple[str, str], int] = {}
    for wf_id, _kind, _spec, _origin in expected_workflows(started):
        chain: list[RunHistory] = []
        run_id: str | None = None
        while True:
            try:
                history = await client.get_workflow_handle(wf_id, run_id=run_id).fetch_history()
            except Exception:
                break
            chain.append(RunHistory(wf_id, history.run_id, list(history.events)))
            first = history.events[0].workflow_execution_started_event_attributes
            run_id = first.continued_execution_run_id or None
            if run_id is None:
                break
        runs[wf_id] = list(reversed(chain))
        async for listed in client.list_workflows(f"WorkflowId = '{wf_id}'"):
            visibility[(wf_id, listed.run_id)] = int(listed.status)
    return Observed(runs, visibility, read_effects(effects_path), await replay_all(runs))


async def replay_all(runs: dict[str, list[RunHistory]]) -> dict[tuple[str, str], str]:
    """Each run that Perdure's Replayer or temporalio's fails to replay, and why."""
    from chaos.workflows import WORKFLOWS
    from perdure.client import WorkflowHistory
    from perdure.worker import Replayer

    replayer = Replayer(workflows=WORKFLOWS)
    failures: dict[tuple[str, str], str] = {}
    blobs: list[tuple[str, bytes]] = []
    for wf_id, chain in runs.items():
        for run in chain:
            history = WorkflowHistory(wf_id, run.events)
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            if result.replay_failure is not None:
                failures[(wf_id, run.run_id)] = f"perdure: {result.replay_failure!r}"
            blob = History(events=run.events).SerializeToString()
            blobs.append((f"{wf_id}\t{run.run_id}", blob))
    for key, failure in (await replay_with_temporalio(blobs)).items():
        failures[key] = f"{failures.get(key, '')} {failure}".strip()
    return failures


async def replay_with_temporalio(blobs: list[tuple[str, bytes]]) -> dict[tuple[str, str], str]:
    """temporalio's Replayer's failures by (workflow id, run id), from a subprocess."""
    import os
    import sys
    import tempfile

    from chaos.replay_temporalio import write_histories

    repo = REPO
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "histories.bin"
        write_histories(path, blobs)
        env = {**os.environ, "PYTHONPATH": f"{repo / 'src'}{os.pathsep}{repo}"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chaos.replay_temporalio", str(path), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        if proc.returncode != 0:
            why = (out + err).decode(errors="replace")
            raise RuntimeError(f"temporalio replay exited with {proc.returncode}: {why}")
        listed = _read_json(f"{path}.failures.json")
    failures: dict[tuple[str, str], str] = {}
    for wf_id, run_id, failure in listed:
        failures[(wf_id, run_id)] = f"temporalio: {failure}"
    return failures


def _read_json(path: str) -> Any:
    import json

    with open(path) as f:
        return json.load(f)


SCHEDULE_STALE = 30.0
"""Seconds a schedule may go without an action before its deletion (a loaded machine)."""


def check_schedule(run: ScheduleRun) -> list[Violation]:
    """Timers fire: the schedule took every action that fell due while it existed, across
    every outage (the catch-up takes those due while no server ran), up to its deletion."""
    out = []
    times = run.nominal_times()
    least = run.least_actions()
    if len(times) < least:
        out.append(Violation(run.schedule_id, f"started {len(times)} workflows, {least} were due"))
    last = times[-1] if times else run.created_at
    if run.deleted_at - last > max(SCHEDULE_STALE, 2 * run.every):
        out.append(
            Violation(
                run.schedule_id, f"took no action in the {run.deleted_at - last:.0f}s before "
                "its deletion",
            )
        )  # fmt: skip
    return out


def left_behind(rows: dict[str, list[tuple[str, int]]], now_ns: int) -> list[Violation]:
    """Tasks still queued after the system settled, and timers overdue by more than 10 s.

    `rows` holds the store's `tasks` and `timers` tables as (workflow id, due time in ns; 0
    for tasks). Retention timers (a day ahead) and timeouts still to come are not leftovers.
    """
    out = [
        Violation(wf, "a task is still queued after the system settled") for wf, _ in rows["tasks"]
    ]
    late = now_ns - 10 * 10**9
    out += [
        Violation(wf, f"a timer is {(now_ns - due) / 1e9:.0f}s overdue after the system settled")
        for wf, due in rows["timers"]
        if due < late
    ]
    return out


def read_store_rows(db: Any) -> dict[str, list[tuple[str, int]]]:
    """The `tasks` and `timers` rows of a Perdure store, through a DB-API connection."""
    tasks = db.execute("SELECT workflow_id FROM tasks").fetchall()
    timers = db.execute("SELECT workflow_id, fire_time FROM timers").fetchall()
    return {
        "tasks": [(str(r[0]), 0) for r in tasks],
        "timers": [(str(r[0]), int(r[1])) for r in timers],
    }
