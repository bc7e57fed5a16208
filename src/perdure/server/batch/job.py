"""A batch operation's state, without IO: what it does, to which executions, how far.

The targets are fixed when the job starts (the visibility query is read to the end
first), because acting on executions moves them in the listing (a terminated run sorts
among closed ones) and paging a listing that changes would act on some twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgpack
from temporalio.api.batch.v1 import message_pb2 as batch_pb
from temporalio.api.enums.v1 import batch_operation_pb2 as batch_enums
from temporalio.api.enums.v1 import reset_pb2 as reset_enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.errors import InvalidArgument

RUNNING = batch_enums.BATCH_OPERATION_STATE_RUNNING
COMPLETED = batch_enums.BATCH_OPERATION_STATE_COMPLETED
FAILED = batch_enums.BATCH_OPERATION_STATE_FAILED

# The *_WORKFLOW names, which the real server reports (the short ones are older aliases).
TERMINATE = batch_enums.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
CANCEL = batch_enums.BATCH_OPERATION_TYPE_CANCEL_WORKFLOW
SIGNAL = batch_enums.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW
DELETE = batch_enums.BATCH_OPERATION_TYPE_DELETE_WORKFLOW
RESET = batch_enums.BATCH_OPERATION_TYPE_RESET_WORKFLOW

DEFAULT_RPS = 50.0
"""Operations per second when the request names none (Temporal's batcher default)."""

REQUIRED = (
    "must provide required parameters: BatchType,Reason,Namespace, AND one of"
    " (Query OR Executions OR TargetExecutions)"
)


def operation_type(request: rr.StartBatchOperationRequest) -> int:
    """Which operation the request asks for; InvalidArgument (Temporal's message) if none
    this server runs."""
    which = request.WhichOneof("operation")
    kinds = {
        "termination_operation": TERMINATE,
        "cancellation_operation": CANCEL,
        "signal_operation": SIGNAL,
        "deletion_operation": DELETE,
        "reset_operation": RESET,
    }
    if which is None:
        raise InvalidArgument(REQUIRED)
    if which not in kinds:
        raise InvalidArgument(f"The operation type {which} is not supported by this server")
    if which == "reset_operation":
        reset_target(request.reset_operation)
    return kinds[which]


FIRST_WORKFLOW_TASK = "first"
LAST_WORKFLOW_TASK = "last"


def reset_target(op: batch_pb.BatchOperationReset) -> str | int:
    """Where a batch reset goes: the first or last workflow task, or an event id.
    InvalidArgument for what this server cannot resolve (a build id)."""
    if op.HasField("options"):
        target = op.options.WhichOneof("target")
        if target == "first_workflow_task":
            return FIRST_WORKFLOW_TASK
        if target == "last_workflow_task":
            return LAST_WORKFLOW_TASK
        if target == "workflow_task_id":
            return op.options.workflow_task_id
        raise InvalidArgument(f"provided reset target ({target}) is not supported.")
    if op.reset_type == reset_enums.RESET_TYPE_FIRST_WORKFLOW_TASK:
        return FIRST_WORKFLOW_TASK
    if op.reset_type == reset_enums.RESET_TYPE_LAST_WORKFLOW_TASK:
        return LAST_WORKFLOW_TASK
    raise InvalidArgument(f"provided reset type ({op.reset_type}) is not supported.")


def identity_of(request: rr.StartBatchOperationRequest) -> str:
    which = request.WhichOneof("operation")
    if which is None:
        return ""
    op = getattr(request, which)
    return str(getattr(op, "identity", ""))


@dataclass(slots=True)
class BatchJob:
    namespace_id: str
    job_id: str
    request: rr.StartBatchOperationRequest
    operation: int
    start_time: int
    state: int = RUNNING
    close_time: int = 0
    targets: list[tuple[str, str]] | None = None
    """(workflow id, run id) to act on; None until the query has been read."""
    cursor: int = 0
    """Targets before this index are done (each counted once, as completed or failed)."""
    completed: int = 0
    failed: int = 0
    owner: str = ""
    """The server process running the job, and until when its claim holds."""
    lease_until: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.targets) if self.targets is not None else 0

    def advance(self, ok: bool, error: str = "") -> None:
        self.cursor += 1
        if ok:
            self.completed += 1
        else:
            self.failed += 1
            if error and len(self.errors) < 10:
                self.errors.append(error)

    def finish(self, now: int, state: int = COMPLETED) -> None:
        self.state = state
        self.close_time = now
        self.owner = ""
        self.lease_until = 0

    def encode(self) -> bytes:
        out: bytes = msgpack.packb(
            {
                "ns": self.namespace_id,
                "job": self.job_id,
                "request": self.request.SerializeToString(),
                "op": self.operation,
                "start": self.start_time,
                "state": self.state,
                "close": self.close_time,
                "targets": None if self.targets is None else [list(t) for t in self.targets],
                "cursor": self.cursor,
                "done": [self.completed, self.failed],
                "owner": [self.owner, self.lease_until],
                "errors": self.errors,
            }
        )
        return out

    @classmethod
    def decode(cls, data: bytes) -> BatchJob:
        d = msgpack.unpackb(data)
        targets = d["targets"]
        return cls(
            namespace_id=d["ns"],
            job_id=d["job"],
            request=rr.StartBatchOperationRequest.FromString(d["request"]),
            operation=d["op"],
            start_time=d["start"],
            state=d["state"],
            close_time=d["close"],
            targets=None if targets is None else [(t[0], t[1]) for t in targets],
            cursor=d["cursor"],
            completed=d["done"][0],
            failed=d["done"][1],
            owner=d["owner"][0],
            lease_until=d["owner"][1],
            errors=list(d["errors"]),
        )
