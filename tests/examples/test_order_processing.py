"""examples/order_processing: ship, cancel while packing, give up when stock never comes."""

import pytest
from examples.order_processing.demo import amain, wait_for_stage, worker
from examples.order_processing.workflows import Order, OrderStatus, OrderWorkflow, Shop

from perdure.client import Client


def _order(item: str) -> Order:
    return Order("order-7", "ada", {item: 2}, 5000)


async def test_paid_reserved_and_shipped_after_packing(
    perdure_client: Client, perdure_task_queue: str
) -> None:
    shop = Shop(stock={"teapot": 3})
    async with worker(perdure_client, shop, perdure_task_queue):
        result = await perdure_client.execute_workflow(
            OrderWorkflow.run, _order("teapot"), id="order-7", task_queue=perdure_task_queue
        )
    assert result == OrderStatus("shipped", "track-order-7")
    assert shop.calls == ["charge 5000", "reserve", "ship"]
    assert shop.stock == {"teapot": 1}


async def test_cancel_signal_while_packing_releases_and_refunds(
    perdure_client: Client, perdure_task_queue: str
) -> None:
    shop = Shop(stock={"teapot": 3})
    async with worker(perdure_client, shop, perdure_task_queue):
        handle = await perdure_client.start_workflow(
            OrderWorkflow.run, _order("teapot"), id="order-7", task_queue=perdure_task_queue
        )
        assert await wait_for_stage(perdure_client, "order-7", "reserved") == OrderStatus(
            "reserved"
        )
        await handle.signal(OrderWorkflow.cancel, "changed my mind")
        assert await handle.result() == OrderStatus("cancelled", "changed my mind")
        assert await handle.query(OrderWorkflow.status) == OrderStatus(
            "cancelled", "changed my mind"
        )
    assert shop.calls == ["charge 5000", "reserve", "release", "refund 5000"]
    assert shop.stock == {"teapot": 3}


async def test_reservation_retries_until_its_timeout_then_refunds(
    perdure_client: Client, perdure_task_queue: str
) -> None:
    shop = Shop()
    async with worker(perdure_client, shop, perdure_task_queue):
        result = await perdure_client.execute_workflow(
            OrderWorkflow.run, _order("samovar"), id="order-7", task_queue=perdure_task_queue
        )
    assert result == OrderStatus("cancelled", "items not in stock in time")
    # Stock checks at 0, 1, 3, 7, 15, 25, 35, 45 and 55 minutes; the next would pass the hour.
    assert shop.calls == ["charge 5000", *["out of stock"] * 9, "refund 5000"]


async def test_command_ships_one_order_and_cancels_two(capsys: pytest.CaptureFixture[str]) -> None:
    await amain([])
    assert capsys.readouterr().out.splitlines() == [
        "order-1: OrderStatus(stage='shipped', detail='track-order-1')",
        "order-2: OrderStatus(stage='cancelled', detail='customer changed their mind')",
        "order-3: OrderStatus(stage='cancelled', detail='items not in stock in time')",
        "stock left: {'teapot': 1}",
    ]
