"""Schedules: what to start, when, and with which policies (mirrors temporalio's types)."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, overload

from google.protobuf import duration_pb2, timestamp_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import schedule_pb2 as enums_schedule_pb
from temporalio.api.schedule.v1 import message_pb2 as schedule_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb

from perdure.common import (
    HeaderCodecBehavior,
    Priority,
    RetryPolicy,
    SearchAttributes,
    TypedSearchAttributes,
    _arg_or_args,
    _arg_unset,
)
from perdure.converter import (
    WorkflowSerializationContext,
    decode_search_attributes,
    decode_typed_search_attributes,
    encode_search_attributes,
)

from . import _types as types
from ._executions import _encode_user_metadata
from ._types import MultiParamSpec, ParamType, ReturnType, SelfType

if TYPE_CHECKING:
    from typing import Concatenate

    from perdure.client._client import Client

_Overlap = enums_schedule_pb.ScheduleOverlapPolicy
_NO_ATTRIBUTES: SearchAttributes = MappingProxyType({})


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _duration(value: timedelta | None) -> duration_pb2.Duration | None:
    if not value:
        return None
    duration = duration_pb2.Duration()
    duration.FromTimedelta(value)
    return duration


def _utc(stamp: timestamp_pb2.Timestamp) -> datetime:
    return stamp.ToDatetime().replace(tzinfo=UTC)


@dataclass(frozen=True)
class ScheduleRange:
    """An inclusive range of calendar values, with a step."""

    start: int
    """First value."""
    end: int = 0
    """Last value (defaults to ``start``)."""
    step: int = 0
    """Step between values (defaults to 1)."""

    def __post_init__(self) -> None:
        """Default ``end`` to ``start`` and ``step`` to 1."""
        if self.end < self.start:
            object.__setattr__(self, "end", self.start)
        if self.step == 0:
            object.__setattr__(self, "step", 1)

    @staticmethod
    def _from_protos(ranges: Sequence[schedule_pb.Range]) -> Sequence[ScheduleRange]:
        return tuple(ScheduleRange(r.start, r.end, r.step) for r in ranges)

    @staticmethod
    def _to_protos(ranges: Sequence[ScheduleRange]) -> list[schedule_pb.Range]:
        return [schedule_pb.Range(start=r.start, end=r.end, step=r.step) for r in ranges]


@dataclass
class ScheduleCalendarSpec:
    """Calendar times: a time matches when every field matches one of its ranges."""

    second: Sequence[ScheduleRange] = (ScheduleRange(0),)
    """Seconds (0-59); default 0."""
    minute: Sequence[ScheduleRange] = (ScheduleRange(0),)
    """Minutes (0-59); default 0."""
    hour: Sequence[ScheduleRange] = (ScheduleRange(0),)
    """Hours (0-23); default 0."""
    day_of_month: Sequence[ScheduleRange] = (ScheduleRange(1, 31),)
    """Days of the month (1-31); default all."""
    month: Sequence[ScheduleRange] = (ScheduleRange(1, 12),)
    """Months (1-12); default all."""
    year: Sequence[ScheduleRange] = ()
    """Years; empty matches all."""
    day_of_week: Sequence[ScheduleRange] = (ScheduleRange(0, 6),)
    """Days of the week (0-6, Sunday is 0); default all."""
    comment: str | None = None
    """A description."""

    @staticmethod
    def _from_proto(spec: schedule_pb.StructuredCalendarSpec) -> ScheduleCalendarSpec:
        return ScheduleCalendarSpec(
            second=ScheduleRange._from_protos(spec.second),
            minute=ScheduleRange._from_protos(spec.minute),
            hour=ScheduleRange._from_protos(spec.hour),
            day_of_month=ScheduleRange._from_protos(spec.day_of_month),
            month=ScheduleRange._from_protos(spec.month),
            year=ScheduleRange._from_protos(spec.year),
            day_of_week=ScheduleRange._from_protos(spec.day_of_week),
            comment=spec.comment or None,
        )

    def _to_proto(self) -> schedule_pb.StructuredCalendarSpec:
        return schedule_pb.StructuredCalendarSpec(
            second=ScheduleRange._to_protos(self.second),
            minute=ScheduleRange._to_protos(self.minute),
            hour=ScheduleRange._to_protos(self.hour),
            day_of_month=ScheduleRange._to_protos(self.day_of_month),
            month=ScheduleRange._to_protos(self.month),
            year=ScheduleRange._to_protos(self.year),
            day_of_week=ScheduleRange._to_protos(self.day_of_week),
            comment=self.comment or "",
        )


@dataclass
class ScheduleIntervalSpec:
    """Every ``every`` since the epoch, shifted by ``offset``."""

    every: timedelta
    """The period."""
    offset: timedelta | None = None
    """A fixed shift of each time."""

    @staticmethod
    def _from_proto(spec: schedule_pb.IntervalSpec) -> ScheduleIntervalSpec:
        return ScheduleIntervalSpec(
            every=spec.interval.ToTimedelta(),
            offset=spec.phase.ToTimedelta() if spec.HasField("phase") else None,
        )

    def _to_proto(self) -> schedule_pb.IntervalSpec:
        return schedule_pb.IntervalSpec(
            interval=_duration(self.every) or duration_pb2.Duration(),
            phase=_duration(self.offset),
        )


@dataclass
class ScheduleSpec:
    """When actions happen: calendars, intervals and cron expressions, minus ``skip``."""

    calendars: Sequence[ScheduleCalendarSpec] = dataclasses.field(default_factory=list)
    """Calendar times."""
    intervals: Sequence[ScheduleIntervalSpec] = dataclasses.field(default_factory=list)
    """Intervals."""
    cron_expressions: Sequence[str] = dataclasses.field(default_factory=list)
    """Cron expressions (translated to calendars by the server)."""
    skip: Sequence[ScheduleCalendarSpec] = dataclasses.field(default_factory=list)
    """Calendar times to leave out."""
    start_at: datetime | None = None
    """No action before this."""
    end_at: datetime | None = None
    """No action after this."""
    jitter: timedelta | None = None
    """Each action is delayed by a random amount up to this."""
    time_zone_name: str | None = None
    """IANA time zone of the calendars, e.g. ``Europe/Paris``."""

    @staticmethod
    def _from_proto(spec: schedule_pb.ScheduleSpec) -> ScheduleSpec:
        return ScheduleSpec(
            calendars=[ScheduleCalendarSpec._from_proto(c) for c in spec.structured_calendar],
            intervals=[ScheduleIntervalSpec._from_proto(i) for i in spec.interval],
            cron_expressions=list(spec.cron_string),
            skip=[ScheduleCalendarSpec._from_proto(c) for c in spec.exclude_structured_calendar],
            start_at=_utc(spec.start_time) if spec.HasField("start_time") else None,
            end_at=_utc(spec.end_time) if spec.HasField("end_time") else None,
            jitter=spec.jitter.ToTimedelta() if spec.HasField("jitter") else None,
            time_zone_name=spec.timezone_name or None,
        )

    def _to_proto(self) -> schedule_pb.ScheduleSpec:
        return schedule_pb.ScheduleSpec(
            structured_calendar=[c._to_proto() for c in self.calendars],
            cron_string=self.cron_expressions,
            interval=[i._to_proto() for i in self.intervals],
            exclude_structured_calendar=[c._to_proto() for c in self.skip],
            start_time=_timestamp(self.start_at),
            end_time=_timestamp(self.end_at),
            jitter=_duration(self.jitter),
            timezone_name=self.time_zone_name or "",
        )


class ScheduleAction(ABC):
    """What a schedule does at each time (see :py:class:`ScheduleActionStartWorkflow`)."""

    @staticmethod
    def _from_proto(action: schedule_pb.ScheduleAction) -> ScheduleAction:
        if action.HasField("start_workflow"):
            return ScheduleActionStartWorkflow("<unset>", raw_info=action.start_workflow)
        raise ValueError(f"Unsupported action: {action.WhichOneof('action')}")

    @abstractmethod
    async def _to_proto(self, client: Client) -> schedule_pb.ScheduleAction:
        """The Temporal API form."""


class ScheduleActionStartWorkflow(ScheduleAction):
    """Start a workflow (the options are those of ``Client.start_workflow``).

    When read back from the server, ``args``, ``memo`` and ``headers`` hold payloads.
    """

    workflow: str
    args: Sequence[Any]
    id: str
    task_queue: str
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    retry_policy: RetryPolicy | None
    memo: Mapping[str, Any] | None
    typed_search_attributes: TypedSearchAttributes
    untyped_search_attributes: SearchAttributes
    """Legacy attributes read from the server, kept so updates preserve them."""
    static_summary: str | common_pb.Payload | None
    static_details: str | common_pb.Payload | None
    priority: Priority
    headers: Mapping[str, common_pb.Payload] | None

    @overload
    def __init__(
        self,
        workflow: types.MethodAsyncNoParam[SelfType, ReturnType],
        *,
        id: str,
        task_queue: str,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty,
        static_summary: str | None = None,
        static_details: str | None = None,
        priority: Priority = Priority.default,
    ) -> None: ...

    @overload
    def __init__(
        self,
        workflow: types.MethodAsyncSingleParam[SelfType, ParamType, ReturnType],
        arg: ParamType,
        *,
        id: str,
        task_queue: str,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty,
        static_summary: str | None = None,
        static_details: str | None = None,
        priority: Priority = Priority.default,
    ) -> None: ...

    @overload
    def __init__(
        self,
        workflow: Callable[Concatenate[SelfType, MultiParamSpec], Awaitable[ReturnType]],
        *,
        args: Sequence[Any],
        id: str,
        task_queue: str,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty,
        static_summary: str | None = None,
        static_details: str | None = None,
        priority: Priority = Priority.default,
    ) -> None: ...

    @overload
    def __init__(
        self,
        workflow: str,
        arg: Any = _arg_unset,
        *,
        args: Sequence[Any] = (),
        id: str,
        task_queue: str,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty,
        static_summary: str | None = None,
        static_details: str | None = None,
        priority: Priority = Priority.default,
    ) -> None: ...

    @overload
    def __init__(
        self, workflow: str, *, raw_info: workflow_pb.NewWorkflowExecutionInfo
    ) -> None: ...

    def __init__(
        self,
        workflow: str | Callable[..., Awaitable[Any]],
        arg: Any = _arg_unset,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        task_queue: str | None = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty,
        untyped_search_attributes: SearchAttributes = _NO_ATTRIBUTES,
        static_summary: str | None = None,
        static_details: str | None = None,
        headers: Mapping[str, common_pb.Payload] | None = None,
        raw_info: workflow_pb.NewWorkflowExecutionInfo | None = None,
        priority: Priority = Priority.default,
    ) -> None:
        """Describe the workflow to start, or wrap ``raw_info`` read from the server."""
        if raw_info is not None:
            self._from_raw = True
            self._read_raw(raw_info)
            return
        self._from_raw = False
        if not id:
            raise ValueError("ID required")
        if not task_queue:
            raise ValueError("Task queue required")
        name, _ = types.workflow_name_and_result_type(workflow)
        self.workflow = name
        self.args = _arg_or_args(arg, args)
        self.id = id
        self.task_queue = task_queue
        self.execution_timeout = execution_timeout
        self.run_timeout = run_timeout
        self.task_timeout = task_timeout
        self.retry_policy = retry_policy
        self.memo = memo
        self.typed_search_attributes = typed_search_attributes
        self.untyped_search_attributes = untyped_search_attributes
        self.headers = headers
        self.static_summary = static_summary
        self.static_details = static_details
        self.priority = priority

    def _read_raw(self, info: workflow_pb.NewWorkflowExecutionInfo) -> None:
        def duration(field: Any) -> timedelta | None:
            return getattr(info, field).ToTimedelta() if info.HasField(field) else None  # type: ignore[no-any-return]

        self.workflow = info.workflow_type.name
        self.args = list(info.input.payloads)
        self.id = info.workflow_id
        self.task_queue = info.task_queue.name
        self.execution_timeout = duration("workflow_execution_timeout")
        self.run_timeout = duration("workflow_run_timeout")
        self.task_timeout = duration("workflow_task_timeout")
        self.retry_policy = (
            RetryPolicy.from_proto(info.retry_policy) if info.HasField("retry_policy") else None
        )
        self.memo = dict(info.memo.fields) or None
        self.typed_search_attributes = decode_typed_search_attributes(info.search_attributes)
        typed_names = {pair.key.name for pair in self.typed_search_attributes}
        self.untyped_search_attributes = {
            name: values
            for name, values in decode_search_attributes(info.search_attributes).items()
            if name not in typed_names
        }
        self.headers = dict(info.header.fields) or None
        metadata = info.user_metadata if info.HasField("user_metadata") else None
        has = metadata is not None
        self.static_summary = metadata.summary if has and metadata.HasField("summary") else None  # type: ignore[union-attr]
        self.static_details = metadata.details if has and metadata.HasField("details") else None  # type: ignore[union-attr]
        self.priority = (
            Priority._from_proto(info.priority) if info.HasField("priority") else Priority.default
        )

    def __eq__(self, other: object) -> bool:
        """Equal when every option is equal."""
        if not isinstance(other, ScheduleActionStartWorkflow):
            return NotImplemented
        mine = {k: v for k, v in vars(self).items() if k != "_from_raw"}
        return mine == {k: v for k, v in vars(other).items() if k != "_from_raw"}

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        """The workflow, id and task queue."""
        return (
            f"ScheduleActionStartWorkflow(workflow={self.workflow!r}, id={self.id!r}, "
            f"task_queue={self.task_queue!r})"
        )

    async def _to_proto(self, client: Client) -> schedule_pb.ScheduleAction:
        converter = client.data_converter.with_context(
            WorkflowSerializationContext(namespace=client.namespace, workflow_id=self.id)
        )
        inputs = [
            a if isinstance(a, common_pb.Payload) else (await converter.encode([a]))[0]
            for a in self.args
        ]
        retry_policy = None
        if self.retry_policy:
            retry_policy = common_pb.RetryPolicy()
            self.retry_policy.apply_to_proto(retry_policy)
        info = workflow_pb.NewWorkflowExecutionInfo(
            workflow_id=self.id,
            workflow_type=common_pb.WorkflowType(name=self.workflow),
            task_queue=taskqueue_pb.TaskQueue(name=self.task_queue),
            input=common_pb.Payloads(payloads=inputs) if inputs else None,
            workflow_execution_timeout=_duration(self.execution_timeout),
            workflow_run_timeout=_duration(self.run_timeout),
            workflow_task_timeout=_duration(self.task_timeout),
            retry_policy=retry_policy,
            memo=await converter._encode_memo(self.memo) if self.memo else None,
            user_metadata=await _encode_user_metadata(
                converter, self.static_summary, self.static_details
            ),
            priority=self.priority._to_proto() if self.priority else None,
        )
        untyped = {
            name: values
            for name, values in self.untyped_search_attributes.items()
            if not any(pair.key.name == name for pair in self.typed_search_attributes)
        }
        if untyped:
            encode_search_attributes(untyped, info.search_attributes)
        if self.typed_search_attributes:
            encode_search_attributes(self.typed_search_attributes, info.search_attributes)
        if self.headers:
            codec = client.data_converter.payload_codec
            encode = (
                client.config(active_config=True)["header_codec_behavior"]
                == HeaderCodecBehavior.CODEC
                and not self._from_raw
            )
            for key, payload in self.headers.items():
                if encode and codec is not None:
                    payload = (await codec.encode([payload]))[0]
                info.header.fields[key].CopyFrom(payload)
        return schedule_pb.ScheduleAction(start_workflow=info)


class ScheduleOverlapPolicy(IntEnum):
    """What happens when an action is due while the previous one still runs."""

    SKIP = _Overlap.SCHEDULE_OVERLAP_POLICY_SKIP
    """Do nothing; consider the next time after the running one closes."""
    BUFFER_ONE = _Overlap.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE
    """Start once more when the running one closes (one start buffered at most)."""
    BUFFER_ALL = _Overlap.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL
    """Buffer every start, run them one after another."""
    CANCEL_OTHER = _Overlap.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER
    """Cancel the running one, start when it has closed."""
    TERMINATE_OTHER = _Overlap.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER
    """Terminate the running one and start at once."""
    ALLOW_ALL = _Overlap.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL
    """Run any number concurrently."""


@dataclass
class ScheduleBackfill:
    """Take the actions of a past period as if that time passed now."""

    start_at: datetime
    """Start of the period (exclusive)."""
    end_at: datetime
    """End of the period (inclusive)."""
    overlap: ScheduleOverlapPolicy | None = None
    """Overlap policy for these actions, instead of the schedule's."""

    def _to_proto(self) -> schedule_pb.BackfillRequest:
        return schedule_pb.BackfillRequest(
            start_time=_timestamp(self.start_at),
            end_time=_timestamp(self.end_at),
            overlap_policy=int(self.overlap or 0),  # type: ignore[arg-type]
        )


@dataclass
class SchedulePolicy:
    """How a schedule behaves."""

    overlap: ScheduleOverlapPolicy = dataclasses.field(
        default_factory=lambda: ScheduleOverlapPolicy.SKIP
    )
    """What to do when an action is due while another runs."""
    catchup_window: timedelta | None = None
    """How far back missed actions are caught up after an outage (None: server default)."""
    pause_on_failure: bool = False
    """Pause the schedule when an action fails (after its retries)."""

    @staticmethod
    def _from_proto(policies: schedule_pb.SchedulePolicies) -> SchedulePolicy:
        return SchedulePolicy(
            overlap=ScheduleOverlapPolicy(int(policies.overlap_policy)),
            catchup_window=(
                policies.catchup_window.ToTimedelta()
                if policies.HasField("catchup_window")
                else None
            ),
            pause_on_failure=policies.pause_on_failure,
        )

    def _to_proto(self) -> schedule_pb.SchedulePolicies:
        policies = schedule_pb.SchedulePolicies(
            overlap_policy=int(self.overlap),  # type: ignore[arg-type]
            pause_on_failure=self.pause_on_failure,
        )
        if self.catchup_window is not None:
            policies.catchup_window.FromTimedelta(self.catchup_window)
        return policies


@dataclass
class ScheduleState:
    """A schedule's mutable state."""

    note: str | None = None
    """A human-readable note (the server may replace it, e.g. on pause-on-failure)."""
    paused: bool = False
    """Whether actions are paused."""
    limited_actions: bool = False
    """Whether :py:attr:`remaining_actions` counts down (must match it on create)."""
    remaining_actions: int = 0
    """Actions left when limited."""

    @staticmethod
    def _from_proto(state: schedule_pb.ScheduleState) -> ScheduleState:
        return ScheduleState(
            note=state.notes or None,
            paused=state.paused,
            limited_actions=state.limited_actions,
            remaining_actions=state.remaining_actions,
        )

    def _to_proto(self) -> schedule_pb.ScheduleState:
        return schedule_pb.ScheduleState(
            notes=self.note or "",
            paused=self.paused,
            limited_actions=self.limited_actions,
            remaining_actions=self.remaining_actions,
        )


@dataclass
class Schedule:
    """A schedule: action, spec, policy and state."""

    action: ScheduleAction
    """What to do."""
    spec: ScheduleSpec
    """When."""
    policy: SchedulePolicy = dataclasses.field(default_factory=SchedulePolicy)
    """How."""
    state: ScheduleState = dataclasses.field(default_factory=ScheduleState)
    """Paused or not, and remaining actions."""

    @staticmethod
    def _from_proto(schedule: schedule_pb.Schedule) -> Schedule:
        return Schedule(
            action=ScheduleAction._from_proto(schedule.action),
            spec=ScheduleSpec._from_proto(schedule.spec),
            policy=SchedulePolicy._from_proto(schedule.policies),
            state=ScheduleState._from_proto(schedule.state),
        )

    async def _to_proto(self, client: Client) -> schedule_pb.Schedule:
        return schedule_pb.Schedule(
            spec=self.spec._to_proto(),
            action=await self.action._to_proto(client),
            policies=self.policy._to_proto(),
            state=self.state._to_proto(),
        )
