"""Following a running workflow's history: `temporal workflow show --follow`.

A long poll of a running run's history (wait_new_event) answers with a next-page token
even when it returns events, so a follower keeps following until the run closes.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

from tests.e2e import official_workflows as wf
from tests.servers import TEMPORAL_BIN, ServerProcess

pytestmark = pytest.mark.timeout(90)


def _id() -> str:
    return f"follow-{uuid.uuid4().hex[:10]}"


async def test_a_long_poll_of_a_running_history_keeps_a_token(
    official_client: Client, any_server: ServerProcess, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        wf.WaitForSignal.run, 5, id=_id(), task_queue=task_queue
    )
    service = official_client.workflow_service
    request = GetWorkflowExecutionHistoryRequest(
        namespace="default",
        execution=WorkflowExecution(workflow_id=handle.id),
        wait_new_event=True,
    )
    first = await service.get_workflow_execution_history(request)
    assert [e.event_id for e in first.history.events] == [1, 2]
    assert first.next_page_token, "a running run: more events will come"
    await handle.signal(wf.WaitForSignal.add, "a")
    request.next_page_token = first.next_page_token
    second = await service.get_workflow_execution_history(request)
    assert [e.event_id for e in second.history.events] == [3]
    assert second.next_page_token
    await handle.terminate("done following")
    request.next_page_token = second.next_page_token
    last = await service.get_workflow_execution_history(request)
    assert [e.event_id for e in last.history.events] == [4]
    assert not last.next_page_token, "the run closed: nothing more to follow"


async def test_workflow_show_follow_follows_until_the_run_closes(
    official_client: Client, any_server: ServerProcess, task_queue: str
) -> None:
    handle = await official_client.start_workflow(
        wf.WaitForSignal.run, 5, id=_id(), task_queue=task_queue
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env["TEMPORAL_CONFIG_FILE"] = os.devnull
    proc = await asyncio.create_subprocess_exec(
        str(TEMPORAL_BIN), "workflow", "show", "--follow", "-w", handle.id,
        "--address", any_server.target, "--color", "never",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    await asyncio.sleep(2)  # the CLI shows what there is and follows
    await handle.signal(wf.WaitForSignal.add, "a")
    await asyncio.sleep(1)
    await handle.terminate("done following")
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    for event_type in ("WorkflowExecutionStarted", "WorkflowExecutionSignaled",
                       "WorkflowExecutionTerminated"):  # fmt: skip
        assert event_type in text, text
