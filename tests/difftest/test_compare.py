"""Normalising and comparing two servers' outcomes, and recognising known mismatches."""

from __future__ import annotations

import base64
import json
from typing import Any

from difftest.compare import compare, normalise
from difftest.known import classify
from difftest.program import Program, programs
from hypothesis import given, settings


def _payload(value: Any) -> dict[str, Any]:
    return {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps(value).encode()).decode(),
    }


def _outcome(token: str, run_id: str, *, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"token": token, "runs": [events], "result": {"ok": [f"dt-{token}", run_id]}}


def _started(token: str, run_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
        "eventTime": "2026-01-01T00:00:00Z",
        "taskId": "1048576",
        "workflowExecutionStartedEventAttributes": {
            "taskQueue": {"name": f"dt-{token}"},
            "originalExecutionRunId": run_id,
            "identity": "123@host",
            "input": {"payloads": [_payload({"steps": []})]},
            **extra,
        },
    }


def test_ids_times_tokens_and_payloads_normalise_alike() -> None:
    a = _outcome(
        "s-1-t",
        "0190a0e2-1111-7000-8000-000000000001",
        events=[_started("s-1-t", "0190a0e2-1111-7000-8000-000000000001")],
    )
    b = _outcome(
        "s-1-p",
        "6a1b2c3d-2222-4000-8000-000000000002",
        events=[_started("s-1-p", "6a1b2c3d-2222-4000-8000-000000000002")],
    )
    assert compare(a, b) == []
    attrs = normalise(a)["runs"][0][0]["workflowExecutionStartedEventAttributes"]
    assert attrs == {
        "taskQueue": {"name": "dt-<T>"},
        "originalExecutionRunId": "<id1>",
        "input": {"payloads": [{"steps": []}]},
    }


def test_an_id_only_one_server_reports_elsewhere_does_not_renumber_the_histories() -> None:
    run_a, run_b = "0190a0e2-1111-7000-8000-000000000001", "6a1b2c3d-2222-4000-8000-000000000002"
    a = {"describe": {"build_ids": ["0190a0e2-3333-7000-8000-000000000003"]}}
    a.update(_outcome("s-1-t", run_a, events=[_started("s-1-t", run_a)]))
    b = _outcome("s-1-p", run_b, events=[_started("s-1-p", run_b)])
    assert [d.path for d in compare(a, b)] == ["describe"]


def test_a_differing_attribute_and_event_sequence_are_reported() -> None:
    run = "0190a0e2-1111-7000-8000-000000000001"
    a = _outcome("s9-1-t", run, events=[_started("s9-1-t", run, attempt=1)])
    b = _outcome("s9-1-p", run, events=[_started("s9-1-p", run, attempt=2)])
    [diff] = compare(a, b)
    assert diff.path.endswith("workflowExecutionStartedEventAttributes.attempt")
    assert (diff.temporal, diff.perdure) == (1, 2)

    b["runs"][0].append({"eventType": "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED"})
    [diff] = compare(a, b)
    assert diff.path == "runs[0].eventTypes"
    assert "+WORKFLOW_TASK_SCHEDULED" in diff.temporal


def test_known_mismatches_are_recognised_and_others_are_not() -> None:
    run = "0190a0e2-1111-7000-8000-000000000001"
    a = _outcome("s9-1-t", run, events=[_started("s9-1-t", run)])
    gone = "workflow execution already completed"
    a["stimuli"] = [{"error": {"type": "RPCError", "status": "NOT_FOUND", "message": gone}}]
    b = _outcome(
        "s9-1-p", run, events=[_started("s9-1-p", run, workflowRunTimeout="0s", attempt=3)]
    )
    b["stimuli"] = [{"error": {"type": "WorkflowUpdateFailedError", "cause": ["rejected"]}}]
    program = Program(
        body={"steps": [{"op": "hold", "point": 0}]},
        stimuli=[{"at": 0, "kind": "update", "spec": "ok", "name": "late"}],
    )
    diffs = compare(a, b)
    known, unknown = classify(diffs, program)
    assert {k.id for _, k in known} == {"update-admitted-during-failed-task"}
    assert not classify(diffs, Program(body={}))[0], "the same diffs without a held update"
    assert sorted(d.path.rsplit(".", 1)[1] for d in unknown) == ["attempt", "workflowRunTimeout"]


@settings(max_examples=50, deadline=None)
@given(programs())
def test_generated_programs_round_trip_and_number_their_points(program: Program) -> None:
    again = Program.from_json(json.loads(json.dumps(program.to_json())))
    assert again == program
    points = [p for p, _ in program.points()]
    assert points == list(range(len(points)))
    stimulus_points = {s["at"] for s in program.stimuli} - {"start", "end"}
    assert stimulus_points <= set(points)
    ops = set(program.ops())
    assert sum(op.startswith("stimulus:") for op in ops) <= len(program.stimuli)
    assert any(op.startswith("end:") for op in ops)
