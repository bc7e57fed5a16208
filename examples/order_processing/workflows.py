"""One workflow per order.

The order is paid first, then its items are reserved: the warehouse answers "out of
stock" with a retryable error, so the activity's retry policy keeps asking until stock
arrives or the reservation timeout (schedule-to-close) runs out. Until it ships, the
order can be cancelled by a signal; whatever was done is undone (inventory released,
payment refunded). A query tells the order's stage at any time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from perdure import activity, workflow
from perdure.common import RetryPolicy
from perdure.exceptions import ActivityError, ApplicationError, RetryState


@dataclass(frozen=True)
class Order:
    order_id: str
    customer: str
    items: dict[str, int]
    total_cents: int
    reservation_timeout_seconds: float = 3600
    """How long to wait for the items to be in stock."""
    packing_seconds: float = 7200
    """Between reservation and shipping: the window in which a cancel still stops the order."""


@dataclass(frozen=True)
class OrderStatus:
    stage: str
    """received, paid, reserved, shipped or cancelled."""
    detail: str = ""


@dataclass
class Shop:
    """Stands in for the payment provider, the warehouse and the carrier."""

    stock: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    @activity.defn
    async def charge(self, order: Order) -> str:
        self.calls.append(f"charge {order.total_cents}")
        return f"payment-{order.order_id}"

    @activity.defn
    async def refund(self, order: Order) -> None:
        self.calls.append(f"refund {order.total_cents}")

    @activity.defn
    async def reserve(self, order: Order) -> None:
        missing = [item for item, n in order.items.items() if self.stock.get(item, 0) < n]
        if missing:
            self.calls.append("out of stock")
            raise ApplicationError(f"out of stock: {', '.join(missing)}", type="OutOfStock")
        for item, n in order.items.items():
            self.stock[item] -= n
        self.calls.append("reserve")

    @activity.defn
    async def release(self, order: Order) -> None:
        for item, n in order.items.items():
            self.stock[item] = self.stock.get(item, 0) + n
        self.calls.append("release")

    @activity.defn
    async def ship(self, order: Order) -> str:
        self.calls.append("ship")
        return f"track-{order.order_id}"


QUICK = timedelta(seconds=30)
STOCK_CHECKS = RetryPolicy(
    initial_interval=timedelta(minutes=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(minutes=10),
)


@workflow.defn
class OrderWorkflow:
    """Takes one order from payment to shipping, or to a clean cancellation."""

    def __init__(self) -> None:
        self._status = OrderStatus("received")
        self._cancel_reason: str | None = None

    @workflow.run
    async def run(self, order: Order) -> OrderStatus:
        await workflow.execute_activity_method(Shop.charge, order, start_to_close_timeout=QUICK)
        self._status = OrderStatus("paid")
        if self._cancel_reason is not None:
            return await self._cancel(order, reserved=False)
        try:
            await workflow.execute_activity_method(
                Shop.reserve,
                order,
                schedule_to_close_timeout=timedelta(seconds=order.reservation_timeout_seconds),
                retry_policy=STOCK_CHECKS,
            )
        except ActivityError as err:
            # Out of time: either the timeout fired, or the next retry would come too late.
            if err.retry_state != RetryState.TIMEOUT:
                raise
            self._cancel_reason = "items not in stock in time"
            return await self._cancel(order, reserved=False)
        self._status = OrderStatus("reserved")
        # Packing: a cancel that arrives before it is done still stops the order.
        cancelled = await _wait(
            lambda: self._cancel_reason is not None, timedelta(seconds=order.packing_seconds)
        )
        if cancelled:
            return await self._cancel(order, reserved=True)
        tracking = await workflow.execute_activity_method(
            Shop.ship, order, start_to_close_timeout=QUICK
        )
        self._status = OrderStatus("shipped", tracking)
        return self._status

    @workflow.signal
    def cancel(self, reason: str) -> None:
        """Ask to cancel; too late once the order has shipped."""
        if self._status.stage != "shipped":
            self._cancel_reason = reason

    @workflow.query
    def status(self) -> OrderStatus:
        return self._status

    async def _cancel(self, order: Order, *, reserved: bool) -> OrderStatus:
        if reserved:
            await workflow.execute_activity_method(
                Shop.release, order, start_to_close_timeout=QUICK
            )
        await workflow.execute_activity_method(Shop.refund, order, start_to_close_timeout=QUICK)
        self._status = OrderStatus("cancelled", self._cancel_reason or "")
        return self._status


async def _wait(condition: Callable[[], bool], timeout: timedelta) -> bool:
    """Whether ``condition`` became true before ``timeout`` passed (workflow time)."""
    try:
        await workflow.wait_condition(condition, timeout=timeout)
    except TimeoutError:
        return False
    return True
