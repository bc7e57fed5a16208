"""Concepts: activities, retry policies and non-retryable errors."""

from perdure.client import WorkflowFailureError
from perdure.exceptions import ActivityError
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker

# --8<-- [start:code]
from datetime import timedelta

from perdure import activity, workflow
from perdure.common import RetryPolicy
from perdure.exceptions import ApplicationError


@activity.defn
async def charge(card: str, cents: int) -> str:
    if not card.isdigit():
        raise ValueError(f"not a card number: {card!r}")  # its type is listed: not retried
    if card.startswith("0000"):
        raise ApplicationError("card declined", type="CardDeclined", non_retryable=True)
    if activity.info().attempt < 3:
        raise ConnectionError("payment gateway unreachable")  # retried
    return f"charged {cents} to {card[-4:]} on attempt {activity.info().attempt}"


@workflow.defn
class Checkout:
    @workflow.run
    async def run(self, card: str) -> str:
        return await workflow.execute_activity(
            charge,
            args=[card, 1999],
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(minutes=1),
                maximum_attempts=10,
                non_retryable_error_types=["ValueError"],
            ),
        )


# --8<-- [end:code]


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    async with Worker(env.client, task_queue=task_queue, workflows=[Checkout], activities=[charge]):
        assert (
            await env.client.execute_workflow(
                Checkout.run, "4242424242424242", id="ok", task_queue=task_queue
            )
            == "charged 1999 to 4242 on attempt 3"
        )
        try:
            await env.client.execute_workflow(
                Checkout.run, "0000111122223333", id="declined", task_queue=task_queue
            )
        except WorkflowFailureError as err:
            assert isinstance(err.cause, ActivityError)
            assert isinstance(err.cause.cause, ApplicationError)
            assert err.cause.cause.type == "CardDeclined"
        else:
            raise AssertionError("a declined card must fail the workflow")
        try:
            await env.client.execute_workflow(Checkout.run, "42x", id="typo", task_queue=task_queue)
        except WorkflowFailureError as err:
            assert isinstance(err.cause, ActivityError)
            assert isinstance(err.cause.cause, ApplicationError)
            assert err.cause.cause.type == "ValueError"
        else:
            raise AssertionError("a malformed card number must fail the workflow")
