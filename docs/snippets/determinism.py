"""Concepts: deterministic workflow code, and the guard that refuses the rest."""

import time
import uuid

from perdure.client import WorkflowHandle
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker

# --8<-- [start:deterministic]
from perdure import workflow


@workflow.defn
class Raffle:
    @workflow.run
    async def run(self, tickets: list[str]) -> dict[str, str]:
        return {
            "drawn_at": workflow.now().isoformat(),  # the time of this workflow task
            "winner": workflow.random().choice(tickets),  # seeded per run, replays alike
            "receipt": str(workflow.uuid4()),
        }


# --8<-- [end:deterministic]


# --8<-- [start:refused]
@workflow.defn
class Stamp:
    @workflow.run
    async def run(self) -> float:
        return time.time()  # refused: the workflow task fails, naming workflow.now()


# --8<-- [end:refused]


async def _task_failure(handle: WorkflowHandle[Stamp, float]) -> str:
    while True:
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_task_failed_event_attributes"):
                return str(event.workflow_task_failed_event_attributes.failure.message)


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    async with Worker(env.client, task_queue=task_queue, workflows=[Raffle, Stamp]):
        result = await env.client.execute_workflow(
            Raffle.run, ["a", "b", "c"], id="raffle", task_queue=task_queue
        )
        assert result["winner"] in ("a", "b", "c") and uuid.UUID(result["receipt"])
        stamp = await env.client.start_workflow(Stamp.run, id="stamp", task_queue=task_queue)
        message = await _task_failure(stamp)
        assert "time.time()" in message and "workflow.now()" in message, message
        await stamp.terminate()
