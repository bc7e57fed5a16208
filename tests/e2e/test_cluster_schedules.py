"""Schedules on several Perdure processes sharing one PostgreSQL database.

Each due fire is taken by one process (a lease on the schedule's row); when the process
holding a schedule dies, another takes it over once the lease lapses, and catches up the
seconds missed meanwhile. Every scheduled second starts exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from tests.pg import create_database, drop_database, pg_unreachable
from tests.servers import ServerProcess, start_perdure_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(120)]
SCHEDULES = 4


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    url = create_database()
    servers = [start_perdure_server(tmp_path / "a", db_url=url)]
    try:
        servers.append(start_perdure_server(tmp_path / "b", db_url=url))
        yield servers
    finally:
        for s in servers:
            s.stop()
        drop_database(url)


async def _seconds(client: Client, base: str) -> Counter[datetime]:
    seen: Counter[datetime] = Counter()
    async for wf in client.list_workflows(f"WorkflowId STARTS_WITH '{base}-'"):
        stamp = wf.id.removeprefix(base + "-")
        seen[datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)] += 1
    return seen


async def test_each_second_once_across_processes_and_a_death(
    cluster: list[ServerProcess],
) -> None:
    a, b = cluster
    client_a = await Client.connect(a.target)
    client_b = await Client.connect(b.target)
    tag = uuid.uuid4().hex[:8]
    bases = [f"cl-{tag}-{n}" for n in range(SCHEDULES)]
    for n, base in enumerate(bases):
        client = client_a if n % 2 == 0 else client_b
        await client.create_schedule(
            f"cl-sched-{tag}-{n}",
            Schedule(
                action=ScheduleActionStartWorkflow(
                    "NeverPolled", id=base, task_queue=f"nobody-{tag}"
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
            ),
        )
    await asyncio.sleep(4.0)
    a.kill()
    killed_at = datetime.now(UTC)
    # b takes over a's schedules once their leases lapse (10 s), then catches up.
    await asyncio.sleep(14.0)
    for n in range(SCHEDULES):
        await client_b.get_schedule_handle(f"cl-sched-{tag}-{n}").pause()
    await asyncio.sleep(1.0)
    for base in bases:
        seen = await _seconds(client_b, base)
        assert seen and max(seen.values()) == 1, f"{base}: a second started twice: {seen}"
        first, last = min(seen), max(seen)
        span = int((last - first).total_seconds()) + 1
        expected = {first + timedelta(seconds=i) for i in range(span)}
        assert set(seen) == expected, f"{base}: missing {sorted(expected - set(seen))}"
        assert last > killed_at + timedelta(seconds=5), f"{base} stopped firing at {last}"
