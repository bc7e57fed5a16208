"""Concepts: signals, queries and updates (with a validator)."""

from perdure.client import WorkflowUpdateFailedError
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker

# --8<-- [start:code]
from perdure import workflow


@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.checked_out = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.checked_out)
        return self.items

    @workflow.signal
    def add(self, item: str) -> None:  # fire and forget; recorded in the history
        self.items.append(item)

    @workflow.query
    def count(self) -> int:  # read-only; not recorded
        return len(self.items)

    @workflow.update
    def checkout(self, coupon: str) -> int:  # recorded, and answers the caller
        self.checked_out = True
        return len(self.items)

    @checkout.validator
    def _check_checkout(self, coupon: str) -> None:  # may refuse: then nothing is recorded
        if not self.items:
            raise ValueError("the cart is empty")


# --8<-- [end:code]


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    client = env.client
    async with Worker(client, task_queue=task_queue, workflows=[Cart]):
        # --8<-- [start:client]
        handle = await client.start_workflow(Cart.run, id="cart-7", task_queue=task_queue)
        try:
            await handle.execute_update(Cart.checkout, "")
        except WorkflowUpdateFailedError as err:
            print(err.cause)  # ValueError: the cart is empty
        await handle.signal(Cart.add, "teapot")
        assert await handle.query(Cart.count) == 1
        assert await handle.execute_update(Cart.checkout, "SPRING") == 1
        assert await handle.result() == ["teapot"]
        # --8<-- [end:client]
        events = [event async for event in handle.fetch_history_events()]
        accepted = [
            e for e in events if e.HasField("workflow_execution_update_accepted_event_attributes")
        ]
        assert len(accepted) == 1  # the refused update left no trace
