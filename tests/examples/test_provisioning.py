"""examples/provisioning: children per resource, resumed heartbeating builds, clean cancel."""

from datetime import timedelta

import pytest
from examples.provisioning.demo import amain, building, spec, worker
from examples.provisioning.workflows import FakeCloud, ProvisionEnvironment

from perdure.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from perdure.exceptions import CancelledError

FAST_HEARTBEATS = timedelta(milliseconds=100)


async def test_builds_every_resource_resuming_a_broken_build(
    perdure_client: Client, perdure_task_queue: str
) -> None:
    cloud = FakeCloud(step_seconds=0.01, fail_at={"qa-db": 2})
    async with worker(perdure_client, cloud, perdure_task_queue, FAST_HEARTBEATS):
        created = await perdure_client.execute_workflow(
            ProvisionEnvironment.run, spec("qa", 4), id="qa", task_queue=perdure_task_queue
        )
    assert created == ["network/qa-net", "database/qa-db"]
    assert cloud.resources == {"qa-net": "ready", "qa-db": "ready"}
    assert "resume qa-db at step 2" in cloud.log


async def test_cancelling_the_parent_stops_and_destroys_every_build(
    perdure_client: Client, perdure_task_queue: str
) -> None:
    cloud = FakeCloud(step_seconds=0.01)
    preview = spec("preview", 100_000)
    async with worker(perdure_client, cloud, perdure_task_queue, FAST_HEARTBEATS):
        handle = await perdure_client.start_workflow(
            ProvisionEnvironment.run, preview, id="preview", task_queue=perdure_task_queue
        )
        await building(cloud, preview)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        for child in ("preview-preview-net", "preview-preview-db"):
            description = await perdure_client.get_workflow_handle(child).describe()
            assert description.status == WorkflowExecutionStatus.CANCELED
    assert cloud.resources == {}
    assert sorted(cloud.log) == [
        "destroyed preview-db",
        "destroyed preview-net",
        "stop building preview-db",
        "stop building preview-net",
    ]


async def test_command_provisions_one_environment_and_cancels_another(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await amain([])
    out = capsys.readouterr().out
    assert "staging: ['network/staging-net', 'database/staging-db']" in out
    assert "preview: Workflow cancelled" in out
    assert "resources: {'staging-net': 'ready', 'staging-db': 'ready'}" in out
