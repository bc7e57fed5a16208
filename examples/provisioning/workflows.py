"""Provision an environment: one child workflow per resource, all at once.

Creating a resource takes a while, so its activity heartbeats its progress: a worker
that dies is noticed within the heartbeat timeout, the next attempt resumes from the
last recorded step, and a cancellation reaches the activity with its next heartbeat.
Cancelling the parent cancels every child; each child waits until its creating
activity has really stopped (``WAIT_CANCELLATION_COMPLETED``) and then destroys what
was built, so nothing is left behind half made. A build that fails for good is
cleaned up the same way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from perdure import activity, workflow
from perdure.common import RetryPolicy
from perdure.exceptions import ActivityError
from perdure.workflow import ActivityCancellationType


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    steps: int = 5
    """Steps to build it (each a call to the cloud API that takes a while)."""


@dataclass(frozen=True)
class EnvironmentSpec:
    name: str
    resources: list[Resource]


@dataclass
class FakeCloud:
    """Stands in for a cloud provider's API; ``fail_at`` breaks a build once at that step."""

    step_seconds: float = 0.05
    fail_at: dict[str, int] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @activity.defn
    async def create(self, resource: Resource) -> str:
        details = activity.info().heartbeat_details
        start = int(details[0]) if details else 0
        if start:
            self.log.append(f"resume {resource.name} at step {start}")
        self.resources[resource.name] = "building"
        try:
            for step in range(start, resource.steps):
                if self.fail_at.get(resource.name) == step:
                    del self.fail_at[resource.name]
                    raise RuntimeError(f"connection reset while building {resource.name}")
                await asyncio.sleep(self.step_seconds)
                activity.heartbeat(step + 1)
        except asyncio.CancelledError:
            self.log.append(f"stop building {resource.name}")
            raise
        self.resources[resource.name] = "ready"
        self.log.append(f"created {resource.name}")
        return f"{resource.kind}/{resource.name}"

    @activity.defn
    async def destroy(self, resource: Resource) -> None:
        if self.resources.pop(resource.name, None) is not None:
            self.log.append(f"destroyed {resource.name}")


@workflow.defn
class ProvisionResource:
    """Builds one resource; on cancellation, removes whatever part of it exists."""

    @workflow.run
    async def run(self, resource: Resource) -> str:
        try:
            return await workflow.execute_activity_method(
                FakeCloud.create,
                resource,
                start_to_close_timeout=timedelta(hours=1),
                heartbeat_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1)),
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except (ActivityError, asyncio.CancelledError):
            # The build failed or was cancelled (the activity then raises ActivityError with
            # a CancelledError cause). Either way, remove what exists; a cancelled workflow
            # may still run activities.
            await workflow.execute_activity_method(
                FakeCloud.destroy, resource, start_to_close_timeout=timedelta(minutes=5)
            )
            raise


@workflow.defn
class ProvisionEnvironment:
    """Builds every resource of an environment in parallel, each in a child workflow."""

    @workflow.run
    async def run(self, spec: EnvironmentSpec) -> list[str]:
        children = [
            await workflow.start_child_workflow(
                ProvisionResource.run, resource, id=f"{spec.name}-{resource.name}"
            )
            for resource in spec.resources
        ]
        # return_exceptions: on cancellation, wait for every child to finish its cleanup
        # (plain gather would end at the first child's error; the others would then be
        # terminated with their parent, half built).
        results = await asyncio.gather(*children, return_exceptions=True)
        created: list[str] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            created.append(result)
        return created
