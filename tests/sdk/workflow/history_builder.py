"""Hand-built histories for unit tests of the runtime (no server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

E = EventType
START = datetime(2024, 1, 1, tzinfo=UTC)


def payload(value: Any) -> Payload:
    """A json/plain payload, as the default converter writes it."""
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


class HistoryBuilder:
    """Appends events with consecutive ids, one second apart."""

    def __init__(
        self,
        workflow_type: str,
        *args: Any,
        run_id: str = "run-1",
        task_queue: str = "tq",
        flags: tuple[int, ...] = (1, 2, 3, 4),
    ) -> None:
        self.events: list[HistoryEvent] = []
        self.flags = flags
        self._first_task = True
        attrs = self.add(
            E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        ).workflow_execution_started_event_attributes
        attrs.workflow_type.name = workflow_type
        attrs.task_queue.name = task_queue
        attrs.original_execution_run_id = run_id
        attrs.first_execution_run_id = run_id
        attrs.workflow_id = "wf-1"
        attrs.attempt = 1
        attrs.workflow_task_timeout.FromTimedelta(timedelta(seconds=10))
        if args:
            attrs.input.CopyFrom(Payloads(payloads=[payload(a) for a in args]))

    @property
    def last_id(self) -> int:
        return self.events[-1].event_id if self.events else 0

    def add(self, event_type: int, **attributes: Any) -> HistoryEvent:
        event = HistoryEvent(event_id=self.last_id + 1, event_type=event_type)  # type: ignore[arg-type]
        event.event_time.FromDatetime(START + timedelta(seconds=self.last_id))
        name = E.Name(event_type).removeprefix("EVENT_TYPE_").lower() + "_event_attributes"  # type: ignore[arg-type]
        target = getattr(event, name)
        target.SetInParent()
        for key, value in attributes.items():
            field = getattr(target, key)
            if hasattr(field, "CopyFrom"):
                field.CopyFrom(value)
            else:
                setattr(target, key, value)
        self.events.append(event)
        return event

    def task_scheduled_started(self) -> int:
        """WorkflowTaskScheduled + WorkflowTaskStarted; returns the started id."""
        scheduled = self.add(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED).event_id
        return self.add(E.EVENT_TYPE_WORKFLOW_TASK_STARTED, scheduled_event_id=scheduled).event_id

    def task_completed(self) -> int:
        """WorkflowTaskCompleted for the last started task (flags on the first)."""
        started = self.last_id
        event = self.add(
            E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            scheduled_event_id=started - 1,
            started_event_id=started,
        )
        if self._first_task:
            event.workflow_task_completed_event_attributes.sdk_metadata.core_used_flags.extend(
                self.flags
            )
            self._first_task = False
        return event.event_id

    def full_task(self) -> int:
        """A whole workflow task; returns the completed event's id."""
        self.task_scheduled_started()
        return self.task_completed()

    def activity_scheduled(self, activity_id: str, activity_type: str) -> int:
        event = self.add(
            E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            activity_id=activity_id,
            workflow_task_completed_event_id=self.last_id,
        )
        event.activity_task_scheduled_event_attributes.activity_type.name = activity_type
        return event.event_id

    def activity_completed(self, scheduled: int, result: Any) -> int:
        started = self.add(E.EVENT_TYPE_ACTIVITY_TASK_STARTED, scheduled_event_id=scheduled)
        return self.add(
            E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            scheduled_event_id=scheduled,
            started_event_id=started.event_id,
            result=Payloads(payloads=[payload(result)]),
        ).event_id

    def timer_started(self, timer_id: str, seconds: float) -> int:
        event = self.add(E.EVENT_TYPE_TIMER_STARTED, timer_id=timer_id)
        event.timer_started_event_attributes.start_to_fire_timeout.FromTimedelta(
            timedelta(seconds=seconds)
        )
        return event.event_id

    def timer_fired(self, timer_id: str, started: int) -> int:
        return self.add(
            E.EVENT_TYPE_TIMER_FIRED, timer_id=timer_id, started_event_id=started
        ).event_id

    def signaled(self, name: str, *args: Any) -> int:
        return self.add(
            E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
            signal_name=name,
            input=Payloads(payloads=[payload(a) for a in args]),
        ).event_id

    def completed(self, result: Any) -> int:
        return self.add(
            E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
            result=Payloads(payloads=[payload(result)]),
            workflow_task_completed_event_id=self.last_id,
        ).event_id

    @property
    def last_started_id(self) -> int:
        return max(
            e.event_id for e in self.events if e.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED
        )
