"""One workflow per expense claim, waiting on people.

The manager is asked first. A decision arrives as an update (a web page that wants to
show the outcome at once: the validator refuses anyone who may not decide, and the
caller gets the new state back) or as a signal (a link in an email: fire and forget).
Without a decision in time the claim escalates to the director; without one after that,
it expires. Waiting costs nothing: the workflow is only a timer and a condition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from perdure import activity, workflow

DAY = 24 * 3600.0


@dataclass(frozen=True)
class Expense:
    expense_id: str
    employee: str
    amount_cents: int
    description: str
    manager: str
    director: str
    escalate_after_seconds: float = 2 * DAY
    expire_after_seconds: float = 3 * DAY
    """After the escalation."""


@dataclass(frozen=True)
class Decision:
    approver: str
    approved: bool
    note: str = ""


@dataclass(frozen=True)
class ExpenseState:
    status: str
    """waiting, escalated, approved, rejected, paid or expired."""
    approvers: list[str]
    decision: Decision | None = None


@dataclass
class Office:
    """Stands in for the mail server and the payroll system."""

    mails: list[str] = field(default_factory=list)
    payments: list[str] = field(default_factory=list)

    @activity.defn
    async def ask_to_decide(self, approver: str, expense: Expense) -> None:
        self.mails.append(f"to {approver}: please decide on {expense.expense_id}")

    @activity.defn
    async def pay(self, expense: Expense) -> None:
        self.payments.append(f"{expense.amount_cents} to {expense.employee}")


NOTIFY = timedelta(minutes=1)


@workflow.defn
class ExpenseApproval:
    """Gets an expense claim decided (or expired), and paid when approved."""

    def __init__(self) -> None:
        self._state = ExpenseState("waiting", [])

    @workflow.run
    async def run(self, expense: Expense) -> ExpenseState:
        self._state = ExpenseState("waiting", [expense.manager])
        await workflow.execute_activity_method(
            Office.ask_to_decide, args=[expense.manager, expense], start_to_close_timeout=NOTIFY
        )
        if not await self._decided_within(expense.escalate_after_seconds):
            self._state = ExpenseState("escalated", [expense.manager, expense.director])
            await workflow.execute_activity_method(
                Office.ask_to_decide,
                args=[expense.director, expense],
                start_to_close_timeout=NOTIFY,
            )
            if not await self._decided_within(expense.expire_after_seconds):
                self._state = ExpenseState("expired", [])
                return self._state
        decision = self._state.decision
        if decision is not None and decision.approved:
            await workflow.execute_activity_method(
                Office.pay, expense, start_to_close_timeout=NOTIFY
            )
            self._state = ExpenseState("paid", [], decision)
        return self._state

    @workflow.update
    def decide(self, decision: Decision) -> ExpenseState:
        """Approve or reject; returns the claim's state after the decision."""
        self._record(decision)
        return self._state

    @decide.validator
    def _check_decision(self, decision: Decision) -> None:
        if self._state.decision is not None:
            raise ValueError(f"already {self._state.status}")
        if decision.approver not in self._state.approvers:
            raise ValueError(f"{decision.approver} may not decide on this expense")

    @workflow.signal
    def decide_by_mail(self, decision: Decision) -> None:
        """As ``decide``, for channels that cannot wait for an answer; invalid ones are ignored."""
        try:
            self._check_decision(decision)
        except ValueError as err:
            workflow.logger.warning("Ignoring decision by mail: %s", err)
            return
        self._record(decision)

    @workflow.query
    def state(self) -> ExpenseState:
        return self._state

    def _record(self, decision: Decision) -> None:
        status = "approved" if decision.approved else "rejected"
        self._state = ExpenseState(status, [], decision)

    async def _decided_within(self, seconds: float) -> bool:
        try:
            await workflow.wait_condition(
                lambda: self._state.decision is not None, timeout=timedelta(seconds=seconds)
            )
        except TimeoutError:
            return False
        return True
