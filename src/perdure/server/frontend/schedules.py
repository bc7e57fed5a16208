"""Schedule RPCs: create, describe, update, patch, delete, list, matching times, count.

Each handler validates and shapes; the schedule's state changes go through the
scheduler (server/schedules/scheduler.py), which serializes them with its own
processing of the schedule.
"""

from __future__ import annotations

import uuid

from temporalio.api.schedule.v1 import message_pb2 as sched_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import InvalidArgument, NotFound, WorkflowExecutionAlreadyStarted
from perdure.server.frontend.context import FrontendContext
from perdure.server.frontend.deadline import Deadline
from perdure.server.namespaces import Namespace
from perdure.server.schedules import machine
from perdure.server.schedules.listing import ScheduleFilter, list_info
from perdure.server.schedules.machine import ScheduleState
from perdure.server.schedules.scheduler import Scheduler, copy_present_fields
from perdure.server.schedules.spec import SECOND, canonical_spec
from perdure.server.store.base import AlreadyExists as StoreAlreadyExists
from perdure.server.store.base import ScheduleRecord

MAX_ID_LENGTH = 1000
MAX_PAGE_SIZE = 1000
MAX_MATCHING_TIMES = 1000


class ScheduleRpcs(FrontendContext):
    scheduler: Scheduler

    # ------------------------------------------------------------------ writes

    async def CreateSchedule(
        self, request: rr.CreateScheduleRequest, deadline: Deadline
    ) -> rr.CreateScheduleResponse:
        ns = await self.namespaces.get(request.namespace)
        _check_id(request.schedule_id)
        schedule = self._checked_schedule(ns, request.schedule)
        if request.HasField("search_attributes"):
            self.check_search_attributes(ns, request.search_attributes)
        now = self.history.clock.now_ns()
        state = ScheduleState(
            schedule_id=request.schedule_id,
            namespace_id=ns.id,
            schedule=schedule,
            memo=request.memo,
            search_attributes=request.search_attributes,
            create_time=now,
            last_processed=now - now % SECOND,
        )
        if request.HasField("initial_patch"):
            _apply_patch(state, request.initial_patch, now)
        record = ScheduleRecord(ns.id, request.schedule_id, state.encode(), wake_time=0)
        try:
            await self.store.create_schedule(record)
        except StoreAlreadyExists:
            raise WorkflowExecutionAlreadyStarted(
                "schedule with this ID is already registered",
                start_request_id=request.request_id,
                run_id="",
            ) from None
        self.scheduler.poke(ns.id, request.schedule_id)
        return rr.CreateScheduleResponse(conflict_token=machine.conflict_token(state))

    async def UpdateSchedule(
        self, request: rr.UpdateScheduleRequest, deadline: Deadline
    ) -> rr.UpdateScheduleResponse:
        ns = await self.namespaces.get(request.namespace)
        _check_id(request.schedule_id)
        schedule = self._checked_schedule(ns, request.schedule)
        if request.HasField("search_attributes"):
            self.check_search_attributes(ns, request.search_attributes)
        now = self.history.clock.now_ns()

        def change(state: ScheduleState) -> None:
            token = request.conflict_token
            if token and token != machine.conflict_token(state):
                # Temporal's scheduler drops an update based on an older version.
                return
            state.schedule = schedule
            state.last_processed = max(state.last_processed, now - now % SECOND)
            state.conflict_token += 1
            if request.HasField("search_attributes"):
                state.search_attributes.CopyFrom(request.search_attributes)
            if request.HasField("memo"):
                state.memo.CopyFrom(request.memo)

        await self.scheduler.modify(ns.id, request.schedule_id, change)
        return rr.UpdateScheduleResponse()

    async def PatchSchedule(
        self, request: rr.PatchScheduleRequest, deadline: Deadline
    ) -> rr.PatchScheduleResponse:
        ns = await self.namespaces.get(request.namespace)
        _check_id(request.schedule_id)
        now = self.history.clock.now_ns()
        patch = request.patch
        for b in patch.backfill_request:
            if b.end_time.ToNanoseconds() < b.start_time.ToNanoseconds():
                raise InvalidArgument("Backfill end time is before start time")
        await self.scheduler.modify(
            ns.id, request.schedule_id, lambda state: _apply_patch(state, patch, now)
        )
        return rr.PatchScheduleResponse()

    async def DeleteSchedule(
        self, request: rr.DeleteScheduleRequest, deadline: Deadline
    ) -> rr.DeleteScheduleResponse:
        ns = await self.namespaces.get(request.namespace)
        _check_id(request.schedule_id)
        if not await self.store.delete_schedule(ns.id, request.schedule_id):
            raise schedule_not_found(request.schedule_id)
        return rr.DeleteScheduleResponse()

    # ------------------------------------------------------------------ reads

    async def DescribeSchedule(
        self, request: rr.DescribeScheduleRequest, deadline: Deadline
    ) -> rr.DescribeScheduleResponse:
        ns = await self.namespaces.get(request.namespace)
        _check_id(request.schedule_id)
        state = await self._load(ns, request.schedule_id)
        now = self.history.clock.now_ns()
        resp = rr.DescribeScheduleResponse(
            schedule=state.schedule,
            memo=state.memo,
            search_attributes=state.search_attributes,
            conflict_token=machine.conflict_token(state),
        )
        if not state.memo.fields:
            resp.ClearField("memo")
        if not state.search_attributes.indexed_fields:
            resp.ClearField("search_attributes")
        info = resp.info
        info.action_count = state.action_count
        info.missed_catchup_window = state.missed_catchup_window
        info.overlap_skipped = state.overlap_skipped
        info.buffer_dropped = state.buffer_dropped
        info.buffer_size = len(state.buffer)
        for run in state.running:
            info.running_workflows.add(workflow_id=run.workflow_id, run_id=run.run_id)
        info.recent_actions.extend(state.recent_actions)
        for t in machine.future_action_times(state, now):
            info.future_action_times.add().FromNanoseconds(t)
        info.create_time.FromNanoseconds(state.create_time)
        if state.update_time:
            info.update_time.FromNanoseconds(state.update_time)
        return resp

    async def ListSchedules(
        self, request: rr.ListSchedulesRequest, deadline: Deadline
    ) -> rr.ListSchedulesResponse:
        ns = await self.namespaces.get(request.namespace)
        page_size = request.maximum_page_size or MAX_PAGE_SIZE
        if page_size < 0:
            raise InvalidArgument("Invalid maximum_page_size")
        page_size = min(page_size, MAX_PAGE_SIZE)
        selected = ScheduleFilter(request.query)
        after = request.next_page_token.decode() if request.next_page_token else ""
        now = self.history.clock.now_ns()
        resp = rr.ListSchedulesResponse()
        while len(resp.schedules) < page_size:
            records = await self.store.list_schedules(ns.id, after, page_size)
            if not records:
                return resp
            for record in records:
                after = record.schedule_id
                state = ScheduleState.decode(record.state)
                if not selected.matches(state):
                    continue
                entry = resp.schedules.add(schedule_id=state.schedule_id)
                if state.memo.fields:
                    entry.memo.CopyFrom(state.memo)
                if state.search_attributes.indexed_fields:
                    entry.search_attributes.CopyFrom(state.search_attributes)
                entry.info.CopyFrom(list_info(state, now))
                if len(resp.schedules) >= page_size:
                    break
        resp.next_page_token = after.encode()
        return resp

    async def CountSchedules(
        self, request: rr.CountSchedulesRequest, deadline: Deadline
    ) -> rr.CountSchedulesResponse:
        ns = await self.namespaces.get(request.namespace)
        selected = ScheduleFilter(request.query)
        count, after = 0, ""
        while True:
            records = await self.store.list_schedules(ns.id, after, MAX_PAGE_SIZE)
            if not records:
                return rr.CountSchedulesResponse(count=count)
            for record in records:
                after = record.schedule_id
                if selected.matches(ScheduleState.decode(record.state)):
                    count += 1

    async def ListScheduleMatchingTimes(
        self, request: rr.ListScheduleMatchingTimesRequest, deadline: Deadline
    ) -> rr.ListScheduleMatchingTimesResponse:
        ns = await self.namespaces.get(request.namespace)
        _check_id(request.schedule_id)
        state = await self._load(ns, request.schedule_id)
        start = request.start_time.ToNanoseconds()
        end = request.end_time.ToNanoseconds()
        if end < start:
            raise InvalidArgument("End time is before start time")
        resp = rr.ListScheduleMatchingTimesResponse()
        for n, t in enumerate(state.compiled().times(start, end, state.seed)):
            if n >= MAX_MATCHING_TIMES:
                break
            resp.start_time.add().FromNanoseconds(t.actual)
        return resp

    # ------------------------------------------------------------------ helpers

    async def _load(self, ns: Namespace, schedule_id: str) -> ScheduleState:
        record = await self.store.get_schedule(ns.id, schedule_id)
        if record is None:
            raise schedule_not_found(schedule_id)
        return ScheduleState.decode(record.state)

    def _checked_schedule(self, ns: Namespace, schedule: sched_pb.Schedule) -> sched_pb.Schedule:
        """The schedule as stored: canonical spec, a valid action; InvalidArgument else."""
        out = sched_pb.Schedule()
        out.CopyFrom(schedule)
        out.spec.CopyFrom(canonical_spec(schedule.spec))
        if not schedule.action.HasField("start_workflow"):
            raise InvalidArgument("Schedule action is required: start_workflow")
        info = schedule.action.start_workflow
        if not info.workflow_id:
            raise InvalidArgument("WorkflowId is not set on request.")
        if not info.workflow_type.name:
            raise InvalidArgument("WorkflowType is not set on request.")
        if not info.task_queue.name:
            raise InvalidArgument("TaskQueue is not set on request.")
        if info.cron_schedule:
            raise InvalidArgument("CronSchedule is not allowed in a schedule action")
        probe = rr.StartWorkflowExecutionRequest(
            namespace=ns.name,
            workflow_id=machine.workflow_id_for(info.workflow_id, 0),
            workflow_type=info.workflow_type,
            task_queue=info.task_queue,
            request_id=str(uuid.uuid4()),
        )
        copy_present_fields(info, probe, ("input", "retry_policy", "search_attributes", "memo"))
        self.check_start(ns, probe)
        st = out.state
        if st.limited_actions and st.remaining_actions < 0:
            raise InvalidArgument("RemainingActions must not be negative")
        return out


def schedule_not_found(schedule_id: str) -> NotFound:
    """Temporal's message names the schedule's internal workflow."""
    return NotFound(f"workflow not found for ID: temporal-sys-scheduler:{schedule_id}")


def _check_id(schedule_id: str) -> None:
    if not schedule_id:
        raise InvalidArgument("ScheduleId is not set on request.")
    if len(schedule_id) > MAX_ID_LENGTH:
        raise InvalidArgument("ScheduleId exceeds length limit.")


def _apply_patch(state: ScheduleState, patch: sched_pb.SchedulePatch, now: int) -> None:
    if patch.HasField("trigger_immediately"):
        trigger = patch.trigger_immediately
        at = trigger.scheduled_time.ToNanoseconds() if trigger.HasField("scheduled_time") else now
        machine.trigger(state, at, trigger.overlap_policy, str(uuid.uuid4()))
    for b in patch.backfill_request:
        machine.backfill(
            state,
            b.start_time.ToNanoseconds(),
            b.end_time.ToNanoseconds(),
            b.overlap_policy,
            f"backfill-{uuid.uuid4()}",
        )
    if patch.pause:
        state.schedule.state.paused = True
        state.schedule.state.notes = patch.pause
    if patch.unpause:
        state.schedule.state.paused = False
        state.schedule.state.notes = patch.unpause
        # The times that passed while paused are not caught up.
        state.last_processed = max(state.last_processed, now - now % SECOND)
