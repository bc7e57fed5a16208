"""Places three orders: one ships, one is cancelled while packing, one never gets stock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from examples.common import argument_parser, connected
from examples.order_processing.workflows import Order, OrderStatus, OrderWorkflow, Shop
from perdure.client import Client
from perdure.worker import Worker

TASK_QUEUE = "orders"


def worker(client: Client, shop: Shop, task_queue: str = TASK_QUEUE) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[OrderWorkflow],
        activities=[shop.charge, shop.refund, shop.reserve, shop.release, shop.ship],
    )


async def wait_for_stage(client: Client, order_id: str, stage: str) -> OrderStatus:
    """Query the order until it reaches ``stage``."""
    handle = client.get_workflow_handle_for(OrderWorkflow.run, order_id)
    while (status := await handle.query(OrderWorkflow.status)).stage != stage:
        await asyncio.sleep(0.05)
    return status


async def amain(argv: Sequence[str] | None = None) -> None:
    args = argument_parser("Process orders.").parse_args(argv)
    shop = Shop(stock={"teapot": 2})
    # Short waits so that the demo finishes in seconds on a real clock.
    quick = dict(reservation_timeout_seconds=2.0, packing_seconds=2.0)
    orders = [
        Order("order-1", "ada", {"teapot": 1}, 2500, **quick),
        Order("order-2", "alan", {"teapot": 1}, 2500, **quick),
        Order("order-3", "grace", {"samovar": 1}, 9900, **quick),
    ]
    async with connected(args.target) as client, worker(client, shop):
        handles = [
            await client.start_workflow(
                OrderWorkflow.run, order, id=order.order_id, task_queue=TASK_QUEUE
            )
            for order in orders
        ]
        await wait_for_stage(client, "order-2", "reserved")
        await handles[1].signal(OrderWorkflow.cancel, "customer changed their mind")
        for order, handle in zip(orders, handles, strict=True):
            print(f"{order.order_id}: {await handle.result()}")
    print("stock left:", shop.stock)


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(amain(argv))
