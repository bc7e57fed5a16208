"""The schedule state machine without IO: due times, catch-up, overlap, limits."""

from __future__ import annotations

from temporalio.api.enums.v1 import workflow_pb2 as wf_enums
from temporalio.api.schedule.v1 import message_pb2 as sched_pb

from perdure.server.schedules import machine
from perdure.server.schedules.machine import ScheduleState
from perdure.server.schedules.spec import SECOND

T0 = 1_700_000_000 * SECOND  # a whole multiple of 10 s


def _state(every: int = 10, overlap: int = machine.SKIP, **state: object) -> ScheduleState:
    schedule = sched_pb.Schedule()
    schedule.spec.interval.add().interval.FromSeconds(every)
    schedule.policies.overlap_policy = overlap  # type: ignore[assignment]
    for k, v in state.items():
        setattr(schedule.state, k, v)
    return ScheduleState("s", "ns", schedule, last_processed=T0)


def _start_all(state: ScheduleState, now: int) -> list[machine.BufferedStart]:
    machine.take_due(state, now)
    decision = machine.process_buffer(state)
    for n, b in enumerate(decision.starts):
        machine.record_start(state, b, f"wf-{b.nominal}", f"run-{b.nominal}-{n}", now)
    return decision.starts


def test_times_are_taken_once_and_in_order() -> None:
    st = _state(overlap=machine.ALLOW_ALL)
    assert [b.nominal for b in _start_all(st, T0 + 25 * SECOND)] == [
        T0 + 10 * SECOND,
        T0 + 20 * SECOND,
    ]
    assert _start_all(st, T0 + 25 * SECOND) == []
    assert machine.next_wake(st) == T0 + 30 * SECOND
    assert st.action_count == 2


def test_skip_counts_overlaps_until_the_run_closes() -> None:
    st = _state(overlap=machine.SKIP)
    assert len(_start_all(st, T0 + 10 * SECOND)) == 1
    assert _start_all(st, T0 + 30 * SECOND) == []
    assert st.overlap_skipped == 2
    machine.record_close(
        st, st.running[0], wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, None, None
    )
    assert len(_start_all(st, T0 + 40 * SECOND)) == 1


def test_buffer_one_keeps_one_and_drops_the_rest() -> None:
    st = _state(overlap=machine.BUFFER_ONE)
    _start_all(st, T0 + 10 * SECOND)
    _start_all(st, T0 + 40 * SECOND)
    assert len(st.buffer) == 1 and st.overlap_skipped == 2 and st.buffer_dropped == 0
    machine.record_close(
        st, st.running[0], wf_enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, None, None
    )
    started = machine.process_buffer(st).starts
    assert [b.nominal for b in started] == [T0 + 20 * SECOND]


def test_terminate_and_cancel_other() -> None:
    st = _state(overlap=machine.TERMINATE_OTHER)
    _start_all(st, T0 + 10 * SECOND)
    machine.take_due(st, T0 + 20 * SECOND)
    decision = machine.process_buffer(st)
    assert decision.terminate and not decision.starts and len(st.buffer) == 1
    st2 = _state(overlap=machine.CANCEL_OTHER)
    _start_all(st2, T0 + 10 * SECOND)
    machine.take_due(st2, T0 + 20 * SECOND)
    assert machine.process_buffer(st2).cancel


def test_catchup_window_counts_missed_times() -> None:
    st = _state()
    st.schedule.policies.catchup_window.FromSeconds(15)
    started = _start_all(st, T0 + 100 * SECOND)
    # 10..70 are more than 15 s late; 90 and 100 are not (only the first starts: SKIP).
    assert st.missed_catchup_window == 8
    assert [b.nominal for b in started] == [T0 + 90 * SECOND]
    assert st.overlap_skipped == 1


def test_paused_and_limited_actions_let_times_pass() -> None:
    st = _state(paused=True)
    assert _start_all(st, T0 + 30 * SECOND) == []
    assert machine.next_wake(st) is None and st.last_processed == T0 + 30 * SECOND
    lim = _state(overlap=machine.ALLOW_ALL, limited_actions=True, remaining_actions=2)
    assert len(_start_all(lim, T0 + 50 * SECOND)) == 2
    assert lim.schedule.state.remaining_actions == 0
    assert machine.next_wake(lim) is None


def test_manual_starts_ignore_pause_and_use_their_own_policy() -> None:
    st = _state(paused=True)
    machine.trigger(st, T0 + 5 * SECOND + 123, machine.ALLOW_ALL, "r1")
    machine.backfill(st, T0 - 30 * SECOND, T0, machine.ALLOW_ALL, "bf")
    starts = machine.process_buffer(st).starts
    assert [b.nominal for b in starts] == [
        T0 + 5 * SECOND,
        T0 - 30 * SECOND,
        T0 - 20 * SECOND,
        T0 - 10 * SECOND,
        T0,
    ]
    assert all(b.manual for b in starts)


def test_failure_pauses_when_the_policy_says_so_and_results_carry_over() -> None:
    st = _state()
    st.schedule.policies.pause_on_failure = True
    _start_all(st, T0 + 10 * SECOND)
    run = st.running[0]
    machine.record_close(st, run, wf_enums.WORKFLOW_EXECUTION_STATUS_FAILED, None, None)
    assert st.schedule.state.paused and run.workflow_id in st.schedule.state.notes
    assert st.recent_actions[-1].start_workflow_status == wf_enums.WORKFLOW_EXECUTION_STATUS_FAILED


def test_state_round_trips_and_ids_are_temporal_s() -> None:
    st = _state(overlap=machine.BUFFER_ALL)
    _start_all(st, T0 + 30 * SECOND)
    again = ScheduleState.decode(st.encode())
    assert again.encode() == st.encode()
    assert machine.workflow_id_for("base", T0) == "base-2023-11-14T22:13:20Z"
    assert machine.conflict_token(st) == (1).to_bytes(8, "big")
