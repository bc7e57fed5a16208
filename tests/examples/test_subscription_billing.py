"""examples/subscription_billing: monthly charges over runs, a validated cancel update."""

from datetime import timedelta

import pytest
from examples.subscription_billing.demo import amain, worker
from examples.subscription_billing.workflows import (
    FinalBill,
    Payments,
    Plan,
    Subscription,
    SubscriptionInput,
    Totals,
)

from perdure.client import RPCError, WorkflowExecutionStatus, WorkflowUpdateFailedError
from perdure.testing import WorkflowEnvironment


async def test_bills_monthly_for_over_a_year_then_cancels(
    perdure_env: WorkflowEnvironment, perdure_task_queue: str
) -> None:
    client = perdure_env.client
    payments = Payments()
    async with worker(client, payments, perdure_task_queue):
        first = await client.start_workflow(
            Subscription.run,
            SubscriptionInput(Plan("ada", 999)),
            id="subscription-ada",
            task_queue=perdure_task_queue,
        )
        # Charges on days 0, 30, ..., 390; the 13th starts the second run.
        await perdure_env.sleep(timedelta(days=400))
        latest = client.get_workflow_handle_for(Subscription.run, "subscription-ada")
        assert await latest.query(Subscription.totals) == Totals(14, 14 * 999)
        first_run = client.get_workflow_handle("subscription-ada", run_id=first.result_run_id)
        assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW

        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await latest.execute_update(Subscription.cancel, " ")
        assert str(rejected.value.cause) == "ValueError: a cancellation needs a reason"

        bill = await latest.execute_update(Subscription.cancel, "moving abroad")
        assert bill == FinalBill(Totals(14, 14 * 999), "moving abroad")
        assert await first.result() == bill  # the first run's handle follows to the last

        with pytest.raises(RPCError, match="already completed"):
            await latest.execute_update(Subscription.cancel, "again")
    assert payments.invoices == [f"ada-{cycle}" for cycle in range(1, 15)]


async def test_command_bills_then_cancels(capsys: pytest.CaptureFixture[str]) -> None:
    await amain(["--month", "0.3"])
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0] == "cancel without a reason: rejected (ValueError: a cancellation needs a reason)"
    )
    assert lines[1].startswith("cancelled: ")
    assert int(lines[2].removeprefix("runs: ")) >= 2  # continued as new after 3 charges
