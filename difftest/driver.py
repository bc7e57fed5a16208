"""Run one program on one server: start the workflow, run a worker, fire the client
stimuli at their points, and collect what both servers are compared on. The worker and
client are the official SDK's, or Perdure's in the `perdure` profile (see sdk.py).

`python -m difftest.driver TARGET` serves programs over stdin/stdout, one JSON line each
way, so the SDK lives in a child process that ends with os._exit (sdk-python #300); the
`Runner` class is the parent's side of it, and picks the child's SDK.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import select
import subprocess
import sys
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import IndexedValueType, WorkflowExecutionStatus
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    ResetWorkflowExecutionRequest,
)

from difftest.interpreter import ACTIVITY, GATES, SEARCH_ATTRIBUTE, WORKFLOW, DiffTest, act
from difftest.program import Program
from difftest.sdk import ENV as SDK_ENV
from difftest.sdk import client as sdk_client
from difftest.sdk import exceptions, service, worker

Client = sdk_client.Client
WorkflowFailureError = sdk_client.WorkflowFailureError
WorkflowHandle = sdk_client.WorkflowHandle
WorkflowQueryFailedError = sdk_client.WorkflowQueryFailedError
WorkflowQueryRejectedError = sdk_client.WorkflowQueryRejectedError
WorkflowUpdateStage = sdk_client.WorkflowUpdateStage
FailureError = exceptions.FailureError
RPCError = service.RPCError
UnsandboxedWorkflowRunner = worker.UnsandboxedWorkflowRunner
Worker = worker.Worker

REPO = Path(__file__).resolve().parent.parent
POINT_TIMEOUT_S = 30.0
RESULT_TIMEOUT_S = 30.0
BACKGROUND_TIMEOUT_S = 8.0
CHILD_SETTLE_S = 3.0
STIMULUS_TIMEOUT_S = 15.0
"""A stimulus the driver waits for (an update on a stuck run) gives up after this long."""
ARRIVAL_S = 0.3
"""How long a stimulus sent in the background (an update or query while a task is held)
is given to reach the server before the next stimulus at the same point is sent, so
that both servers see them in the program's order."""
VISIBILITY_WAIT_S = 5.0
"""A list waits this long at most for visibility to show the run as describe does."""

_ = ACTIVITY


def describe_error(err: BaseException) -> dict[str, Any]:
    """What the client saw: the error's type, gRPC status, message and failure chain."""
    out: dict[str, Any] = {"type": type(err).__name__}
    if isinstance(err, RPCError):
        out["status"] = err.status.name
        out["message"] = err.message
        return out
    if isinstance(err, (WorkflowQueryFailedError, WorkflowQueryRejectedError)):
        out["message"] = str(err)
        return out
    chain: list[str] = []
    cur: BaseException | None = getattr(err, "cause", None)
    while cur is not None:
        name = type(cur).__name__
        ctype = getattr(cur, "type", None)
        if ctype:
            name += f"({getattr(ctype, 'name', ctype)})"
        msg = getattr(cur, "message", None) or str(cur)
        chain.append(f"{name}: {msg}")
        cur = cur.cause if isinstance(cur, FailureError) else None
    out["cause"] = chain
    if not chain:
        out["message"] = str(err)
    return out


class WorkerHost:
    """Workers on a thread and event loop of their own, in debug mode (no
    deadlock detector): a `hold` step blocks that loop, so the held workflow task stays
    open while the driver's loop keeps sending stimuli."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.workers: dict[str, tuple[Worker, concurrent.futures.Future[None]]] = {}
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = asyncio.run_coroutine_threadsafe(Client.connect(target), self.loop).result(30)

    def start(self, task_queue: str) -> None:
        async def make() -> Worker:
            return Worker(
                self.client,
                task_queue=task_queue,
                workflows=[DiffTest],
                activities=[act],
                workflow_runner=UnsandboxedWorkflowRunner(),
                debug_mode=True,
                graceful_shutdown_timeout=timedelta(seconds=1),
            )

        worker = asyncio.run_coroutine_threadsafe(make(), self.loop).result(30)
        self.workers[task_queue] = (
            worker,
            asyncio.run_coroutine_threadsafe(worker.run(), self.loop),
        )

    async def stop(self, task_queue: str) -> str:
        worker, running = self.workers.pop(task_queue)
        done = asyncio.run_coroutine_threadsafe(worker.shutdown(), self.loop)
        try:
            await asyncio.wait_for(asyncio.wrap_future(done), 20)
        except TimeoutError:
            return "shutdown-hang"
        running.cancel()
        return "stopped"


class ProgramRun:
    """One program on one server."""

    def __init__(self, client: Client, workers: WorkerHost, program: Program, token: str) -> None:
        self.client = client
        self.workers = workers
        self.program = program
        self.token = token
        self.wid = f"dt-{token}"
        self.tq = f"dt-{token}"
        self.handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(self.wid)
        self.results: dict[int, Any] = {}
        self.background: list[tuple[int, asyncio.Task[Any]]] = []
        self.reset_runs: list[str] = []
        """The runs resets started: their chains are collected too."""

    async def run(self) -> dict[str, Any]:
        out: dict[str, Any] = {"token": self.token, "points": {}}
        stimuli = list(enumerate(self.program.stimuli))
        first = await self.client.start_workflow(
            WORKFLOW, self.program.body, id=self.wid, task_queue=self.tq
        )
        first_run = first.result_run_id
        for i, st in stimuli:
            if st["at"] == "start":
                await self._fire(i, st, held=True)
        if self.background:
            await asyncio.sleep(0.5)  # let updates and queries reach the server first
        self.workers.start(self.tq)
        try:
            for point, kind in self.program.points():
                status = await self._wait_point(point, kind)
                out["points"][str(point)] = status
                if status != "reached":
                    if kind == "hold":
                        GATES.release(self.wid, point)
                    continue
                for i, st in stimuli:
                    if st["at"] == point:
                        await self._fire(i, st, held=kind == "hold")
                        if kind == "block":
                            # One stimulus at a time: the next one finds the workflow
                            # idle again, whatever the first one woke.
                            await self._settle(time.monotonic() + POINT_TIMEOUT_S)
                if kind == "hold":
                    if any(st["at"] == point for _, st in stimuli):
                        await asyncio.sleep(0.5)  # let queued updates and queries arrive
                    GATES.release(self.wid, point)
                else:
                    try:
                        await self.handle.signal("unblock", point)
                    except Exception as err:
                        out["points"][str(point)] = {"unblock": describe_error(err)}
            out["result"] = await self._result()
            for i, st in stimuli:
                if st["at"] == "end":
                    await self._fire(i, st, held=False)
                    # A signal-with-start may have started a run: let its task finish.
                    await self._settle(time.monotonic() + POINT_TIMEOUT_S)
                    if st["kind"] == "reset":  # the new run replays the program: to its end
                        out[f"reset{i}_result"] = await self._result()
            for i, task in self.background:
                try:
                    self.results[i] = await asyncio.wait_for(task, BACKGROUND_TIMEOUT_S)
                except TimeoutError:
                    self.results[i] = {"pending": True}
            out["stimuli"] = [self.results.get(i) for i, _ in stimuli]
            out["runs"], out["children"] = await self._histories(
                [first_run or "", *self.reset_runs]
            )
            out["describe"] = await self._describe_summary()
        finally:
            for point, kind in self.program.points():
                if kind == "hold":
                    GATES.release(self.wid, point)
            out["worker"] = await self.workers.stop(self.tq)
            try:
                await self.handle.terminate(reason="difftest cleanup")
            except Exception:
                pass
        return out

    async def _raw_describe(self, wid: str | None = None) -> Any:
        return await self.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.client.namespace,
                execution=WorkflowExecution(workflow_id=wid or self.wid),
            )
        )

    async def _wait_point(self, point: int, kind: str) -> str:
        deadline = time.monotonic() + POINT_TIMEOUT_S
        last_check = 0.0
        while time.monotonic() < deadline:
            if GATES.is_reached(self.wid, point):
                if kind == "block":
                    await self._settle(deadline)
                return "reached"
            if time.monotonic() - last_check > 0.5:
                last_check = time.monotonic()
                d = await self._raw_describe()
                if (
                    d.workflow_execution_info.status
                    != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
                ):
                    return "closed"
            await asyncio.sleep(0.05)
        return "timeout"

    async def _settle(self, deadline: float) -> None:
        """Wait until the task that reached the point is completed (none pending)."""
        while time.monotonic() < deadline:
            d = await self._raw_describe()
            if not d.HasField("pending_workflow_task"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)

    async def _fire(self, i: int, st: dict[str, Any], *, held: bool) -> None:
        kind = st["kind"]
        if held and kind in ("update", "query"):
            self.background.append((i, asyncio.ensure_future(self._stimulus(i, st, False))))
            if any(later["at"] == st["at"] for later in self.program.stimuli[i + 1 :]):
                await asyncio.sleep(ARRIVAL_S)
            return
        try:
            self.results[i] = await asyncio.wait_for(
                self._stimulus(i, st, True), STIMULUS_TIMEOUT_S
            )
        except TimeoutError:
            self.results[i] = {"pending": True}

    async def _stimulus(self, i: int, st: dict[str, Any], split: bool) -> Any:
        kind = st["kind"]
        try:
            if kind == "signal":
                await self.handle.signal(st.get("handler", "sig"), st["name"])
                return {"ok": None}
            if kind == "signal_with_start":
                h = await self.client.start_workflow(
                    WORKFLOW,
                    {"steps": []},
                    id=self.wid,
                    task_queue=self.tq,
                    start_signal="sig",
                    start_signal_args=[st["name"]],
                )
                return {"ok": "same-run" if h.result_run_id is None else "run"}
            if kind == "query":
                return {"ok": await self.handle.query(st["name"])}
            if kind == "cancel":
                await self.handle.cancel()
                return {"ok": None}
            if kind == "terminate":
                await self.handle.terminate(reason=st.get("reason"))
                return {"ok": None}
            if kind == "describe":
                return {"ok": await self._describe_summary()}
            if kind == "list":
                return {"ok": await self._list()}
            if kind == "reset":
                return {"ok": await self._reset(i, st["at"])}
            if kind == "update":
                name = st.get("name", "upd")
                spec = {"kind": st["spec"], "id": i, "signal": st.get("signal", "x")}
                if split and st.get("stage") == "accepted":
                    update = await self.handle.start_update(
                        name, spec, id=f"u{i}", wait_for_stage=WorkflowUpdateStage.ACCEPTED
                    )
                    self.background.append((i, asyncio.ensure_future(self._update_result(update))))
                    return {"accepted": True}
                return {"ok": await self.handle.execute_update(name, spec, id=f"u{i}")}
        except Exception as err:
            return {"error": describe_error(err)}
        raise ValueError(f"unknown stimulus {kind}")

    async def _reset(self, i: int, at: Any) -> str:
        """Reset the current run to its first completed workflow task; at a block point,
        wait until the new run, replaying the program, is back at that point."""
        run_id = (await self._raw_describe()).workflow_execution_info.execution.run_id
        events = await self._history(self.wid, run_id)
        finish = next(
            (e["eventId"] for e in events if e["eventType"].endswith("WORKFLOW_TASK_COMPLETED")),
            None,
        )
        if finish is None:
            return "no completed workflow task"
        if isinstance(at, int):
            GATES.forget(self.wid, at)
        resp = await self.client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=self.client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=self.wid, run_id=run_id),
                reason="difftest reset",
                workflow_task_finish_event_id=int(finish),
                request_id=f"reset-{self.token}-{i}",
            )
        )
        self.reset_runs.append(resp.run_id)
        if isinstance(at, int):
            status = await self._wait_point(at, "block")
            return "reset" if status == "reached" else f"reset, then the point: {status}"
        return "reset"

    async def _list(self) -> list[list[Any]]:
        """The run chain as visibility lists it, once it shows the current run as describe
        does (visibility may lag)."""
        deadline = time.monotonic() + VISIBILITY_WAIT_S
        while True:
            d = await self._describe_summary()
            rows = [
                [
                    e.run_id,
                    e.status.name if e.status else None,
                    e.workflow_type,
                    (e.search_attributes.get(SEARCH_ATTRIBUTE) or [None])[0],
                ]
                async for e in self.client.list_workflows(f"WorkflowId = '{self.wid}'")
            ]
            current = next((r for r in rows if r[0] == d["run_id"]), None)
            caught_up = current is not None and current[1:] == [
                d["status"].removeprefix("WORKFLOW_EXECUTION_STATUS_"),
                WORKFLOW,
                d["search_attributes"].get(SEARCH_ATTRIBUTE),
            ]
            if caught_up or time.monotonic() > deadline:
                # Run ids differ between servers; what a row says is what is compared.
                return sorted(r[1:] for r in rows)
            await asyncio.sleep(0.2)

    async def _update_result(self, h: Any) -> Any:
        try:
            return {"accepted": True, "ok": await h.result()}
        except Exception as err:
            return {"accepted": True, "error": describe_error(err)}

    async def _result(self) -> dict[str, Any]:
        try:
            value = await asyncio.wait_for(self.handle.result(follow_runs=True), RESULT_TIMEOUT_S)
            return {"ok": value}
        except TimeoutError:
            return {"still_running": True}
        except WorkflowFailureError as err:
            return {"error": describe_error(err)}
        except Exception as err:
            return {"error": describe_error(err)}

    async def _history(self, wid: str, run_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token = b""
        while True:
            resp = await self.client.workflow_service.get_workflow_execution_history(
                GetWorkflowExecutionHistoryRequest(
                    namespace=self.client.namespace,
                    execution=WorkflowExecution(workflow_id=wid, run_id=run_id),
                    next_page_token=token,
                )
            )
            events.extend(MessageToDict(e) for e in resp.history.events)
            token = resp.next_page_token
            if not token:
                return events

    async def _histories(
        self, chains: list[str]
    ) -> tuple[list[list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
        """Every run of each chain (the first run's, then each reset's), and the children."""
        runs: list[list[dict[str, Any]]] = []
        children: dict[str, list[dict[str, Any]]] = {}
        child_ids: list[tuple[str, str]] = []
        seen: set[str] = set()
        for first in chains:
            run_id: str | None = first
            while run_id is not None and run_id not in seen and len(runs) < 10:
                seen.add(run_id)
                events = await self._history(self.wid, run_id)
                runs.append(events)
                run_id = None
                for e in events:
                    started = e.get("childWorkflowExecutionStartedEventAttributes")
                    if started:
                        ex = started["workflowExecution"]
                        child_ids.append((ex["workflowId"], ex["runId"]))
                    can = e.get("workflowExecutionContinuedAsNewEventAttributes")
                    if can:
                        run_id = can["newExecutionRunId"]
        for cid, crun in child_ids:
            child = self.client.get_workflow_handle(cid, run_id=crun)
            try:
                await asyncio.wait_for(child.result(), CHILD_SETTLE_S)
            except Exception:
                pass
            try:  # an abandoned child waits for ever: end it the same way on both servers
                await child.terminate(reason="difftest cleanup")
            except Exception:
                pass
            # A reset run starts its children again, under the same ids.
            key = cid if cid not in children else f"{cid}#{len(children)}"
            children[key] = await self._history(cid, crun)
        return runs, children

    async def _describe_summary(self) -> dict[str, Any]:
        d = await self._raw_describe()
        info = d.workflow_execution_info
        return {
            "status": WorkflowExecutionStatus.Name(info.status),
            "history_length": info.history_length,
            "pending_activities": sorted(
                (p.activity_type.name, p.attempt) for p in d.pending_activities
            ),
            "pending_children": len(d.pending_children),
            "memo": {k: _decode(v) for k, v in sorted(info.memo.fields.items())},
            "search_attributes": {
                k: _decode(v) for k, v in sorted(info.search_attributes.indexed_fields.items())
            },
            "run_id": info.execution.run_id,
            "auto_reset_points": [
                [p.build_id, p.run_id, p.first_workflow_task_completed_id, p.resettable]
                for p in info.auto_reset_points.points
            ],
        }


def _decode(payload: Any) -> Any:
    try:
        return json.loads(payload.data)
    except ValueError:
        return repr(payload.data)


async def _register_search_attribute(client: Any) -> None:
    """The keyword search attribute programs upsert; already there after the first driver."""
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={SEARCH_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
            )
        )
    except RPCError as err:
        if "already" not in err.message.lower():
            raise


async def _serve(target: str, out: IO[str]) -> None:
    client = await Client.connect(target)
    await _register_search_attribute(client)
    workers = WorkerHost(target)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        req = json.loads(line)
        try:
            program = Program.from_json(req["program"])
            result = await asyncio.wait_for(
                ProgramRun(client, workers, program, req["token"]).run(), req.get("limit", 150)
            )
        except BaseException as err:  # the parent reports it as the program's outcome
            result = {"crash": "".join(traceback.format_exception(err))[-3000:]}
        out.write(json.dumps(result, default=str) + "\n")
        out.flush()


def main() -> None:
    # The protocol owns the real stdout; anything else printed goes to stderr.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        asyncio.run(_serve(sys.argv[1], proto))
    finally:
        proto.flush()
        sys.stderr.flush()
        os._exit(0)


class Runner:
    """The parent's handle on one driver child process bound to one server."""

    def __init__(self, target: str, log_path: Path, sdk: str = "temporalio") -> None:
        self.target = target
        self.log_path = log_path
        self.sdk = sdk
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
            SDK_ENV: self.sdk,
        }
        self.log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "difftest.driver", self.target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            cwd=REPO,
        )

    def send(self, program: Program, token: str, limit: float = 150) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        req = {"program": program.to_json(), "token": token, "limit": limit}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            return {"crash": f"no answer within {timeout}s"}
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            return {"crash": "driver exited"}
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


if __name__ == "__main__":
    main()
