"""Runs a worker and one Greeting workflow on it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from examples.common import argument_parser, connected
from examples.greeting.workflows import Greeting, greet
from perdure.client import Client
from perdure.worker import Worker

TASK_QUEUE = "greetings"


async def greet_once(client: Client, name: str, task_queue: str = TASK_QUEUE) -> str:
    """Start a worker, run one Greeting to its end, stop the worker."""
    async with Worker(client, task_queue=task_queue, workflows=[Greeting], activities=[greet]):
        return await client.execute_workflow(
            Greeting.run, name, id=f"greeting-{uuid.uuid4()}", task_queue=task_queue
        )


async def amain(argv: Sequence[str] | None = None) -> None:
    parser = argument_parser("Greet someone through a workflow.")
    parser.add_argument("name", nargs="?", default="world")
    args = parser.parse_args(argv)
    async with connected(args.target) as client:
        print(await greet_once(client, args.name))


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(amain(argv))
