"""The frontend under fuzz: every RPC gets random and malformed requests, built from its
protobuf descriptor by Hypothesis (wrong and huge values, invalid enums, negative
durations, deep failure chains, bad tokens, mismatched namespaces and run ids, mixed with
real ids and task tokens so that requests also reach the engine).

Each answer must be a success or a typed gRPC error: never UNKNOWN or INTERNAL, never a
hang, never a crash. Afterwards the store must be consistent: every history contiguous
and replayable into its run's mutable state, every current-run row, task and timer
pointing at a run that exists.

The short profile runs in the suite with a fixed seed. The long one, on demand:

    PERDURE_FUZZ=long pytest tests/server/frontend/test_fuzz.py -s

(PERDURE_FUZZ_EXAMPLES=N sets the number of requests; the count and the codes seen are
printed at the end.)
"""

from __future__ import annotations

import collections
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import message_pb2 as common_pb2
from temporalio.api.history.v1 import message_pb2 as history_pb2
from temporalio.api.taskqueue.v1 import message_pb2 as tq_pb2
from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

from perdure.server.engine import codec
from perdure.server.engine.state import ExecutionState
from perdure.server.frontend.rpc import SERVICES
from perdure.server.frontend.service import Frontend
from tests.server.engine.helpers import assert_rebuilds
from tests.servers import ServerProcess, start_perdure_server

LONG = os.environ.get("PERDURE_FUZZ", "").lower() == "long"
EXAMPLES = int(os.environ.get("PERDURE_FUZZ_EXAMPLES", "20000" if LONG else "400"))

pytestmark = pytest.mark.timeout(3600 if LONG else 300)

METHODS: list[tuple[str, str, type[Message], type[Message]]] = [
    (
        service,
        name[: -len("Request")],
        getattr(module, name),
        getattr(module, name[:-7] + "Response"),
    )
    for service, module in SERVICES
    for name in sorted(dir(module))
    if name.endswith("Request")
    and hasattr(module, name[:-7] + "Response")
    and hasattr(Frontend, name[: -len("Request")])
]
LONG_POLLS = {
    "PollWorkflowTaskQueue", "PollActivityTaskQueue", "PollWorkflowExecutionUpdate",
    "UpdateWorkflowExecution", "ExecuteMultiOperation", "GetWorkflowExecutionHistory",
    "QueryWorkflow",
}  # fmt: skip
TYPED_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.CANCELLED,
}  # fmt: skip
"""What bad input may be answered with; UNKNOWN, INTERNAL, UNAVAILABLE and DATA_LOSS are bugs."""


@dataclass
class Pools:
    """Real names and ids the fuzzer mixes in, so requests get past the first checks."""

    namespaces: list[str] = field(default_factory=lambda: ["default", "fuzz"])
    workflow_ids: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    task_queues: list[str] = field(default_factory=lambda: ["fuzz-tq", "fuzz-tq-2"])
    task_tokens: list[bytes] = field(default_factory=list)


POOLS = Pools()
SEEN: collections.Counter[str] = collections.Counter()


_CACHE: dict[str, st.SearchStrategy[Any]] = {}
"""Strategies by what they make: building them at each draw is slow."""


def _pick(pool: list[Any], empty: Any) -> st.SearchStrategy[Any]:
    """An element of `pool` as it is at draw time. The pools grow as the run goes on;
    drawing an index keeps the choices the same shape, as Hypothesis needs to replay."""
    return st.integers(0, 2**16).map(lambda i: pool[i % len(pool)] if pool else empty)


def _strings(name: str) -> st.SearchStrategy[str]:
    key = f"str:{name}"
    if key not in _CACHE:
        _CACHE[key] = _string_strategy(name, _POOL_OF.get(name))
    return _CACHE[key]


_POOL_OF = {
    "namespace": POOLS.namespaces,
    "workflow_id": POOLS.workflow_ids,
    "run_id": POOLS.run_ids,
    "first_execution_run_id": POOLS.run_ids,
    "name": POOLS.task_queues,
    "task_queue": POOLS.task_queues,
}


def _string_strategy(name: str, pool: list[str] | None) -> st.SearchStrategy[str]:
    junk = st.one_of(
        st.text(max_size=40),
        st.sampled_from(["", " ", "\x00", "a" * 1001, "ü" * 300, "default", "nope"]),
    )
    if name == "run_id":
        junk = st.one_of(junk, st.uuids().map(str))
    if name == "query":
        junk = st.one_of(junk, st.sampled_from(["WorkflowId = 'x'", "WorkflowType =", "((("]))
    if pool is not None:
        # Mostly real names, so that requests get past validation into the engine.
        real = _pick(pool, "")
        return st.one_of(real, real, real, junk)
    return junk


SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: st.one_of(st.integers(-5, 100), st.integers(-(2**63), 2**63 - 1)),
    FieldDescriptor.TYPE_SINT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: st.integers(0, 2**64 - 1),
    FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
}


_BYTES = st.binary(max_size=80)


def _value(data: st.DataObject, f: FieldDescriptor, depth: int) -> Any:
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        return _message(data, f.message_type, depth + 1)
    if f.type == FieldDescriptor.TYPE_ENUM:
        key = f"enum:{f.enum_type.full_name}"
        if key not in _CACHE:
            known = [v.number for v in f.enum_type.values]
            _CACHE[key] = st.one_of(st.sampled_from(known), st.integers(-3, 1000))
        return data.draw(_CACHE[key])
    if f.type == FieldDescriptor.TYPE_STRING:
        return data.draw(_strings(f.name))
    if f.type == FieldDescriptor.TYPE_BYTES:
        if "token" in f.name:
            if "tokens" not in _CACHE:
                _CACHE["tokens"] = st.one_of(_pick(POOLS.task_tokens, b""), _BYTES)
            return data.draw(_CACHE["tokens"])
        return data.draw(_BYTES)
    return data.draw(SCALARS[f.type])


def _failure_chain(data: st.DataObject) -> Message:
    """A failure whose causes nest deep (the engine walks them)."""
    from temporalio.api.failure.v1 import message_pb2 as failure_pb2

    depth = data.draw(st.integers(1, 60))
    failure = failure_pb2.Failure(message="bottom")
    for i in range(depth):
        failure = failure_pb2.Failure(message=f"level {i}", cause=failure)
    return failure


def _message(data: st.DataObject, descriptor: Descriptor, depth: int) -> Message:
    cls: type[Message] = _CLASSES[descriptor.full_name]
    if descriptor.full_name == "temporal.api.failure.v1.Failure" and data.draw(st.booleans()):
        return _failure_chain(data)
    msg = cls()
    if depth > 4:
        return msg
    # Of a oneof (a command's attributes), one member at most: setting several would
    # leave only the last.
    chosen = {
        o.name: data.draw(st.sampled_from([None, *(f.name for f in o.fields)]))
        for o in descriptor.oneofs
    }
    for f in descriptor.fields:
        oneof = f.containing_oneof
        if oneof is not None:
            if chosen[oneof.name] != f.name:
                continue
        elif not data.draw(st.booleans()):
            continue
        try:
            if f.message_type is not None and f.message_type.GetOptions().map_entry:
                key_f, value_f = (
                    f.message_type.fields_by_name["key"],
                    f.message_type.fields_by_name["value"],
                )
                target = getattr(msg, f.name)
                for _ in range(data.draw(st.integers(0, 2))):
                    key = _value(data, key_f, depth)
                    if value_f.type == FieldDescriptor.TYPE_MESSAGE:
                        target[key].CopyFrom(_value(data, value_f, depth))
                    else:
                        target[key] = _value(data, value_f, depth)
            elif f.is_repeated:
                target = getattr(msg, f.name)
                for _ in range(data.draw(st.integers(0, 3))):
                    value = _value(data, f, depth)
                    if f.type == FieldDescriptor.TYPE_MESSAGE:
                        target.add().CopyFrom(value)
                    else:
                        target.append(value)
            elif f.type == FieldDescriptor.TYPE_MESSAGE:
                getattr(msg, f.name).CopyFrom(_value(data, f, depth))
            else:
                setattr(msg, f.name, _value(data, f, depth))
        except (ValueError, TypeError):
            pass  # a value protobuf itself refuses (e.g. a float out of range): skip it
    return msg


def _all_classes() -> dict[str, type[Message]]:
    """Every message class reachable from the requests, by full name."""
    from google.protobuf import message_factory

    out: dict[str, type[Message]] = {}
    todo = [req.DESCRIPTOR for _, _, req, _ in METHODS]
    while todo:
        d = todo.pop()
        if d.full_name in out:
            continue
        out[d.full_name] = message_factory.GetMessageClass(d)
        todo.extend(f.message_type for f in d.fields if f.message_type is not None)
    return out


_CLASSES = _all_classes()


# --------------------------------------------------------------------------- the server


class Rpc:
    """Raw unary calls to a server, any method by name."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(
            target, options=[("grpc.max_send_message_length", 128 * 1024 * 1024)]
        )

    def __call__(
        self, service: str, method: str, request: Message, response: type[Message], timeout: float
    ) -> Message:
        call = self.channel.unary_unary(
            f"/{service}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response.FromString,
        )
        result: Message = call(request, timeout=timeout)
        return result


WF = "temporal.api.workflowservice.v1.WorkflowService"


def _seed(rpc: Rpc) -> None:
    """Real workflows, some with a workflow task started, for the fuzzer to find."""
    rpc(WF, "RegisterNamespace", rr.RegisterNamespaceRequest(namespace="fuzz"),
        rr.RegisterNamespaceResponse, 10)  # fmt: skip
    for i in range(6):
        wid = f"fuzz-wf-{i}"
        started = rpc(
            WF,
            "StartWorkflowExecution",
            rr.StartWorkflowExecutionRequest(
                namespace="default",
                workflow_id=wid,
                workflow_type=common_pb2.WorkflowType(name="Fuzzed"),
                task_queue=tq_pb2.TaskQueue(name=POOLS.task_queues[i % 2]),
                request_id=str(uuid.uuid4()),
            ),
            rr.StartWorkflowExecutionResponse,
            10,
        )
        POOLS.workflow_ids.append(wid)
        POOLS.run_ids.append(started.run_id)  # type: ignore[attr-defined]
    for name in POOLS.task_queues:
        polled = rpc(
            WF,
            "PollWorkflowTaskQueue",
            rr.PollWorkflowTaskQueueRequest(
                namespace="default", task_queue=tq_pb2.TaskQueue(name=name), identity="fuzz"
            ),
            rr.PollWorkflowTaskQueueResponse,
            10,
        )
        if polled.task_token:  # type: ignore[attr-defined]
            POOLS.task_tokens.append(polled.task_token)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Rpc]]:
    server = start_perdure_server(tmp_path_factory.mktemp("fuzz"))
    rpc = Rpc(server.target)
    try:
        _seed(rpc)
        yield server, rpc
    finally:
        rpc.channel.close()
        server.stop()


def _fuzz_settings() -> Any:
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not LONG,  # the suite's run is the same every time
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def test_every_rpc_answers_bad_input_with_a_typed_error(
    fuzz_server: tuple[ServerProcess, Rpc],
) -> None:
    server, rpc = fuzz_server

    @_fuzz_settings()
    @given(data=st.data(), which=st.integers(0, len(METHODS) - 1))
    def one_call(data: st.DataObject, which: int) -> None:
        service, method, request_cls, response_cls = METHODS[which]
        request = _message(data, request_cls.DESCRIPTOR, 0)
        # Long polls wait out their deadline when nothing comes: give them a short one.
        timeout = 0.5 if method in LONG_POLLS else 10.0
        try:
            response = rpc(service, method, request, response_cls, timeout)
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            SEEN[code.name] += 1
            if code == grpc.StatusCode.DEADLINE_EXCEEDED and timeout > 1:
                pytest.fail(f"{method} hung for {timeout}s:\n{request}")
            assert code in TYPED_ERRORS, (
                f"{method} answered {code.name}: {err.details()}\n"  # type: ignore[attr-defined]
                f"request: {str(request)[:3000]}"
            )
            assert server.process.poll() is None, f"server died:\n{server.log()[-5000:]}"
            return
        SEEN["OK"] += 1
        token = getattr(response, "task_token", b"")
        if token and len(POOLS.task_tokens) < 50:
            POOLS.task_tokens.append(token)
        run_id = getattr(response, "run_id", "")
        if run_id and len(POOLS.run_ids) < 200:
            POOLS.run_ids.append(run_id)

    try:
        one_call()
    finally:
        sent = sum(SEEN.values())
        print(f"\nfuzz: {sent} requests to {len(METHODS)} RPCs; answers: {dict(SEEN)}")
    assert server.process.poll() is None, f"server died:\n{server.log()[-5000:]}"
    rpc(WF, "GetSystemInfo", rr.GetSystemInfoRequest(), rr.GetSystemInfoResponse, 10)
    assert "internal error" not in server.log()
    _check_store(server.db_path)


def _check_store(db: Path | None) -> None:
    """Every history contiguous and replayable into its run's state; every current-run
    row, task and timer pointing at a run that exists."""
    assert db is not None
    conn = sqlite3.connect(db)
    try:
        runs = {
            (ns, run): (wid, state)
            for ns, wid, run, state in conn.execute(
                "SELECT namespace_id, workflow_id, run_id, state FROM executions"
            )
        }
        assert runs, "the seeded runs are gone"
        for (ns, run_id), (wid, blob) in runs.items():
            state = codec.decode(ExecutionState, blob)
            events: list[history_pb2.HistoryEvent] = []
            expected_first = 1
            for first, last, data in conn.execute(
                "SELECT first_event_id, last_event_id, data FROM history "
                "WHERE namespace_id = ? AND run_id = ? ORDER BY first_event_id",
                (ns, run_id),
            ):
                assert first == expected_first, f"{wid}/{run_id}: batch at {first}"
                batch = history_pb2.History.FromString(data).events
                assert [e.event_id for e in batch] == list(range(first, last + 1))
                events.extend(batch)
                expected_first = last + 1
            assert state.next_event_id == expected_first, f"{wid}/{run_id}: state vs history"
            assert_rebuilds(state, events)
        names = {(ns, run) for ns, run in runs}
        for table in ("current_executions", "tasks", "timers"):
            for ns, wid, run in conn.execute(
                f"SELECT namespace_id, workflow_id, run_id FROM {table}"
            ):
                assert (ns, run) in names, f"{table} row for missing run {wid}/{run}"
    finally:
        conn.close()


def _submessages(msg: Message) -> Iterator[Message]:
    for f, value in msg.ListFields():
        if f.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        values = value.values() if hasattr(value, "values") else value if f.is_repeated else [value]
        yield from (v for v in values if isinstance(v, Message))


def _has_negative_duration(msg: Message) -> bool:
    if msg.DESCRIPTOR.full_name == "google.protobuf.Duration":
        return bool(msg.seconds < 0)  # type: ignore[attr-defined]
    return any(_has_negative_duration(sub) for sub in _submessages(msg))


def _deepest_failure(msg: Message, depth: int = 0) -> int:
    """The longest chain of failures (a failure's cause is one deeper) in `msg`."""
    here = depth + (msg.DESCRIPTOR.full_name == "temporal.api.failure.v1.Failure")
    return max([here, *(_deepest_failure(sub, here) for sub in _submessages(msg))])


def test_the_generator_reaches_every_rpc_and_makes_bad_values() -> None:
    """The fuzzer is only as good as what it sends: every served RPC, and values
    protobuf accepts but the server must refuse."""
    assert len(METHODS) >= 40
    assert {"StartWorkflowExecution", "RespondWorkflowTaskCompleted", "AddSearchAttributes"} <= {
        m for _, m, _, _ in METHODS
    }
    seen: collections.Counter[str] = collections.Counter()
    known_commands = {v.number for v in rr.RespondWorkflowTaskCompletedRequest.DESCRIPTOR
                      .fields_by_name["commands"].message_type.fields_by_name["command_type"]
                      .enum_type.values}  # fmt: skip

    @settings(
        max_examples=300, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(st.data())
    def make(data: st.DataObject) -> None:
        msg = _message(data, rr.RespondWorkflowTaskCompletedRequest.DESCRIPTOR, 0)
        msg.SerializeToString()
        assert isinstance(msg, rr.RespondWorkflowTaskCompletedRequest)
        if any(c.command_type not in known_commands for c in msg.commands):
            seen["invalid enum"] += 1
        if _deepest_failure(msg) > 10:
            seen["deep failure"] += 1
        if msg.task_token and msg.task_token not in POOLS.task_tokens:
            seen["bad token"] += 1
        if _has_negative_duration(msg):
            seen["negative duration"] += 1

    make()
    assert set(seen) == {"invalid enum", "deep failure", "negative duration", "bad token"}, seen


def test_what_the_fuzzer_found_stays_fixed(fuzz_server: tuple[ServerProcess, Rpc]) -> None:
    """Each request once answered INTERNAL or UNAVAILABLE."""
    from google.protobuf import timestamp_pb2
    from temporalio.api.command.v1 import message_pb2 as command_pb2

    server, rpc = fuzz_server
    foreign = b"\x9a\x01\x01\xd9$not-a-page-token"

    def code(method: str, request: Message, response: type[Message]) -> str:
        try:
            rpc(WF, method, request, response, 10)
        except grpc.RpcError as err:
            return str(err.code().name)  # type: ignore[attr-defined]
        return "OK"

    # A page token from elsewhere: an empty page (as Temporal answers) ...
    assert code("ListNamespaces", rr.ListNamespacesRequest(next_page_token=foreign),
                rr.ListNamespacesResponse) == "OK"  # fmt: skip
    # ... or, for visibility, "Invalid NextPageToken." (Temporal: UNKNOWN).
    assert code("ScanWorkflowExecutions",
                rr.ScanWorkflowExecutionsRequest(namespace="default", next_page_token=foreign),
                rr.ScanWorkflowExecutionsResponse) == "INVALID_ARGUMENT"  # fmt: skip
    before_year_1 = timestamp_pb2.Timestamp(seconds=-62135596801)
    listing = rr.ListClosedWorkflowExecutionsRequest(namespace="default")
    listing.start_time_filter.latest_time.CopyFrom(before_year_1)
    assert code("ListClosedWorkflowExecutions", listing,
                rr.ListClosedWorkflowExecutionsResponse) == "OK"  # fmt: skip
    queue = f"found-{uuid.uuid4().hex[:8]}"
    rpc(WF, "StartWorkflowExecution", rr.StartWorkflowExecutionRequest(
        namespace="default", workflow_id=queue, workflow_type=common_pb2.WorkflowType(name="T"),
        task_queue=tq_pb2.TaskQueue(name=queue), request_id=queue,
    ), rr.StartWorkflowExecutionResponse, 10)  # fmt: skip
    polled = rpc(WF, "PollWorkflowTaskQueue", rr.PollWorkflowTaskQueueRequest(
        namespace="default", task_queue=tq_pb2.TaskQueue(name=queue), identity="found",
    ), rr.PollWorkflowTaskQueueResponse, 10)  # fmt: skip
    update = rr.UpdateWorkflowExecutionRequest(namespace="default")
    update.workflow_execution.workflow_id = queue
    update.wait_policy.lifecycle_stage = -1  # type: ignore[assignment]
    update.request.meta.update_id = "u"
    update.request.input.name = "u"
    assert code("UpdateWorkflowExecution", update,
                rr.UpdateWorkflowExecutionResponse) == "INVALID_ARGUMENT"  # fmt: skip
    completion = rr.RespondWorkflowTaskCompletedRequest(
        namespace="default",
        task_token=polled.task_token,  # type: ignore[attr-defined]
        commands=[command_pb2.Command(command_type=21)],  # type: ignore[arg-type]
    )
    answer = code("RespondWorkflowTaskCompleted", completion,
                  rr.RespondWorkflowTaskCompletedResponse)  # fmt: skip
    assert answer == "INVALID_ARGUMENT"
    # Timeouts and retentions of millennia (Temporal takes them) once overflowed the
    # store's 64-bit times.
    millennia = rr.StartWorkflowExecutionRequest(
        namespace="fuzz", workflow_id=f"long-{queue}", request_id=f"long-{queue}",
        workflow_type=common_pb2.WorkflowType(name="T"), task_queue=tq_pb2.TaskQueue(name=queue),
    )  # fmt: skip
    millennia.workflow_run_timeout.seconds = 315_576_000_000
    millennia.workflow_start_delay.seconds = 315_576_000_000
    assert code("StartWorkflowExecution", millennia, rr.StartWorkflowExecutionResponse) == "OK"
    assert server.process.poll() is None
    # A run id with another workflow's id: not found (its run was once deleted in part,
    # found through a cache keyed by run id alone).
    victim = rr.DescribeWorkflowExecutionRequest(namespace="fuzz")
    victim.execution.workflow_id = f"long-{queue}"
    described = rpc(WF, "DescribeWorkflowExecution", victim,
                    rr.DescribeWorkflowExecutionResponse, 10)  # fmt: skip
    run_id = described.workflow_execution_info.execution.run_id  # type: ignore[attr-defined]
    rpc(WF, "TerminateWorkflowExecution", rr.TerminateWorkflowExecutionRequest(
        namespace="fuzz", workflow_execution=common_pb2.WorkflowExecution(
            workflow_id=f"long-{queue}", run_id=run_id),
    ), rr.TerminateWorkflowExecutionResponse, 10)  # fmt: skip
    mismatched = rr.DeleteWorkflowExecutionRequest(namespace="fuzz")
    mismatched.workflow_execution.workflow_id = "someone-else"
    mismatched.workflow_execution.run_id = run_id
    assert code("DeleteWorkflowExecution", mismatched,
                rr.DeleteWorkflowExecutionResponse) == "NOT_FOUND"  # fmt: skip
    history = rr.GetWorkflowExecutionHistoryRequest(namespace="fuzz")
    history.execution.workflow_id = f"long-{queue}"
    history.execution.run_id = run_id
    events = rpc(WF, "GetWorkflowExecutionHistory", history,
                 rr.GetWorkflowExecutionHistoryResponse, 10)  # fmt: skip
    assert len(events.history.events) >= 2  # type: ignore[attr-defined]
