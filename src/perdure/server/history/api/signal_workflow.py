"""SignalWorkflowExecution: record the signal on the run and wake the workflow.

The engine (engine/requests.py) deduplicates by request id and refuses a closed run.
"""

from __future__ import annotations

from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import requests
from perdure.server.history.service import HistoryService
from perdure.server.namespaces import Namespace


async def signal_workflow(
    history: HistoryService, ns: Namespace, request: rr.SignalWorkflowExecutionRequest
) -> rr.SignalWorkflowExecutionResponse:
    attrs = history_pb2.WorkflowExecutionSignaledEventAttributes(
        signal_name=request.signal_name,
        identity=request.identity,
        request_id=request.request_id,
    )
    if request.HasField("input"):
        attrs.input.CopyFrom(request.input)
    if request.HasField("header"):
        attrs.header.CopyFrom(request.header)
    execution = request.workflow_execution
    await history.update(
        ns, execution.workflow_id, execution.run_id, lambda ex: requests.signal(ex, attrs)
    )
    return rr.SignalWorkflowExecutionResponse()
