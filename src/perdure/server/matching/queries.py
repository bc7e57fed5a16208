"""Queries in flight: in memory only, as in Temporal (a query is never persisted).

A query reaches the worker in one of two ways. If the workflow has a workflow task
scheduled and not yet started, the query rides that task (`queries` in the poll
response, answered in `query_results`). Otherwise it is a query task of its own on the
workflow's sticky queue (its worker has it cached) or its normal queue (with full
history), answered with RespondQueryTaskCompleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import query_pb2 as query_enums
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.api.query.v1 import message_pb2 as query_pb2

from perdure.server.errors import ServiceError


@dataclass(frozen=True, slots=True)
class QueryAnswer:
    answered: bool
    result: common_pb2.Payloads | None = None
    error_message: str = ""
    failure: failure_pb2.Failure | None = None
    refusal: ServiceError | None = None
    """The server's own refusal (no worker can answer the run now): the caller gets it."""


@dataclass(eq=False)
class QueryTask:
    query_id: str
    namespace_id: str
    workflow_id: str
    run_id: str
    query: query_pb2.WorkflowQuery
    answer: asyncio.Future[QueryAnswer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def waiting(self) -> bool:
        """The caller still wants the answer."""
        return not self.answer.done()

    def resolve(self, answer: QueryAnswer) -> None:
        if not self.answer.done():
            self.answer.set_result(answer)


class QueryRegistry:
    """Every query of this process that has not been answered yet."""

    def __init__(self) -> None:
        self._by_id: dict[str, QueryTask] = {}
        self._next_task: dict[tuple[str, str], list[QueryTask]] = {}
        self._riding: dict[tuple[str, str], list[QueryTask]] = {}
        self._after_task: dict[tuple[str, str], list[QueryTask]] = {}

    def add(self, task: QueryTask) -> None:
        self._by_id[task.query_id] = task

    def ride_next_task(self, task: QueryTask) -> None:
        """Deliver with the run's pending workflow task."""
        self.add(task)
        self._next_task.setdefault((task.namespace_id, task.run_id), []).append(task)

    def wait_for_task_end(self, task: QueryTask) -> None:
        """The run has a workflow task in flight: route the query once it ends (so that
        what the task is about to apply, such as buffered signals, is seen)."""
        self.add(task)
        self._after_task.setdefault((task.namespace_id, task.run_id), []).append(task)

    def has_waiting(self, namespace_id: str, run_id: str) -> bool:
        """Queries of the run wait for its workflow task in flight (or rode one)."""
        key = (namespace_id, run_id)
        return key in self._after_task or key in self._riding

    def take_waiting(self, namespace_id: str, run_id: str) -> list[QueryTask]:
        """Queries that waited for the run's task in flight to end, and, the task being
        over without a completion that answered them (it timed out, or the run closed),
        those that rode it: Temporal's history service retries those."""
        key = (namespace_id, run_id)
        tasks = [*self._riding.pop(key, ()), *self._after_task.pop(key, ())]
        return [t for t in tasks if t.waiting]

    def holds(self, namespace_id: str, run_id: str) -> bool:
        """Queries of the run wait for its pending or in-flight workflow task."""
        key = (namespace_id, run_id)
        return key in self._next_task or key in self._after_task

    def held(self, namespace_id: str, run_id: str) -> list[QueryTask]:
        key = (namespace_id, run_id)
        return [*self._next_task.get(key, ()), *self._after_task.get(key, ())]

    def held_runs(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys([*self._next_task, *self._after_task]))

    def take_held(self, namespace_id: str, run_id: str) -> list[QueryTask]:
        """Take the run's held queries to route them again (another server process may
        have started or finished the workflow task they wait for)."""
        key = (namespace_id, run_id)
        tasks = [*self._next_task.pop(key, ()), *self._after_task.pop(key, ())]
        return [t for t in tasks if t.waiting]

    def take_for_task(self, namespace_id: str, run_id: str) -> list[QueryTask]:
        """Queries a starting workflow task carries (called inside its transition)."""
        tasks = [t for t in self._next_task.pop((namespace_id, run_id), []) if t.waiting]
        if tasks:
            self._riding.setdefault((namespace_id, run_id), []).extend(tasks)
        return tasks

    def resolve(self, query_id: str, answer: QueryAnswer) -> bool:
        task = self._by_id.pop(query_id, None)
        if task is None:
            return False
        task.resolve(answer)
        return True

    def resolve_results(self, results: Mapping[str, query_pb2.WorkflowQueryResult]) -> None:
        """Answers to queries that rode a workflow task (its completion's query_results)."""
        for query_id, result in results.items():
            self.resolve(
                query_id,
                QueryAnswer(
                    result.result_type == query_enums.QUERY_RESULT_TYPE_ANSWERED,
                    result=result.answer if result.HasField("answer") else None,
                    error_message=result.error_message,
                    failure=result.failure if result.HasField("failure") else None,
                ),
            )

    def take_riding(self, namespace_id: str, run_id: str) -> list[QueryTask]:
        """The queries the run's ending workflow task carried (its completion answers
        them, or they are routed again: `route_again`)."""
        return [t for t in self._riding.pop((namespace_id, run_id), []) if t.waiting]

    def route_again(self, tasks: list[QueryTask]) -> None:
        """Queries whose workflow task failed: their answers from it are not taken, and
        they are routed again once the failure commits (to the next attempt), as
        Temporal's history service retries a query whose buffer a failed task cleared."""
        for task in tasks:
            if task.waiting:
                self.wait_for_task_end(task)

    def discard(self, task: QueryTask) -> None:
        self._by_id.pop(task.query_id, None)
        key = (task.namespace_id, task.run_id)
        for table in (self._next_task, self._riding, self._after_task):
            tasks = table.get(key)
            if tasks and task in tasks:
                tasks.remove(task)
                if not tasks:
                    del table[key]
