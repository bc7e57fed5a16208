"""One workflow run: history fed into the replay state, activations run on the instance.

``WorkflowRun`` is what the worker caches per run and what the Replayer drives over a
whole history. ``advance`` runs activations until workflow code waits on something the
history has not recorded yet; local activities it asked for run as asyncio tasks whose
outcomes come back through ``wait_local_activities``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.protocol.v1 import Message

import perdure.common
import perdure.converter
from perdure.exceptions import ApplicationError
from perdure.worker._workflow import _jobs as jobs
from perdure.worker._workflow._commands import info_from_start
from perdure.worker._workflow._guard import DEADLOCK_TIMEOUT
from perdure.worker._workflow._instance import InstanceDetails, WorkflowInstance
from perdure.worker._workflow._local_activity import (
    Execute,
    LocalActivityContext,
    LocalActivityOutcome,
    run_local_activity,
)
from perdure.worker._workflow._machines_activity import LocalActivityMachine
from perdure.worker._workflow._replay import ReplayState
from perdure.workflow import _Definition

UNHANDLED = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE
NON_DETERMINISTIC = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR


class TaskFailure(Exception):
    """The workflow task must fail (the server retries it); history stays as it is."""

    def __init__(self, error: BaseException, cause: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.cause = cause


@dataclass
class RunConfig:
    """What every run of a worker shares: definitions, converters, interceptors."""

    namespace: str
    task_queue: str
    definitions: Mapping[str, _Definition]
    dynamic: _Definition | None
    payload_converter: perdure.converter.PayloadConverter
    failure_converter: perdure.converter.FailureConverter
    interceptor_classes: Sequence[type] = ()
    failure_exception_types: Sequence[type[BaseException]] = ()
    execute_local_activity: Execute | None = None
    replay_only: bool = False
    """A Replayer's run: the history is all there is, so local activities that its last,
    never completed task asks for are not run (nor missed), as in temporalio's Replayer."""
    extern_functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    debug_mode: bool = False
    metric_meter: perdure.common.MetricMeter = perdure.common.MetricMeter.noop

    @staticmethod
    def collect(workflows: Iterable[type]) -> tuple[dict[str, _Definition], _Definition | None]:
        """Definitions by workflow type name, and the dynamic one (at most one)."""
        named: dict[str, _Definition] = {}
        dynamic: _Definition | None = None
        for cls in workflows:
            defn = _Definition.must_from_class(cls)
            if defn.name is None:
                if dynamic is not None:
                    raise ValueError("More than one dynamic workflow")
                dynamic = defn
            elif defn.name in named:
                raise ValueError(f"More than one workflow named {defn.name}")
            else:
                named[defn.name] = defn
        return named, dynamic


class WorkflowRun:
    """A workflow run's replay state and instance, advanced task by task."""

    def __init__(
        self, config: RunConfig, *, workflow_id: str, run_id: str, workflow_type: str
    ) -> None:
        self.config = config
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.workflow_type = workflow_type
        self.replay = ReplayState(
            namespace=config.namespace,
            workflow_id=workflow_id,
            run_id=run_id,
            workflow_type=workflow_type,
        )
        self.instance: WorkflowInstance | None = None
        self._local: dict[asyncio.Task[LocalActivityOutcome], LocalActivityMachine] = {}
        self.last_used = time.monotonic()

    # ------------------------------------------------------------------ history

    def feed(
        self,
        events: Sequence[HistoryEvent],
        *,
        previous_started_event_id: int,
        messages: Iterable[Message] = (),
    ) -> None:
        """New events (and update requests) of a workflow task."""
        self.replay.add_history(
            events, previous_started_event_id=previous_started_event_id, messages=messages
        )
        if not self.replay.has_unapplied_events:
            self.replay.replaying = False  # nothing left to replay: this is a new task
            self.replay.deliver_remaining_messages()

    # ------------------------------------------------------------------ activations

    def advance(self) -> None:
        """Run activations until workflow code waits; raises TaskFailure or Nondeterminism."""
        while True:
            activation = self.replay.next_activation()
            if activation is None:
                break
            if self.instance is None:
                self.instance = self._create_instance(activation)
            completion = self.instance.activate(activation)
            if completion.failure is not None:
                raise TaskFailure(completion.failure, UNHANDLED)
            for flag in completion.used_lang_flags:
                self.replay.use_lang_flag(flag)
            self.replay.handle_commands(completion.commands, completion.markers)
        self._start_local_activities()

    def _create_instance(self, activation: jobs.Activation) -> WorkflowInstance:
        start = next(
            (job for job in activation.jobs if isinstance(job, jobs.InitializeWorkflow)), None
        )
        if start is None:
            raise TaskFailure(
                RuntimeError(f"First activation of workflow {self.workflow_type} has no start"),
                UNHANDLED,
            )
        defn = self.config.definitions.get(self.workflow_type) or self.config.dynamic
        if defn is None:
            known = ", ".join(sorted(self.config.definitions))
            raise TaskFailure(
                ApplicationError(
                    f"Workflow class {self.workflow_type} is not registered on this worker, "
                    f"available workflows: {known}",
                    type="NotFoundError",
                ),
                UNHANDLED,
            )
        info = info_from_start(
            start.attributes,
            namespace=self.config.namespace,
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            workflow_start_time=start.start_time,
            task_start_time=datetime.fromtimestamp(activation.time_ns / 1e9, UTC),
        )
        return WorkflowInstance(
            InstanceDetails(
                defn=defn,
                info=info,
                randomness_seed=start.randomness_seed,
                payload_converter=self.config.payload_converter,
                failure_converter=self.config.failure_converter,
                start=start,
                interceptor_classes=self.config.interceptor_classes,
                worker_failure_exception_types=self.config.failure_exception_types,
                extern_functions=self.config.extern_functions,
                deadlock_timeout=0.0 if self.config.debug_mode else DEADLOCK_TIMEOUT,
                metric_meter=self.config.metric_meter,
            )
        )

    def query(self, query_id: str, query_type: str, args: Any, headers: Any) -> jobs.QueryResult:
        """Answer a query against the run's current state."""
        if self.instance is None:
            raise TaskFailure(RuntimeError("Query before the workflow started"), UNHANDLED)
        return self.instance.query(
            jobs.QueryWorkflow(query_id, query_type, list(args), dict(headers))
        )

    # ------------------------------------------------------------------ local activities

    def _start_local_activities(self) -> None:
        replay = self.replay
        for machine, wait in replay.local_activity_cancels:
            for task, owner in self._local.items():
                if owner is machine:
                    task.cancel()
                    if not wait:
                        self._local.pop(task)
                    break
        replay.local_activity_cancels.clear()
        if not replay.local_activity_requests:
            return
        if self.config.replay_only:
            replay.local_activity_requests.clear()
            return
        execute = self.config.execute_local_activity
        if execute is None:
            raise TaskFailure(
                RuntimeError("Local activities need an activity worker on this task queue"),
                UNHANDLED,
            )
        for machine in replay.local_activity_requests:
            context = LocalActivityContext(
                namespace=self.config.namespace,
                workflow_id=self.workflow_id,
                run_id=self.run_id,
                workflow_type=self.workflow_type,
                workflow_start_ns=machine.start_time_ns,
            )
            task = asyncio.ensure_future(run_local_activity(machine.request, context, execute))
            self._local[task] = machine
        replay.local_activity_requests.clear()

    @property
    def has_running_local_activities(self) -> bool:
        """Local activities of this task are still running."""
        return bool(self._local)

    async def wait_local_activities(self, timeout: float | None) -> bool:
        """Wait for local activity outcomes (feeding them in); False if the timeout passed."""
        if not self._local:
            return True
        done, _ = await asyncio.wait(
            list(self._local), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            return False
        for task in done:
            machine = self._local.pop(task)
            if task.cancelled():
                continue
            outcome = task.result()
            self.replay.resolve_local_activity(machine, outcome.job, outcome.marker)
        return True

    def cancel_local_activities(self) -> None:
        """Stop every running local activity (the run is being evicted)."""
        for task in self._local:
            task.cancel()
        self._local.clear()

    def evict(self) -> None:
        """Drop the run: stop local activities and unwind workflow code."""
        self.cancel_local_activities()
        if self.instance is not None:
            self.instance.evict()
