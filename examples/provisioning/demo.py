"""Provisions an environment (one build breaks and resumes), then cancels a second one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from examples.common import argument_parser, connected
from examples.provisioning.workflows import (
    EnvironmentSpec,
    FakeCloud,
    ProvisionEnvironment,
    ProvisionResource,
    Resource,
)
from perdure.client import Client, WorkflowFailureError
from perdure.worker import Worker

TASK_QUEUE = "provisioning"


def worker(
    client: Client,
    cloud: FakeCloud,
    task_queue: str = TASK_QUEUE,
    heartbeat_every: timedelta = timedelta(seconds=1),
) -> Worker:
    """A worker whose activities send heartbeats at most ``heartbeat_every``."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ProvisionEnvironment, ProvisionResource],
        activities=[cloud.create, cloud.destroy],
        max_heartbeat_throttle_interval=heartbeat_every,
    )


def spec(name: str, steps: int) -> EnvironmentSpec:
    return EnvironmentSpec(
        name,
        [Resource("network", f"{name}-net", steps), Resource("database", f"{name}-db", steps)],
    )


async def building(cloud: FakeCloud, spec: EnvironmentSpec) -> None:
    """Wait until every resource of ``spec`` is being built."""
    while any(cloud.resources.get(r.name) != "building" for r in spec.resources):
        await asyncio.sleep(0.02)


async def amain(argv: Sequence[str] | None = None) -> None:
    args = argument_parser("Provision environments.").parse_args(argv)
    staging, preview = spec("staging", 5), spec("preview", 1000)
    cloud = FakeCloud(fail_at={"staging-db": 3})
    async with connected(args.target) as client, worker(client, cloud):
        created = await client.execute_workflow(
            ProvisionEnvironment.run, staging, id="staging", task_queue=TASK_QUEUE
        )
        print("staging:", created)
        handle = await client.start_workflow(
            ProvisionEnvironment.run, preview, id="preview", task_queue=TASK_QUEUE
        )
        await building(cloud, preview)
        await handle.cancel()
        try:
            await handle.result()
        except WorkflowFailureError as err:
            print("preview:", err.cause)
    print("resources:", cloud.resources)
    print("log:", *cloud.log, sep="\n  ")


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(amain(argv))
