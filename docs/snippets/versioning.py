"""Concepts: changing workflow code that has runs in flight, with workflow.patched."""

from datetime import timedelta

from perdure import activity, workflow
from perdure.testing import WorkflowEnvironment
from perdure.worker import Replayer, Worker


@activity.defn
async def charge(order: str) -> str:
    return f"charged {order}"


@activity.defn
async def send_receipt(order: str) -> str:
    return f"receipt for {order}"


# --8<-- [start:before]
@workflow.defn(name="Checkout")
class CheckoutV1:
    @workflow.run
    async def run(self, order: str) -> list[str]:
        return [
            await workflow.execute_activity(
                charge, order, start_to_close_timeout=timedelta(seconds=30)
            )
        ]


# --8<-- [end:before]


# --8<-- [start:after]
@workflow.defn(name="Checkout")
class CheckoutV2:
    @workflow.run
    async def run(self, order: str) -> list[str]:
        done = [
            await workflow.execute_activity(
                charge, order, start_to_close_timeout=timedelta(seconds=30)
            )
        ]
        if workflow.patched("send-receipt"):  # True for new runs, False when replaying old ones
            done.append(
                await workflow.execute_activity(
                    send_receipt, order, start_to_close_timeout=timedelta(seconds=30)
                )
            )
        return done


# --8<-- [end:after]


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    client = env.client
    activities = [charge, send_receipt]
    async with Worker(client, task_queue=task_queue, workflows=[CheckoutV1], activities=activities):
        old = await client.start_workflow(CheckoutV1.run, "o-1", id="o-1", task_queue=task_queue)
        assert await old.result() == ["charged o-1"]
    # The new code replays the old run's history without a non-determinism error...
    await Replayer(workflows=[CheckoutV2]).replay_workflow(await old.fetch_history())
    # ...and new runs take the new branch.
    async with Worker(client, task_queue=task_queue, workflows=[CheckoutV2], activities=activities):
        assert await client.execute_workflow(
            CheckoutV2.run, "o-2", id="o-2", task_queue=task_queue
        ) == ["charged o-2", "receipt for o-2"]
