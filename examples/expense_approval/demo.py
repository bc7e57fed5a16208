"""Two claims: one approved by its manager at once, one escalated and decided by mail."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from examples.common import argument_parser, connected
from examples.expense_approval.workflows import (
    Decision,
    Expense,
    ExpenseApproval,
    ExpenseState,
    Office,
)
from perdure.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from perdure.worker import Worker

TASK_QUEUE = "expenses"


def worker(client: Client, office: Office, task_queue: str = TASK_QUEUE) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ExpenseApproval],
        activities=[office.ask_to_decide, office.pay],
    )


async def wait_for_status(
    handle: WorkflowHandle[ExpenseApproval, ExpenseState], status: str
) -> None:
    """Query the claim until it reaches ``status``."""
    while (await handle.query(ExpenseApproval.state)).status != status:
        await asyncio.sleep(0.05)


async def amain(argv: Sequence[str] | None = None) -> None:
    parser = argument_parser("Approve expense claims.")
    parser.add_argument("--day", type=float, default=0.5, help="seconds in a day")
    args = parser.parse_args(argv)
    office = Office()
    quick = dict(escalate_after_seconds=2 * args.day, expire_after_seconds=3 * args.day)
    taxi = Expense("exp-1", "ada", 4200, "taxi", manager="grace", director="alan", **quick)
    laptop = Expense("exp-2", "ada", 250000, "laptop", manager="grace", director="alan", **quick)
    async with connected(args.target) as client, worker(client, office):
        first = await client.start_workflow(
            ExpenseApproval.run, taxi, id=taxi.expense_id, task_queue=TASK_QUEUE
        )
        second = await client.start_workflow(
            ExpenseApproval.run, laptop, id=laptop.expense_id, task_queue=TASK_QUEUE
        )
        await wait_for_status(first, "waiting")
        try:
            await first.execute_update(ExpenseApproval.decide, Decision("ada", True))
        except WorkflowUpdateFailedError as err:
            print(f"ada approving her own taxi: refused ({err.cause})")
        state = await first.execute_update(ExpenseApproval.decide, Decision("grace", True))
        print(f"grace decides on exp-1: {state.status}")
        print(f"exp-1: {(await first.result()).status}")

        await wait_for_status(second, "escalated")
        print("exp-2 escalated to", (await second.query(ExpenseApproval.state)).approvers[-1])
        await second.signal(ExpenseApproval.decide_by_mail, Decision("alan", False, "too dear"))
        print(f"exp-2: {await second.result()}")
    print("mails:", *office.mails, sep="\n  ")
    print("payments:", office.payments)


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(amain(argv))
