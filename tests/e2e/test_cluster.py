"""Several Perdure server processes on one PostgreSQL database serve as one.

Official temporalio clients and workers talk to different processes: a workflow started
on one is run by a worker polling another, its queries, updates, signals, descriptions
and result long poll go through the first. Nothing here may depend on which process
committed what.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType, IndexedValueType, QueryResultType, TaskQueueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
    RespondQueryTaskCompletedRequest,
)
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.converter import DataConverter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.e2e.cluster_workflows import ClusterLoad, echo
from tests.pg import create_database, drop_database, pg_unreachable
from tests.servers import ServerProcess, start_perdure_server

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

CLOSE_TYPES = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)


@pytest.fixture
def cluster_db() -> Iterator[str]:
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def cluster(tmp_path: Path, cluster_db: str) -> Iterator[list[ServerProcess]]:
    """Two server processes on one fresh database."""
    servers = [start_perdure_server(tmp_path / "a", db_url=cluster_db)]
    try:
        servers.append(start_perdure_server(tmp_path / "b", db_url=cluster_db))
        yield servers
    finally:
        for s in servers:
            s.stop()


def worker(client: Client, task_queue: str, identity: str | None = None) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        identity=identity,
        workflows=[ClusterLoad],
        activities=[echo],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def test_any_process_serves_any_request(cluster: list[ServerProcess]) -> None:
    a, b = [await Client.connect(s.target) for s in cluster]
    tq = f"cluster-{uuid.uuid4().hex[:8]}"
    wid = f"wf-{uuid.uuid4().hex[:8]}"
    async with worker(b, tq):
        handle = await a.start_workflow(ClusterLoad.run, args=[wid, 0.3], id=wid, task_queue=tq)
        # Query tasks asked on A are answered by the worker polling B.
        for _ in range(100):
            state = await handle.query(ClusterLoad.state)
            if state["stage"] == "waiting":
                break
            await asyncio.sleep(0.1)
        assert state == {"stage": "waiting", "signals": 0}
        for i in range(3):
            await handle.signal(ClusterLoad.add, f"s{i}")
        assert await handle.execute_update(ClusterLoad.bump, "u") == 4
        # A's description and B's history agree: A never serves stale cached state.
        described = await handle.describe()
        history = await b.get_workflow_handle(wid).fetch_history()
        assert described.raw_description.workflow_execution_info.history_length == len(
            history.events
        )
        await handle.signal(ClusterLoad.finish)
        result = await handle.result()  # A's long poll, woken by B's commits
    assert result == {
        "signals": ["s0", "s1", "s2", "update:u"],
        "results": [f"A-{wid}".upper(), f"Z-{wid}".upper()],
    }
    history = await a.get_workflow_handle(wid).fetch_history()
    closes = [e.event_type for e in history.events if e.event_type in CLOSE_TYPES]
    assert closes == [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED]
    for s in cluster:
        assert "Traceback" not in s.log(), s.log()


async def test_query_waiting_for_a_task_another_process_starts(
    cluster: list[ServerProcess],
) -> None:
    """A query asked on A rides the run's pending workflow task; B's poller starts that
    task: A notices, and the query reaches the worker once the task is done."""
    a, b = [await Client.connect(s.target) for s in cluster]
    tq = f"cluster-{uuid.uuid4().hex[:8]}"
    wid = f"wf-{uuid.uuid4().hex[:8]}"
    handle = await a.start_workflow(ClusterLoad.run, args=[wid, 0.1], id=wid, task_queue=tq)
    query = asyncio.create_task(handle.query(ClusterLoad.state))
    await asyncio.sleep(0.5)
    assert not query.done()
    async with worker(b, tq):
        state = await asyncio.wait_for(query, 30)
        assert state["stage"] in ("started", "timer", "waiting")
        await handle.signal(ClusterLoad.finish)
        assert (await handle.result())["results"][0] == f"A-{wid}".upper()


async def test_tasks_of_one_queue_are_shared_by_workers_on_both_processes(
    cluster: list[ServerProcess],
) -> None:
    a, b = [await Client.connect(s.target) for s in cluster]
    tq = f"cluster-{uuid.uuid4().hex[:8]}"
    ids = [f"wf-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    async with worker(a, tq, "worker-on-a"), worker(b, tq, "worker-on-b"):
        handles = [
            await (a if i % 2 else b).start_workflow(
                ClusterLoad.run, args=[wid, 0.1], id=wid, task_queue=tq
            )
            for i, wid in enumerate(ids)
        ]
        for i, h in enumerate(handles):
            await (b if i % 2 else a).get_workflow_handle(h.id).signal(ClusterLoad.finish)
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
    assert [r["results"][1] for r in results] == [f"Z-{wid}".upper() for wid in ids]
    identities = set()
    for wid in ids:
        history = await a.get_workflow_handle(wid).fetch_history()
        closes = [e.event_type for e in history.events if e.event_type in CLOSE_TYPES]
        assert closes == [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED]
        identities.update(
            e.activity_task_started_event_attributes.identity
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        )
    assert identities == {"worker-on-a", "worker-on-b"}
    # Either process describes the pollers of both.
    for client in (a, b):
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=tq),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        assert {p.identity for p in described.pollers} == {"worker-on-a", "worker-on-b"}


async def test_one_workflow_id_started_on_both_processes_at_once(
    cluster: list[ServerProcess],
) -> None:
    """The current-run row is written conditionally: one start wins, the other sees it."""
    a, b = [await Client.connect(s.target) for s in cluster]
    tq = f"cluster-{uuid.uuid4().hex[:8]}"
    for policy in (WorkflowIDConflictPolicy.FAIL, WorkflowIDConflictPolicy.USE_EXISTING):
        for _ in range(5):
            wid = f"wf-{uuid.uuid4().hex[:8]}"
            outcomes = await asyncio.gather(
                *(
                    c.start_workflow(
                        ClusterLoad.run,
                        args=[wid],
                        id=wid,
                        task_queue=tq,
                        id_conflict_policy=policy,
                    )
                    for c in (a, b)
                ),
                return_exceptions=True,
            )
            started = [o for o in outcomes if not isinstance(o, BaseException)]
            if policy == WorkflowIDConflictPolicy.FAIL:
                assert len(started) == 1, outcomes
                assert any(isinstance(o, WorkflowAlreadyStartedError) for o in outcomes)
            else:
                assert len(started) == 2, outcomes
                assert started[0].result_run_id == started[1].result_run_id
            runs = [r async for r in a.list_workflows(f"WorkflowId = '{wid}'")]
            assert len(runs) == 1
            await a.get_workflow_handle(wid).terminate()


async def test_update_sees_signals_sent_before_it(cluster: list[ServerProcess]) -> None:
    """Signals that arrive while the workflow task is scheduled come before an update
    that the same task carries (Temporal sequences the update after the events before
    the task's started event)."""
    a, b = [await Client.connect(s.target) for s in cluster]
    tq = f"cluster-{uuid.uuid4().hex[:8]}"
    wid = f"wf-{uuid.uuid4().hex[:8]}"
    handle = await a.start_workflow(ClusterLoad.run, args=[wid, 0.1], id=wid, task_queue=tq)
    await handle.signal(ClusterLoad.add, "s0")
    await handle.signal(ClusterLoad.add, "s1")
    update = asyncio.create_task(handle.execute_update(ClusterLoad.bump, "u"))
    await asyncio.sleep(0.3)
    async with worker(b, tq):
        assert await asyncio.wait_for(update, 30) == 3
        await handle.signal(ClusterLoad.finish)
        assert (await handle.result())["signals"] == ["s0", "s1", "update:u"]


async def test_a_namespace_change_on_one_process_reaches_the_other(
    cluster: list[ServerProcess],
) -> None:
    """B has the namespace cached; a search attribute registered on A is usable on B
    at once (a notice, not the cache's expiry)."""
    a, b = [await Client.connect(s.target) for s in cluster]
    tq = f"cluster-{uuid.uuid4().hex[:8]}"
    name = f"Attr{uuid.uuid4().hex[:6]}"
    key = SearchAttributeKey.for_keyword(name)
    wid = f"wf-{uuid.uuid4().hex[:8]}"
    await b.start_workflow(ClusterLoad.run, args=[wid], id=wid, task_queue=tq)  # caches it
    await a.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="default",
            search_attributes={name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
        )
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0  # the namespace cache would keep the old one for 5 s
    while True:
        try:
            await b.start_workflow(
                ClusterLoad.run,
                args=[wid + "-2"],
                id=wid + "-2",
                task_queue=tq,
                search_attributes=TypedSearchAttributes([SearchAttributePair(key, "x")]),
            )
            break
        except RPCError:
            assert loop.time() < deadline, "B kept the namespace it had cached"
            await asyncio.sleep(0.05)
    for w in (wid, wid + "-2"):
        await a.get_workflow_handle(w).terminate()


async def test_query_answer_sent_to_a_third_process(
    cluster: list[ServerProcess], tmp_path: Path, cluster_db: str
) -> None:
    """A worker whose calls are balanced over processes may answer a query task on a
    process other than the one it polled: the answer still reaches the asker."""
    c = start_perdure_server(tmp_path / "c", db_url=cluster_db)
    try:
        a, b, third = [await Client.connect(s.target) for s in (*cluster, c)]
        tq = f"cluster-{uuid.uuid4().hex[:8]}"
        wid = f"wf-{uuid.uuid4().hex[:8]}"
        await a.start_workflow(ClusterLoad.run, args=[wid, 0.1], id=wid, task_queue=tq)
        async with worker(b, tq):
            for _ in range(100):
                if (await a.get_workflow_handle(wid).query(ClusterLoad.state))[
                    "stage"
                ] == "waiting":
                    break
                await asyncio.sleep(0.1)
        # Poll on B (a raw call, as a worker would), answer on the third process.
        query = asyncio.create_task(a.get_workflow_handle(wid).query("state"))
        polled = await b.workflow_service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace="default", task_queue=TaskQueue(name=tq), identity="raw"
            )
        )
        assert polled.query.query_type == "state"
        payload = (await DataConverter.default.encode(["from the third"]))[0]
        await third.workflow_service.respond_query_task_completed(
            RespondQueryTaskCompletedRequest(
                namespace="default",
                task_token=polled.task_token,
                completed_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED,
                query_result=Payloads(payloads=[payload]),
            )
        )
        assert await asyncio.wait_for(query, 10) == "from the third"
        await a.get_workflow_handle(wid).terminate()
    finally:
        c.stop()


async def test_concurrent_signals_through_both_processes_land_once_each(
    cluster: list[ServerProcess],
) -> None:
    """Both processes write one run at once: conditional commits retry, never overwrite."""
    a, b = [await Client.connect(s.target) for s in cluster]
    tq = f"cluster-{uuid.uuid4().hex[:8]}"
    wid = f"wf-{uuid.uuid4().hex[:8]}"
    handle = await a.start_workflow(ClusterLoad.run, args=[wid, 0.1], id=wid, task_queue=tq)
    values = [f"v{i}" for i in range(60)]
    await asyncio.gather(
        *(
            (a if i % 2 else b).get_workflow_handle(wid).signal(ClusterLoad.add, v)
            for i, v in enumerate(values)
        )
    )
    async with worker(a, tq, "worker-on-a"), worker(b, tq, "worker-on-b"):
        await handle.signal(ClusterLoad.finish)
        result = await handle.result()
    assert sorted(result["signals"]) == sorted(values)
    events = (await b.get_workflow_handle(wid).fetch_history()).events
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))
    signaled = [
        e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert len(signaled) == len(values) + 1
