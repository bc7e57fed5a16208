"""One long-running workflow per subscription.

It charges once per billing period and sleeps in between: a month-long durable timer
costs nothing while it waits. A year's worth of cycles fills a run's history; then the
run continues as new, carrying only what it must remember (the totals), so a history
never grows without bound. Cancelling is an update: its validator rejects a request
without a reason before anything is written to the history, and the
caller gets the final bill back in the same call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from perdure import activity, workflow

MONTH = 30 * 24 * 3600.0


@dataclass(frozen=True)
class Plan:
    customer: str
    price_cents: int
    period_seconds: float = MONTH
    cycles_per_run: int = 12
    """Charges in one run before it continues as new."""


@dataclass(frozen=True)
class Totals:
    cycles_billed: int = 0
    total_cents: int = 0


@dataclass(frozen=True)
class SubscriptionInput:
    plan: Plan
    totals: Totals = Totals()
    """What earlier runs billed (continue-as-new carries it over)."""


@dataclass(frozen=True)
class FinalBill:
    totals: Totals
    cancel_reason: str


@dataclass
class Payments:
    """Stands in for the payment provider."""

    invoices: list[str] = field(default_factory=list)

    @activity.defn
    async def charge(self, plan: Plan, cycle: int) -> str:
        invoice = f"{plan.customer}-{cycle}"
        self.invoices.append(invoice)
        return invoice


@workflow.defn
class Subscription:
    """Bills a customer every period until cancelled."""

    def __init__(self) -> None:
        self._totals = Totals()
        self._cancel_reason: str | None = None

    @workflow.run
    async def run(self, subscription: SubscriptionInput) -> FinalBill:
        plan = subscription.plan
        self._totals = subscription.totals
        for _ in range(plan.cycles_per_run):
            cycle = self._totals.cycles_billed + 1
            await workflow.execute_activity_method(
                Payments.charge, args=[plan, cycle], start_to_close_timeout=timedelta(minutes=1)
            )
            self._totals = replace(
                self._totals,
                cycles_billed=cycle,
                total_cents=self._totals.total_cents + plan.price_cents,
            )
            try:
                await workflow.wait_condition(
                    lambda: self._cancel_reason is not None,
                    timeout=timedelta(seconds=plan.period_seconds),
                )
            except TimeoutError:
                continue  # a new period begins
            return FinalBill(self._totals, self._cancel_reason or "")
        # Let handlers in flight finish before this run ends.
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(SubscriptionInput(plan, self._totals))

    @workflow.update
    def cancel(self, reason: str) -> FinalBill:
        """Stop billing; returns the final bill."""
        self._cancel_reason = reason
        return FinalBill(self._totals, reason)

    @cancel.validator
    def _check_cancel(self, reason: str) -> None:
        if not reason.strip():
            raise ValueError("a cancellation needs a reason")

    @workflow.query
    def totals(self) -> Totals:
        return self._totals
