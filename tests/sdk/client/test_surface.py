"""perdure.client exposes temporalio.client's names, except the features listed here."""

from __future__ import annotations

import inspect

import temporalio.client as tc

import perdure.client as pc

# Not provided yet: standalone activities and Nexus operations (experimental in 1.35),
# build-id based versioning (deprecated), the Cloud operations client, payload size
# warnings and external payload storage.
NOT_YET = {
    *(n for n in dir(tc) if n.startswith(("Activity", "Nexus", "BuildId", "StorageDriver"))),
    *(n for n in dir(tc) if "Activit" in n and n.endswith("Input") and "Async" not in n),
    *(n for n in dir(tc) if "Nexus" in n or "BuildId" in n),
    "Callback",
    "CloudOperationsClient",
    "PayloadLimitsConfig",
    "PendingActivityState",
    "GetWorkerBuildIdCompatibilityInput",
    "GetWorkerTaskReachabilityInput",
    "UpdateWorkerBuildIdCompatibilityInput",
    "TaskReachabilityType",
    "WorkerBuildIdVersionSets",
    "WorkerTaskReachability",
}
NOT_YET -= {"ActivityCancellationDetails", "ActivityFailureError", "ActivitySerializationContext"}


def test_public_names() -> None:
    public = {n for n in dir(tc) if not n.startswith("_") and n != "annotations"}
    missing = sorted(n for n in public if not hasattr(pc, n) and n not in NOT_YET)
    assert missing == []


def _keyword_names(fn: object) -> set[str]:
    return {
        name
        for name, p in inspect.signature(fn).parameters.items()  # type: ignore[arg-type]
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and name != "self"
    }


def test_method_keywords_match() -> None:
    pairs = [
        (tc.Client.connect, pc.Client.connect, {"payload_limits"}),
        (tc.Client.start_workflow, pc.Client.start_workflow, set()),
        (tc.Client.execute_workflow, pc.Client.execute_workflow, set()),
        (tc.Client.get_workflow_handle, pc.Client.get_workflow_handle, set()),
        (tc.Client.list_workflows, pc.Client.list_workflows, set()),
        (tc.Client.count_workflows, pc.Client.count_workflows, set()),
        (tc.Client.create_schedule, pc.Client.create_schedule, set()),
        (tc.WorkflowHandle.result, pc.WorkflowHandle.result, set()),
        (tc.WorkflowHandle.query, pc.WorkflowHandle.query, set()),
        (tc.WorkflowHandle.signal, pc.WorkflowHandle.signal, set()),
        (tc.WorkflowHandle.start_update, pc.WorkflowHandle.start_update, set()),
        (tc.WorkflowHandle.execute_update, pc.WorkflowHandle.execute_update, set()),
        (tc.WorkflowHandle.cancel, pc.WorkflowHandle.cancel, set()),
        (tc.WorkflowHandle.terminate, pc.WorkflowHandle.terminate, set()),
        (tc.WorkflowHandle.fetch_history_events, pc.WorkflowHandle.fetch_history_events, set()),
        (tc.WithStartWorkflowOperation.__init__, pc.WithStartWorkflowOperation.__init__, set()),
        (tc.ScheduleActionStartWorkflow.__init__, pc.ScheduleActionStartWorkflow.__init__, set()),
    ]
    for theirs, ours, skipped in pairs:
        assert _keyword_names(theirs) - skipped == _keyword_names(ours), theirs.__qualname__
