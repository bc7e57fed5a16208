"""DescribeWorkflowExecution: a consistent view of a run's mutable state.

Search attributes come back as stored; the frontend annotates them with their types.
"""

from __future__ import annotations

from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import describe
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace


async def describe_workflow(
    history: HistoryService, ns: Namespace, request: rr.DescribeWorkflowExecutionRequest
) -> rr.DescribeWorkflowExecutionResponse:
    execution = request.execution
    return await history.read(ns, execution.workflow_id, execution.run_id, describe.describe)
