"""examples/expense_approval: decided by update or by signal, escalated, expired."""

from datetime import timedelta

import pytest
from examples.expense_approval.demo import amain, wait_for_status, worker
from examples.expense_approval.workflows import (
    Decision,
    Expense,
    ExpenseApproval,
    ExpenseState,
    Office,
)

from perdure.client import WorkflowUpdateFailedError
from perdure.testing import WorkflowEnvironment

CLAIM = Expense("exp-9", "ada", 4200, "taxi", manager="grace", director="alan")


async def test_manager_approves_by_update_and_it_is_paid(
    perdure_env: WorkflowEnvironment, perdure_task_queue: str
) -> None:
    office = Office()
    async with worker(perdure_env.client, office, perdure_task_queue):
        handle = await perdure_env.client.start_workflow(
            ExpenseApproval.run, CLAIM, id="exp-9", task_queue=perdure_task_queue
        )
        await wait_for_status(handle, "waiting")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ExpenseApproval.decide, Decision("alan", True))
        assert str(refused.value.cause) == "ValueError: alan may not decide on this expense"

        decision = Decision("grace", True, "fine")
        assert await handle.execute_update(ExpenseApproval.decide, decision) == ExpenseState(
            "approved", [], decision
        )
        assert await handle.result() == ExpenseState("paid", [], decision)
    assert office.mails == ["to grace: please decide on exp-9"]
    assert office.payments == ["4200 to ada"]


async def test_escalates_after_two_days_and_the_director_rejects_by_mail(
    perdure_env: WorkflowEnvironment, perdure_task_queue: str
) -> None:
    office = Office()
    async with worker(perdure_env.client, office, perdure_task_queue):
        handle = await perdure_env.client.start_workflow(
            ExpenseApproval.run, CLAIM, id="exp-9", task_queue=perdure_task_queue
        )
        await perdure_env.sleep(timedelta(days=1))
        assert (await handle.query(ExpenseApproval.state)).status == "waiting"
        await perdure_env.sleep(timedelta(days=1, minutes=1))
        assert await handle.query(ExpenseApproval.state) == ExpenseState(
            "escalated", ["grace", "alan"]
        )
        await handle.signal(ExpenseApproval.decide_by_mail, Decision("bob", True))  # ignored
        await handle.signal(ExpenseApproval.decide_by_mail, Decision("alan", False, "no"))
        result = await handle.result()
    assert result == ExpenseState("rejected", [], Decision("alan", False, "no"))
    assert office.mails == ["to grace: please decide on exp-9", "to alan: please decide on exp-9"]
    assert office.payments == []


async def test_expires_without_a_decision(
    perdure_env: WorkflowEnvironment, perdure_task_queue: str
) -> None:
    async with worker(perdure_env.client, Office(), perdure_task_queue):
        started = await perdure_env.get_current_time()
        result = await perdure_env.client.execute_workflow(
            ExpenseApproval.run, CLAIM, id="exp-9", task_queue=perdure_task_queue
        )
        waited = await perdure_env.get_current_time() - started
    assert result == ExpenseState("expired", [])
    assert timedelta(days=5) <= waited < timedelta(days=5, minutes=1)


async def test_command_approves_one_claim_and_rejects_the_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await amain(["--day", "0.5"])
    out = capsys.readouterr().out
    assert "ada approving her own taxi: refused" in out
    assert "exp-1: paid" in out and "exp-2 escalated to alan" in out
    assert "payments: ['4200 to ada']" in out
