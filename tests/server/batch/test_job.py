"""A batch job's state without IO: operation types, progress, round trip."""

from __future__ import annotations

import pytest
from temporalio.api.batch.v1 import message_pb2 as batch_pb
from temporalio.api.enums.v1 import batch_operation_pb2 as enums
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.batch import job as jobs
from perdure.server.batch.job import BatchJob
from perdure.server.errors import InvalidArgument


def test_operation_types_are_the_workflow_ones_temporal_reports() -> None:
    req = rr.StartBatchOperationRequest(signal_operation=batch_pb.BatchOperationSignal(signal="s"))
    assert jobs.operation_type(req) == enums.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW
    req = rr.StartBatchOperationRequest(
        termination_operation=batch_pb.BatchOperationTermination(identity="me")
    )
    assert jobs.operation_type(req) == enums.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
    assert jobs.identity_of(req) == "me"
    with pytest.raises(InvalidArgument, match="must provide required parameters"):
        jobs.operation_type(rr.StartBatchOperationRequest())
    with pytest.raises(InvalidArgument, match="not supported"):
        jobs.operation_type(
            rr.StartBatchOperationRequest(
                update_workflow_options_operation=batch_pb.BatchOperationUpdateWorkflowExecutionOptions()
            )
        )
    with pytest.raises(InvalidArgument, match=r"provided reset type \(0\) is not supported"):
        jobs.operation_type(
            rr.StartBatchOperationRequest(reset_operation=batch_pb.BatchOperationReset())
        )


def test_reset_targets() -> None:
    from google.protobuf.empty_pb2 import Empty
    from temporalio.api.common.v1 import message_pb2 as common_pb

    def target(**options: object) -> str | int:
        op = batch_pb.BatchOperationReset(options=common_pb.ResetOptions(**options))  # type: ignore[arg-type]
        return jobs.reset_target(op)

    assert target(first_workflow_task=Empty()) == jobs.FIRST_WORKFLOW_TASK
    assert target(last_workflow_task=Empty()) == jobs.LAST_WORKFLOW_TASK
    assert target(workflow_task_id=7) == 7
    with pytest.raises(InvalidArgument, match="not supported"):
        target(build_id="b1")
    legacy = batch_pb.BatchOperationReset(reset_type=2)  # type: ignore[arg-type]
    assert jobs.reset_target(legacy) == jobs.LAST_WORKFLOW_TASK


def test_progress_and_round_trip() -> None:
    req = rr.StartBatchOperationRequest(job_id="j", reason="r", visibility_query="x = 'y'")
    job = BatchJob("ns", "j", req, jobs.TERMINATE, start_time=5, owner="me", lease_until=9)
    assert job.total == 0 and job.state == jobs.RUNNING
    job.targets = [("a", "1"), ("b", "2"), ("c", "3")]
    job.advance(True)
    job.advance(False, "b: gone")
    assert (job.cursor, job.completed, job.failed, job.total) == (2, 1, 1, 3)
    again = BatchJob.decode(job.encode())
    assert again == job
    job.finish(20)
    assert (job.state, job.close_time, job.owner) == (jobs.COMPLETED, 20, "")
