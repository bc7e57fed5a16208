"""A schedule's state and its transitions, without IO.

The scheduler (scheduler.py) loads a `ScheduleState`, asks this module what is due and
what to do about overlapping runs, performs the starts, cancels and terminations, and
stores the state with what they returned. Every rule here is Temporal's: nominal times
are taken in order (never twice: `last_processed` only moves forward); a time later than
the catch-up window is counted as missed; a paused schedule, or one out of remaining
actions, lets scheduled times pass; manual starts (trigger, backfill) ignore both. The
overlap policy decides what a start does while an earlier run is still running.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import msgpack
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import schedule_pb2 as sched_enums
from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.schedule.v1 import message_pb2 as sched_pb

from perdure.server.schedules.spec import SECOND, CompiledSpec, compile_spec

Policy = int
"""A temporal.api.enums.v1.ScheduleOverlapPolicy value."""
UNSPECIFIED: Policy = sched_enums.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED
SKIP: Policy = sched_enums.SCHEDULE_OVERLAP_POLICY_SKIP
BUFFER_ONE: Policy = sched_enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE
BUFFER_ALL: Policy = sched_enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL
CANCEL_OTHER: Policy = sched_enums.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER
TERMINATE_OTHER: Policy = sched_enums.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER
ALLOW_ALL: Policy = sched_enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL

DEFAULT_CATCHUP_WINDOW = 365 * 24 * 3600 * SECOND
MIN_CATCHUP_WINDOW = 10 * SECOND
MAX_BUFFER = 1000
RECENT_ACTIONS = 10
FUTURE_ACTIONS = 10


@dataclass(slots=True)
class BufferedStart:
    nominal: int
    actual: int
    overlap: Policy
    manual: bool
    request_id: str


@dataclass(slots=True)
class Running:
    workflow_id: str
    run_id: str


@dataclass(slots=True)
class ScheduleState:
    """Everything stored about one schedule."""

    schedule_id: str
    namespace_id: str
    schedule: sched_pb.Schedule
    """The definition as described (canonical spec)."""
    memo: common_pb.Memo = field(default_factory=common_pb.Memo)
    search_attributes: common_pb.SearchAttributes = field(
        default_factory=common_pb.SearchAttributes
    )
    create_time: int = 0
    update_time: int = 0
    last_processed: int = 0
    """Nominal times at or before this have been taken (or let pass)."""
    action_count: int = 0
    missed_catchup_window: int = 0
    overlap_skipped: int = 0
    buffer_dropped: int = 0
    buffer: list[BufferedStart] = field(default_factory=list)
    running: list[Running] = field(default_factory=list)
    recent_actions: list[sched_pb.ScheduleActionResult] = field(default_factory=list)
    conflict_token: int = 1
    last_completion_result: common_pb.Payloads | None = None
    last_failure: failure_pb.Failure | None = None
    cancel_requested: list[str] = field(default_factory=list)
    """Run ids of running workflows already asked to cancel (CANCEL_OTHER)."""

    @property
    def seed(self) -> str:
        return f"{self.namespace_id}-{self.schedule_id}"

    def compiled(self) -> CompiledSpec:
        return compile_spec(self.schedule.spec)

    def encode(self) -> bytes:
        out: bytes = msgpack.packb(
            {
                "id": self.schedule_id,
                "ns": self.namespace_id,
                "schedule": self.schedule.SerializeToString(),
                "memo": self.memo.SerializeToString(),
                "sa": self.search_attributes.SerializeToString(),
                "created": self.create_time,
                "updated": self.update_time,
                "processed": self.last_processed,
                "counts": [
                    self.action_count,
                    self.missed_catchup_window,
                    self.overlap_skipped,
                    self.buffer_dropped,
                ],
                "buffer": [
                    [b.nominal, b.actual, int(b.overlap), b.manual, b.request_id]
                    for b in self.buffer
                ],
                "running": [[r.workflow_id, r.run_id] for r in self.running],
                "recent": [a.SerializeToString() for a in self.recent_actions],
                "token": self.conflict_token,
                "result": (
                    None
                    if self.last_completion_result is None
                    else self.last_completion_result.SerializeToString()
                ),
                "failure": (
                    None if self.last_failure is None else self.last_failure.SerializeToString()
                ),
                "cancelled": self.cancel_requested,
            }
        )
        return out

    @classmethod
    def decode(cls, data: bytes) -> ScheduleState:
        d = msgpack.unpackb(data)
        schedule = sched_pb.Schedule.FromString(d["schedule"])
        result = None if d["result"] is None else common_pb.Payloads.FromString(d["result"])
        failure = None if d["failure"] is None else failure_pb.Failure.FromString(d["failure"])
        counts = d["counts"]
        return cls(
            schedule_id=d["id"],
            namespace_id=d["ns"],
            schedule=schedule,
            memo=common_pb.Memo.FromString(d["memo"]),
            search_attributes=common_pb.SearchAttributes.FromString(d["sa"]),
            create_time=d["created"],
            update_time=d["updated"],
            last_processed=d["processed"],
            action_count=counts[0],
            missed_catchup_window=counts[1],
            overlap_skipped=counts[2],
            buffer_dropped=counts[3],
            buffer=[BufferedStart(b[0], b[1], b[2], b[3], b[4]) for b in d["buffer"]],
            running=[Running(r[0], r[1]) for r in d["running"]],
            recent_actions=[sched_pb.ScheduleActionResult.FromString(a) for a in d["recent"]],
            conflict_token=d["token"],
            last_completion_result=result,
            last_failure=failure,
            cancel_requested=list(d["cancelled"]),
        )


def conflict_token(state: ScheduleState) -> bytes:
    """Temporal's form: the update counter as 8 big-endian bytes."""
    return state.conflict_token.to_bytes(8, "big")


def catchup_window(state: ScheduleState) -> int:
    p = state.schedule.policies
    if not p.HasField("catchup_window"):
        return DEFAULT_CATCHUP_WINDOW
    return max(p.catchup_window.ToNanoseconds(), MIN_CATCHUP_WINDOW)


def resolve(state: ScheduleState, policy: Policy) -> Policy:
    if policy != UNSPECIFIED:
        return policy
    own: Policy = state.schedule.policies.overlap_policy
    return own if own != UNSPECIFIED else SKIP


def _can_take_scheduled(state: ScheduleState) -> bool:
    st = state.schedule.state
    return not st.paused and (not st.limited_actions or st.remaining_actions > 0)


def take_due(state: ScheduleState, now: int) -> None:
    """Buffer every scheduled time whose (jittered) time has come."""
    spec = state.compiled()
    window = catchup_window(state)
    while True:
        nxt = spec.next_time(state.last_processed, state.seed)
        if nxt is None or nxt.actual > now:
            return
        state.last_processed = nxt.nominal
        if not _can_take_scheduled(state):
            continue
        if now - nxt.actual > window:
            state.missed_catchup_window += 1
            continue
        request_id = f"sched-{state.schedule_id}-{nxt.nominal}"
        _buffer(state, BufferedStart(nxt.nominal, nxt.actual, 0, False, request_id))


def _buffer(state: ScheduleState, start: BufferedStart) -> None:
    if len(state.buffer) >= MAX_BUFFER:
        state.buffer_dropped += 1
        return
    state.buffer.append(start)


def trigger(state: ScheduleState, now: int, overlap: Policy, request_id: str) -> None:
    """TriggerImmediately: one manual start now."""
    now_s = now - now % SECOND
    _buffer(state, BufferedStart(now_s, now, overlap, True, request_id))


def backfill(
    state: ScheduleState, start: int, end: int, overlap: Policy, request_prefix: str
) -> None:
    """Manual starts for every time the spec gives in [start, end]."""
    spec = state.compiled()
    for nxt in spec.times(start - 1, end, state.seed):
        _buffer(
            state,
            BufferedStart(
                nxt.nominal, nxt.nominal, overlap, True, f"{request_prefix}-{nxt.nominal}"
            ),
        )


@dataclass(frozen=True, slots=True)
class BufferDecision:
    """What to do now: start these, cancel or terminate the running workflows."""

    starts: list[BufferedStart]
    cancel: bool = False
    terminate: bool = False


def process_buffer(state: ScheduleState) -> BufferDecision:
    """Apply the overlap policies to the buffer; the buffer keeps what must wait.

    A scheduled (not manual) start spends a remaining action here, and is dropped when
    the schedule was paused or ran out of actions while it waited."""
    running = bool(state.running)
    starts: list[BufferedStart] = []
    keep: list[BufferedStart] = []
    cancel = terminate = False
    for b in state.buffer:
        policy = resolve(state, b.overlap)
        if policy == ALLOW_ALL or not running:
            if not b.manual:
                if not _can_take_scheduled(state):
                    continue
                st = state.schedule.state
                if st.limited_actions:
                    st.remaining_actions -= 1
            starts.append(b)
            running = True
            continue
        if policy == SKIP:
            state.overlap_skipped += 1
        elif policy == BUFFER_ONE:
            if any(resolve(state, k.overlap) == BUFFER_ONE for k in keep):
                state.overlap_skipped += 1  # as Temporal counts it (buffer_dropped: full)
            else:
                keep.append(b)
        elif policy == BUFFER_ALL:
            keep.append(b)
        elif policy == CANCEL_OTHER:
            cancel = True
            keep = [k for k in keep if resolve(state, k.overlap) != CANCEL_OTHER] + [b]
        elif policy == TERMINATE_OTHER:
            terminate = True
            keep = [k for k in keep if resolve(state, k.overlap) != TERMINATE_OTHER] + [b]
    state.buffer = keep
    return BufferDecision(starts, cancel=cancel and not starts, terminate=terminate)


def record_start(
    state: ScheduleState, start: BufferedStart, workflow_id: str, run_id: str, now: int
) -> None:
    """A start happened: count it and remember it. As Temporal, a run started under
    ALLOW_ALL is not tracked as running (it overlaps nothing, and its outcome is not
    handed on)."""
    state.action_count += 1
    if resolve(state, start.overlap) != ALLOW_ALL:
        state.running.append(Running(workflow_id, run_id))
    result = sched_pb.ScheduleActionResult(
        start_workflow_status=wf_enums.WORKFLOW_EXECUTION_STATUS_RUNNING
    )
    result.schedule_time.FromNanoseconds(start.actual)
    result.actual_time.FromNanoseconds(now)
    result.start_workflow_result.workflow_id = workflow_id
    result.start_workflow_result.run_id = run_id
    state.recent_actions.append(result)
    del state.recent_actions[:-RECENT_ACTIONS]


def record_close(
    state: ScheduleState,
    run: Running,
    status: int,
    result: common_pb.Payloads | None,
    failure: failure_pb.Failure | None,
) -> None:
    """A started workflow closed: it no longer overlaps; its outcome goes to the next run
    (and a failure pauses the schedule when its policy says so)."""
    state.running = [r for r in state.running if r.run_id != run.run_id]
    state.cancel_requested = [c for c in state.cancel_requested if c != run.run_id]
    for action in state.recent_actions:
        if action.start_workflow_result.run_id == run.run_id:
            action.start_workflow_status = wf_enums.WorkflowExecutionStatus.ValueType(status)
    if status == 2:  # COMPLETED
        state.last_completion_result = result
        state.last_failure = None
    elif status in (3, 7):  # FAILED, TIMED_OUT
        state.last_failure = failure
        if state.schedule.policies.pause_on_failure:
            state.schedule.state.paused = True
            state.schedule.state.notes = (
                f"paused due to workflow failure: {run.workflow_id}: {_status_name(status)}"
            )


def _status_name(status: int) -> str:
    return "Failed" if status == 3 else "TimedOut"


def next_wake(state: ScheduleState) -> int | None:
    """When the scheduler must look at the schedule again for a scheduled time."""
    if state.buffer and not state.running:
        return 0
    if not _can_take_scheduled(state):
        return None
    nxt = state.compiled().next_time(state.last_processed, state.seed)
    return None if nxt is None else nxt.actual


def future_action_times(state: ScheduleState, now: int, n: int = FUTURE_ACTIONS) -> list[int]:
    st = state.schedule.state
    if st.limited_actions:
        n = min(n, st.remaining_actions)
    spec = state.compiled()
    out: list[int] = []
    t = max(state.last_processed, now)
    while len(out) < n:
        nxt = spec.next_time(t, state.seed)
        if nxt is None:
            break
        out.append(nxt.actual)
        t = nxt.nominal
    return out


def workflow_id_for(base: str, nominal: int) -> str:
    """`<action's workflow id>-<nominal time, RFC 3339 at whole seconds>`, as Temporal."""
    t = dt.datetime.fromtimestamp(nominal // SECOND, dt.UTC)
    return f"{base}-{t.strftime('%Y-%m-%dT%H:%M:%SZ')}"
