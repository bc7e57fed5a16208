"""Bills a subscription with a half-second "month", then cancels it through an update."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from examples.common import argument_parser, connected
from examples.subscription_billing.workflows import (
    Payments,
    Plan,
    Subscription,
    SubscriptionInput,
)
from perdure.client import Client, WorkflowUpdateFailedError
from perdure.worker import Worker

TASK_QUEUE = "subscriptions"


def worker(client: Client, payments: Payments, task_queue: str = TASK_QUEUE) -> Worker:
    return Worker(
        client, task_queue=task_queue, workflows=[Subscription], activities=[payments.charge]
    )


async def amain(argv: Sequence[str] | None = None) -> None:
    parser = argument_parser("Bill a subscription, then cancel it.")
    parser.add_argument("--month", type=float, default=0.5, help="seconds in a billing period")
    args = parser.parse_args(argv)
    payments = Payments()
    plan = Plan("ada", 999, period_seconds=args.month, cycles_per_run=3)
    async with connected(args.target) as client, worker(client, payments):
        handle = await client.start_workflow(
            Subscription.run, SubscriptionInput(plan), id="subscription-ada", task_queue=TASK_QUEUE
        )
        while (await handle.query(Subscription.totals)).cycles_billed < 5:
            await asyncio.sleep(args.month / 5)
        try:
            await handle.execute_update(Subscription.cancel, "")
        except WorkflowUpdateFailedError as err:
            print(f"cancel without a reason: rejected ({err.cause})")
        bill = await handle.execute_update(Subscription.cancel, "moving abroad")
        print(f"cancelled: {bill.totals.cycles_billed} cycles, {bill.totals.total_cents} cents")
        print(
            "runs:",
            len([w async for w in client.list_workflows("WorkflowId = 'subscription-ada'")]),
        )
    print("invoices:", ", ".join(payments.invoices))


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(amain(argv))
