"""perdure.contrib.opentelemetry: one trace across temporalio's and Perdure's clients and workers.

A workflow with an activity, a child, a signal and an update runs with the client and the
worker each being temporalio's or Perdure's, on each server. The official pair is the
oracle: every other pair must produce the same traces (the span names of each trace),
with every span of a trace linked to its parent.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
import temporalio.client
import temporalio.contrib.opentelemetry
import temporalio.worker
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer
from temporalio import activity as t_activity
from temporalio import workflow as t_workflow
from temporalio.contrib.opentelemetry import workflow as official_tracing

import perdure.client
import perdure.worker
from perdure import activity as p_activity
from perdure import workflow as p_workflow
from perdure.contrib.opentelemetry import TracingInterceptor
from perdure.contrib.opentelemetry import workflow as perdure_tracing
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(120)

EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
TRACER: Tracer = _PROVIDER.get_tracer("perdure-tests")


# The same parent, child and activity, written against each SDK's API.


@t_activity.defn(name="traced_echo")
async def official_echo(text: str) -> str:
    return f"echo {text}"


@t_workflow.defn(name="TracedChild")
class OfficialChild:
    @t_workflow.run
    async def run(self, text: str) -> str:
        return f"child {text}"


@t_workflow.defn(name="TracedParent")
class OfficialParent:
    def __init__(self) -> None:
        self.signals: list[str] = []
        self.done = False

    @t_workflow.run
    async def run(self, text: str) -> str:
        echoed = await t_workflow.execute_activity(
            official_echo, text, start_to_close_timeout=timedelta(seconds=10)
        )
        child = await t_workflow.execute_child_workflow(
            "TracedChild", text, id=f"{t_workflow.info().workflow_id}-child"
        )
        official_tracing.completed_span("Checkpoint", attributes={"stage": "child done"})
        await t_workflow.wait_condition(lambda: self.done)
        return f"{echoed}/{child}/{','.join(self.signals)}"

    @t_workflow.signal(name="add")
    def add(self, text: str) -> None:
        self.signals.append(text)

    @t_workflow.update(name="finish")
    def finish(self) -> str:
        self.done = True
        return "finished"


@p_activity.defn(name="traced_echo")
async def perdure_echo(text: str) -> str:
    return f"echo {text}"


@p_workflow.defn(name="TracedChild")
class PerdureChild:
    @p_workflow.run
    async def run(self, text: str) -> str:
        return f"child {text}"


@p_workflow.defn(name="TracedParent")
class PerdureParent:
    def __init__(self) -> None:
        self.signals: list[str] = []
        self.done = False

    @p_workflow.run
    async def run(self, text: str) -> str:
        echoed = await p_workflow.execute_activity(
            perdure_echo, text, start_to_close_timeout=timedelta(seconds=10)
        )
        child = await p_workflow.execute_child_workflow(
            "TracedChild", text, id=f"{p_workflow.info().workflow_id}-child"
        )
        perdure_tracing.completed_span("Checkpoint", attributes={"stage": "child done"})
        await p_workflow.wait_condition(lambda: self.done)
        return f"{echoed}/{child}/{','.join(self.signals)}"

    @p_workflow.signal(name="add")
    def add(self, text: str) -> None:
        self.signals.append(text)

    @p_workflow.update(name="finish")
    def finish(self) -> str:
        self.done = True
        return "finished"


OFFICIAL = (OfficialParent, OfficialChild, official_echo)
PERDURE = (PerdureParent, PerdureChild, perdure_echo)


async def _run(target: str, client_sdk: str, worker_sdk: str) -> list[ReadableSpan]:
    """Run the scenario with these SDKs; the spans it made."""
    EXPORTER.clear()
    if worker_sdk == "temporalio":
        worker_client = await temporalio.client.Client.connect(target)
        parent, child, echo = OFFICIAL
        tracing = temporalio.contrib.opentelemetry.TracingInterceptor(TRACER)
        worker: Any = temporalio.worker.Worker(
            worker_client,
            task_queue=(task_queue := f"otel-{uuid.uuid4().hex[:8]}"),
            workflows=[parent, child],
            activities=[echo],
            interceptors=[tracing],
            workflow_runner=temporalio.worker.UnsandboxedWorkflowRunner(),
        )
    else:
        perdure_client = await perdure.client.Client.connect(target)
        parent, child, echo = PERDURE
        worker = perdure.worker.Worker(
            perdure_client,
            task_queue=(task_queue := f"otel-{uuid.uuid4().hex[:8]}"),
            workflows=[parent, child],
            activities=[echo],
            interceptors=[TracingInterceptor(TRACER)],
            max_cached_workflows=0,  # every task replays: workflow spans must not repeat
        )
    client: Any
    if client_sdk == "temporalio":
        client = await temporalio.client.Client.connect(
            target, interceptors=[temporalio.contrib.opentelemetry.TracingInterceptor(TRACER)]
        )
    else:
        client = await perdure.client.Client.connect(
            target, interceptors=[TracingInterceptor(TRACER)]
        )
    async with worker:
        handle = await client.start_workflow(
            "TracedParent", "x", id=f"traced-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        await handle.signal("add", "s1")
        assert await handle.execute_update("finish") == "finished"
        assert await asyncio.wait_for(handle.result(), 30) == "echo x/child x/s1"
    await asyncio.sleep(0.2)
    return list(EXPORTER.get_finished_spans())


def _traces(spans: list[ReadableSpan]) -> list[list[str]]:
    """Span names per trace (sorted, repeats kept), with every parent inside its trace."""
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        assert span.context is not None
        by_trace.setdefault(span.context.trace_id, []).append(span)
    traces = []
    for trace in by_trace.values():
        ids = {s.context.span_id for s in trace if s.context is not None}
        roots = [s for s in trace if s.parent is None or s.parent.span_id not in ids]
        assert len(roots) == 1, f"one root per trace: {[s.name for s in roots]}"
        traces.append(sorted(s.name for s in trace))
    return sorted(traces)


@pytest.fixture(scope="module")
async def oracle(any_server: ServerProcess) -> list[list[str]]:
    return _traces(await _run(any_server.target, "temporalio", "temporalio"))


@pytest.mark.parametrize(
    ("client_sdk", "worker_sdk"),
    [("perdure", "perdure"), ("temporalio", "perdure"), ("perdure", "temporalio")],
)
async def test_one_trace_across_sdks(
    any_server: ServerProcess, oracle: list[list[str]], client_sdk: str, worker_sdk: str
) -> None:
    traces = _traces(await _run(any_server.target, client_sdk, worker_sdk))
    assert traces == oracle
    names = {name for trace in traces for name in trace}
    expected = {
        "StartWorkflow:TracedParent",
        "RunWorkflow:TracedParent",
        "StartActivity:traced_echo",
        "RunActivity:traced_echo",
        "StartChildWorkflow:TracedChild",
        "RunWorkflow:TracedChild",
        "SignalWorkflow:add",
        "HandleSignal:add",
        "Checkpoint",
    }
    assert expected <= names
