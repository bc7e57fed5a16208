"""The workers a namespace has, as their heartbeats describe them (ListWorkers,
DescribeWorker, CountWorkers; `temporal worker list / describe`).

SDK workers send a `WorkerHeartbeat` every so often (RecordWorkerHeartbeat) and a last
one when they shut down (ShutdownWorker, status SHUTTING_DOWN). The latest of each
worker instance is kept in memory for `WORKER_TTL_SECONDS` after it arrived: like
Temporal's worker registry, it is a view of live workers, not durable state. (With
several server processes, each knows the workers that heartbeat to it.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from temporalio.api.enums.v1 import common_pb2 as common_enums
from temporalio.api.worker.v1 import message_pb2 as worker_pb2

from perdure.server.errors import InvalidArgument, NotFound

WORKER_TTL_SECONDS = 300.0
"""A worker silent this long is forgotten."""

_FIELDS: dict[str, Callable[[worker_pb2.WorkerHeartbeat], str]] = {
    "WorkerInstanceKey": lambda h: h.worker_instance_key,
    "WorkerIdentity": lambda h: h.worker_identity,
    "TaskQueue": lambda h: h.task_queue,
    "HostName": lambda h: h.host_info.host_name,
    "SdkName": lambda h: h.sdk_name,
    "SdkVersion": lambda h: h.sdk_version,
    "BuildId": lambda h: h.deployment_version.build_id,
    "DeploymentName": lambda h: h.deployment_version.deployment_name,
    "Status": lambda h: common_enums.WorkerStatus.Name(h.status).removeprefix("WORKER_STATUS_"),
}
_CONDITION = re.compile(r"\s*(\w+)\s*=\s*(?:'([^']*)'|\"([^\"]*)\")\s*")


@dataclass
class _Entry:
    heartbeat: worker_pb2.WorkerHeartbeat
    received: float


Filter = Callable[[worker_pb2.WorkerHeartbeat], bool]


def parse_query(query: str) -> Filter:
    """`Field = 'value'` conditions joined by AND, over the fields in `_FIELDS`."""
    conditions: list[tuple[Callable[[worker_pb2.WorkerHeartbeat], str], str]] = []
    if query.strip():
        for part in re.split(r"\s+AND\s+", query.strip(), flags=re.IGNORECASE):
            match = _CONDITION.fullmatch(part)
            if match is None or match.group(1) not in _FIELDS:
                raise InvalidArgument(
                    f"invalid worker query: {query!r} (supported: Field = 'value' [AND ...] "
                    f"over {', '.join(_FIELDS)})"
                )
            value = match.group(2) if match.group(2) is not None else match.group(3)
            if match.group(1) == "Status":
                value = value.upper().removeprefix("WORKER_STATUS_")
            conditions.append((_FIELDS[match.group(1)], value))

    def matches(heartbeat: worker_pb2.WorkerHeartbeat) -> bool:
        return all(
            get(heartbeat).lower() == value.lower()
            if get is _FIELDS["Status"]
            else get(heartbeat) == value
            for get, value in conditions
        )

    return matches


class WorkerRegistry:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._workers: dict[tuple[str, str], _Entry] = {}

    def record(self, namespace_id: str, heartbeats: list[worker_pb2.WorkerHeartbeat]) -> None:
        now = self._clock()
        for heartbeat in heartbeats:
            if heartbeat.worker_instance_key:
                key = (namespace_id, heartbeat.worker_instance_key)
                self._workers[key] = _Entry(heartbeat, now)
        self._expire(now)

    def _expire(self, now: float) -> None:
        for key in [k for k, e in self._workers.items() if now - e.received > WORKER_TTL_SECONDS]:
            del self._workers[key]

    def list(self, namespace_id: str, query: str = "") -> list[worker_pb2.WorkerHeartbeat]:
        """The namespace's workers matching `query`, most recently started first."""
        self._expire(self._clock())
        matches = parse_query(query)
        found = [
            e.heartbeat
            for (ns, _), e in self._workers.items()
            if ns == namespace_id and matches(e.heartbeat)
        ]
        return sorted(found, key=lambda h: h.start_time.ToNanoseconds(), reverse=True)

    def get(self, namespace_id: str, worker_instance_key: str) -> worker_pb2.WorkerHeartbeat:
        self._expire(self._clock())
        entry = self._workers.get((namespace_id, worker_instance_key))
        if entry is None:
            raise NotFound(f"Worker {worker_instance_key} not found")
        return entry.heartbeat
