"""The requests Perdure's client sends equal those temporalio's client sends.

A recording gRPC server answers both clients; for each operation, both requests are
decoded and compared field by field (only per-call random ids are blanked).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import grpc.aio
import pytest
import temporalio.client as tc
import temporalio.common as tcommon
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.enums.v1 import EventType, UpdateWorkflowExecutionLifecycleStage
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.api.update.v1 import Outcome, UpdateRef
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import request_response_pb2 as ws
from temporalio.converter import DataConverter as TemporalDataConverter

import perdure.client as pc
import perdure.common as pcommon
import perdure.converter as pconv
from perdure.converter import PayloadCodec
from tests.servers import free_port

PAYLOADS = TemporalDataConverter.default.payload_converter.to_payloads_wrapper(["ok"])


def _response(method: str) -> Message:
    if method == "StartWorkflowExecution":
        return ws.StartWorkflowExecutionResponse(run_id="run-1", started=True)
    if method == "QueryWorkflow":
        return ws.QueryWorkflowResponse(query_result=PAYLOADS)
    if method == "UpdateWorkflowExecution":
        return ws.UpdateWorkflowExecutionResponse(
            update_ref=UpdateRef(workflow_execution=WorkflowExecution(workflow_id="w", run_id="r")),
            stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED,
            outcome=Outcome(success=PAYLOADS),
        )
    if method == "DescribeWorkflowExecution":
        info = WorkflowExecutionInfo(execution=WorkflowExecution(workflow_id="w", run_id="r"))
        info.start_time.FromDatetime(datetime(2024, 1, 1, tzinfo=UTC))
        return ws.DescribeWorkflowExecutionResponse(workflow_execution_info=info)
    if method == "GetWorkflowExecutionHistory":
        event = HistoryEvent(
            event_id=5, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
        )
        event.workflow_execution_completed_event_attributes.result.CopyFrom(PAYLOADS)
        return ws.GetWorkflowExecutionHistoryResponse(history=History(events=[event]))
    return getattr(ws, f"{method}Response")()  # type: ignore[no-any-return]


@dataclass
class Recorded:
    method: str
    request: Message
    metadata: dict[str, str]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Recorded] = []
        self.port = free_port()
        self.server = grpc.aio.server()
        recorder = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
                method = details.method.rsplit("/", 1)[1]
                metadata = {k: v for k, v in details.invocation_metadata if isinstance(v, str)}

                async def unary(request: bytes, context: Any) -> bytes:
                    parsed = getattr(ws, f"{method}Request").FromString(request)
                    recorder.calls.append(Recorded(method, parsed, metadata))
                    return _response(method).SerializeToString()

                return grpc.unary_unary_rpc_method_handler(unary)

        self.server.add_generic_rpc_handlers([Handler()])
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    def take(self) -> list[Recorded]:
        calls = [c for c in self.calls if c.method != "GetSystemInfo"]
        self.calls.clear()
        return calls


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    await rec.server.start()
    yield rec
    await rec.server.stop(None)


def _blank(message: Message) -> Message:
    copy = type(message)()
    copy.CopyFrom(message)
    for field in ("request_id",):
        if field in copy.DESCRIPTOR.fields_by_name:
            setattr(copy, field, "")
    if isinstance(copy, ws.UpdateWorkflowExecutionRequest):
        copy.request.meta.update_id = ""
    return copy


Operation = Callable[[Any, Any], Awaitable[Any]]


async def _start(client: Any, common: Any) -> Any:
    return await client.start_workflow(
        "MyWorkflow",
        args=[1, {"two": 2}],
        id="wf-1",
        task_queue="tq",
        execution_timeout=timedelta(minutes=3),
        run_timeout=timedelta(minutes=2),
        task_timeout=timedelta(seconds=5),
        id_reuse_policy=common.WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=common.WorkflowIDConflictPolicy.USE_EXISTING,
        retry_policy=common.RetryPolicy(maximum_attempts=3, non_retryable_error_types=["X"]),
        cron_schedule="",
        memo={"m": [1, 2]},
        search_attributes=common.TypedSearchAttributes(
            [common.SearchAttributePair(common.SearchAttributeKey.for_keyword("Kw"), "v")]
        ),
        static_summary="summary",
        static_details="details",
        start_delay=timedelta(seconds=9),
        priority=common.Priority(priority_key=2, fairness_key="tenant"),
    )


async def _signal_with_start(client: Any, common: Any) -> Any:
    return await client.start_workflow(
        "MyWorkflow", id="wf-2", task_queue="tq", start_signal="sig", start_signal_args=["a", 1]
    )


async def _handle_calls(client: Any, common: Any) -> Any:
    handle = client.get_workflow_handle("wf-3", run_id="r-3", first_execution_run_id="f-3")
    await handle.signal("sig", "payload")
    assert await handle.query("q", 1, reject_condition=common.QueryRejectCondition.NOT_OPEN) == "ok"
    assert await handle.execute_update("upd", args=[1, 2]) == "ok"
    await handle.cancel(reason="because")
    await handle.terminate("d1", reason="stop")
    await handle.describe()
    return await client.get_workflow_handle("wf-4").result()


async def _visibility(client: Any, common: Any) -> Any:
    [_ async for _ in client.list_workflows("WorkflowType = 'x'", page_size=7)]
    await client.count_workflows("WorkflowType = 'x'")
    handle = client.get_workflow_handle("wf-5")
    return [e async for e in handle.fetch_history_events(page_size=3)]


@pytest.mark.parametrize("operation", [_start, _signal_with_start, _handle_calls, _visibility])
async def test_requests_match_temporalio(recorder: Recorder, operation: Operation) -> None:
    target = f"127.0.0.1:{recorder.port}"
    identity = f"{os.getpid()}@test"
    theirs = await tc.Client.connect(target, identity=identity)
    await operation(theirs, tcommon)
    expected = recorder.take()
    ours = await pc.Client.connect(target, identity=identity)
    await operation(ours, pcommon)
    actual = recorder.take()
    assert expected and [c.method for c in actual] == [c.method for c in expected]
    for mine, reference in zip(actual, expected, strict=True):
        assert _blank(mine.request) == _blank(reference.request), mine.method
        for header in ("client-name", "client-version", "temporal-namespace"):
            assert mine.metadata.get(header) == reference.metadata.get(header), (
                mine.method,
                header,
            )


async def test_result_long_poll_follows_empty_pages_and_runs() -> None:
    """§5.6 of the wire notes: an empty page with a token means "ask again with it";
    a continue-as-new close event means "ask again for the new run".
    """
    continued = HistoryEvent(
        event_id=4, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    )
    continued.workflow_execution_continued_as_new_event_attributes.new_execution_run_id = "run-2"
    completed = HistoryEvent(
        event_id=4, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    )
    completed.workflow_execution_completed_event_attributes.result.CopyFrom(PAYLOADS)
    script = [
        ws.GetWorkflowExecutionHistoryResponse(next_page_token=b"token-1"),
        ws.GetWorkflowExecutionHistoryResponse(history=History(events=[continued])),
        ws.GetWorkflowExecutionHistoryResponse(next_page_token=b"token-2"),
        ws.GetWorkflowExecutionHistoryResponse(history=History(events=[completed])),
    ]
    requests: list[tuple[ws.GetWorkflowExecutionHistoryRequest, float | None]] = []

    class Handler(grpc.GenericRpcHandler):
        def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
            method = details.method.rsplit("/", 1)[1]

            async def unary(request: bytes, context: Any) -> bytes:
                if method != "GetWorkflowExecutionHistory":
                    return _response(method).SerializeToString()
                requests.append(
                    (
                        ws.GetWorkflowExecutionHistoryRequest.FromString(request),
                        context.time_remaining(),
                    )
                )
                return script.pop(0).SerializeToString()

            return grpc.unary_unary_rpc_method_handler(unary)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers([Handler()])
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        client = await pc.Client.connect(f"127.0.0.1:{port}")
        handle = client.get_workflow_handle("wf", run_id="run-1")
        assert await handle.result() == "ok"
    finally:
        await server.stop(None)
    assert [(r.execution.run_id, r.next_page_token) for r, _ in requests] == [
        ("run-1", b""),
        ("run-1", b"token-1"),
        ("run-2", b""),
        ("run-2", b"token-2"),
    ]
    for request, remaining in requests:
        assert request.wait_new_event and request.skip_archival
        assert request.history_event_filter_type == 2  # CLOSE_EVENT
        assert remaining is not None and 60 < remaining < 71  # the SDK's long-poll deadline


class _Reverse(PayloadCodec):
    """A codec that reverses bytes and marks the encoding, to see where it applies."""

    async def encode(self, payloads: Any) -> list[Payload]:
        return [Payload(metadata={"encoding": b"test/rev"}, data=p.data[::-1]) for p in payloads]

    async def decode(self, payloads: Any) -> list[Payload]:
        return [Payload(metadata={"encoding": b"json/plain"}, data=p.data[::-1]) for p in payloads]


class _HeaderInterceptor(pc.Interceptor):
    def intercept_client(self, next: pc.OutboundInterceptor) -> pc.OutboundInterceptor:
        class Outbound(pc.OutboundInterceptor):
            async def start_workflow(self, input: pc.StartWorkflowInput) -> Any:
                input.headers = {**input.headers, "trace": PAYLOADS.payloads[0]}
                return await super().start_workflow(input)

            async def signal_workflow(self, input: pc.SignalWorkflowInput) -> None:
                input.headers = {"trace": PAYLOADS.payloads[0]}
                await super().signal_workflow(input)

        return Outbound(next)


@pytest.mark.parametrize(
    "behavior", [pcommon.HeaderCodecBehavior.NO_CODEC, pcommon.HeaderCodecBehavior.CODEC]
)
async def test_headers_from_interceptors_and_header_codec(
    recorder: Recorder, behavior: pcommon.HeaderCodecBehavior
) -> None:
    client = await pc.Client.connect(
        f"127.0.0.1:{recorder.port}",
        interceptors=[_HeaderInterceptor()],
        data_converter=pconv.DataConverter(payload_codec=_Reverse()),
        header_codec_behavior=behavior,
    )
    handle = await client.start_workflow("W", "arg", id="wf", task_queue="tq")
    await handle.signal("s")
    start, signal = recorder.take()
    assert start.request.input.payloads[0].metadata["encoding"] == b"test/rev"  # type: ignore[attr-defined]
    for call in (start, signal):
        header = call.request.header.fields["trace"]  # type: ignore[attr-defined]
        encoded = behavior == pcommon.HeaderCodecBehavior.CODEC
        assert header.metadata["encoding"] == (b"test/rev" if encoded else b"json/plain")


async def test_plugins_configure_the_client_and_its_connection(recorder: Recorder) -> None:
    seen: list[str] = []

    class Tenant(pc.Plugin):
        def configure_client(self, config: pc.ClientConfig) -> pc.ClientConfig:
            config["namespace"] = "tenant-ns"
            return config

        async def connect_service_client(
            self, config: pc.ConnectConfig, next: Callable[[pc.ConnectConfig], Awaitable[Any]]
        ) -> Any:
            seen.append(config.target_host)
            config.rpc_metadata = {**config.rpc_metadata, "x-tenant": "t1"}
            return await next(config)

    client = await pc.Client.connect(f"127.0.0.1:{recorder.port}", plugins=[Tenant()])
    assert client.namespace == "tenant-ns" and client.config()["namespace"] == "default"
    assert client.config(active_config=True)["namespace"] == "tenant-ns"
    await client.get_workflow_handle("wf").signal("s")
    [call] = recorder.take()
    assert call.request.namespace == "tenant-ns"  # type: ignore[attr-defined]
    assert call.metadata["x-tenant"] == "t1" and call.metadata["temporal-namespace"] == "tenant-ns"
    assert seen == [f"127.0.0.1:{recorder.port}"]
