"""The `link` Temporal puts in start and update answers: where the caller's request
landed in a workflow's history (Nexus callers and the UI follow these)."""

from __future__ import annotations

from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.enums.v1 import event_type_pb2 as et


def started_event(namespace: str, workflow_id: str, run_id: str) -> common_pb2.Link:
    """A start's answer: the run's WorkflowExecutionStarted event (also when the start
    resolved to a run that already existed)."""
    link = common_pb2.Link()
    event = link.workflow_event
    event.namespace, event.workflow_id, event.run_id = namespace, workflow_id, run_id
    event.event_ref.event_id = 1
    event.event_ref.event_type = et.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    return link


def update_accepted(namespace: str, workflow_id: str, run_id: str) -> common_pb2.Link:
    """An accepted update's answer: its acceptance event, named by kind."""
    link = common_pb2.Link()
    event = link.workflow_event
    event.namespace, event.workflow_id, event.run_id = namespace, workflow_id, run_id
    event.request_id_ref.event_type = et.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return link


def update_rejected(namespace: str, workflow_id: str, run_id: str) -> common_pb2.Link:
    """A rejected update's answer: the workflow, with the reason (no event was written)."""
    link = common_pb2.Link()
    workflow = link.workflow
    workflow.namespace, workflow.workflow_id, workflow.run_id = namespace, workflow_id, run_id
    workflow.reason = "Update rejected"
    return link
