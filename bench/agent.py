"""The benchmark's worker and load-driver processes (one SDK each).

    python -m bench.agent worker --sdk temporalio|perdure --target HOST:PORT
    python -m bench.agent drive  --sdk ... --target ... --workload W1 --count 2000 ...

They run apart from the server and from each other so that /proc tells each one's cost.
The driver talks to the orchestrator over its pipes: it prints ``MARK <phase>`` and waits
for a line on stdin (the orchestrator samples CPU meanwhile), and finally ``RESULT <json>``.
Both end with ``os._exit`` because temporalio 1.35 sometimes aborts at interpreter exit.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import os
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

TASK_QUEUE = "bench"  # the same as bench.workflows.TASK_QUEUE
SLEEP_SECONDS = 2.0
# Workload -> (workflow name, argument); W3 and W4 have their own shapes.
SEQUENTIAL_STEPS = {"W1": 1, "W2": 10, "W6": 100}
FAN_OUT = 100
SCHEDULE_SECONDS = 60.0
"""W7: how long the schedules fire in the measured phase."""
UNPOLLED_QUEUE = "bench-w7-unpolled"
"""W7's scheduled workflows go to a queue no worker polls: the scheduler's own cost and
lateness are measured, not the running of 1,000 workflows a second."""


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds; empty when nothing was measured."""
    if not values:
        return {}
    return {f"p{p}": round(percentile(values, p) * 1000, 2) for p in (50, 95, 99)} | {
        "max": round(max(values) * 1000, 2),
        "n": len(values),
    }


async def _connect(sdk: str, target: str) -> Any:
    client_mod = importlib.import_module(f"{sdk}.client")
    return await client_mod.Client.connect(target)


# --- worker -------------------------------------------------------------------------------


async def run_worker(sdk: str, target: str) -> None:
    """One worker for every benchmark workflow, with settings identical for both SDKs."""
    os.environ["BENCH_SDK"] = sdk
    worker_mod = importlib.import_module(f"{sdk}.worker")
    defs = importlib.import_module("bench.workflows")
    client = await _connect(sdk, target)
    worker = worker_mod.Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=defs.WORKFLOWS,
        activities=[defs.noop],
        # No module re-import sandbox in either SDK: compare the engines, not the sandbox.
        workflow_runner=worker_mod.UnsandboxedWorkflowRunner(),
        max_cached_workflows=2500,  # W3 keeps 2,000 runs open at once
        max_concurrent_workflow_tasks=100,
        max_concurrent_activities=100,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.5)  # let the pollers reach the server
    if task.done():
        task.result()
    print("READY", flush=True)
    await asyncio.wait([task, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED")
    if task.done():
        task.result()
    await asyncio.wait_for(worker.shutdown(), 20)


# --- driver -------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one phase measured."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    elapsed: float = 0.0

    def fail(self, exc: BaseException) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = f"{type(exc).__name__}: {exc}"[:500]

    def result(self, steps_per_workflow: int = 0) -> dict[str, Any]:
        done = len(self.latencies)
        out: dict[str, Any] = {
            "completed": done,
            "errors": self.errors,
            "elapsed_s": round(self.elapsed, 3),
            "latency_ms": summarize(self.latencies),
        }
        if self.first_error:
            out["first_error"] = self.first_error
        if self.elapsed > 0:
            out["workflows_per_s"] = round(done / self.elapsed, 2)
            if steps_per_workflow:
                out["activities_per_s"] = round(done * steps_per_workflow / self.elapsed, 1)
        return out


async def _mark(name: str) -> None:
    """Tell the orchestrator a phase boundary and wait until it has sampled the processes."""
    print(f"MARK {name}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def _pool(count: int, in_flight: int, one: Callable[[int], Awaitable[float]]) -> Phase:
    """Run `one(i)` for i < count with `in_flight` at a time; latency of each."""
    phase = Phase()
    next_index = 0

    async def slot() -> None:
        nonlocal next_index
        while next_index < count:
            i = next_index
            next_index += 1
            try:
                phase.latencies.append(await one(i))
            except Exception as exc:
                phase.fail(exc)

    started = time.perf_counter()
    await asyncio.gather(*(slot() for _ in range(min(in_flight, count))))
    phase.elapsed = time.perf_counter() - started
    return phase


class Driver:
    """Starts workflows of one workload through one client and times them."""

    def __init__(self, client: Any, workload: str, sdk: str = "temporalio") -> None:
        self.client = client
        self.workload = workload
        self.sdk = sdk
        self.prefix = f"{workload}-{uuid.uuid4().hex[:8]}"

    def _id(self, tag: str, i: int) -> str:
        return f"{self.prefix}-{tag}-{i}"

    async def one(self, tag: str, i: int) -> float:
        """One workflow end to end; W4 times only signal -> result."""
        wid = self._id(tag, i)
        if self.workload == "W4":
            handle = await self.client.start_workflow("SignalWaiter", id=wid, task_queue=TASK_QUEUE)
            await handle.query("ready")  # answered once the workflow is waiting
            started = time.perf_counter()
            await handle.signal("go")
            await handle.result()
            return time.perf_counter() - started
        if self.workload == "W5":
            name, arg = "FanOut", FAN_OUT
        elif self.workload == "W3":
            name, arg = "Sleeper", 0.05  # only used to warm up
        else:
            name, arg = "Sequential", SEQUENTIAL_STEPS[self.workload]
        started = time.perf_counter()
        await self.client.execute_workflow(name, arg, id=wid, task_queue=TASK_QUEUE)
        return time.perf_counter() - started

    async def timers(
        self, count: int, in_flight: int, sleep: float = SLEEP_SECONDS, sample: int = 0,
        sample_sleep: float = SLEEP_SECONDS,
    ) -> dict[str, Any]:  # fmt: skip
        """W3: start `count` sleepers as fast as possible, then read each timer's lateness.

        With `sample`, the `count` sleepers only keep timers pending (none is waited for):
        `sample` more, sleeping `sample_sleep`, are started evenly among them and only
        those are awaited and measured (W3 at scale: 100,000 one-hour timers)."""
        handles: list[Any] = []
        phase = Phase()
        every = (count + sample) // sample if sample else 0

        async def start(i: int) -> float:
            measured = not sample or (i % every == 0 and i // every < sample)
            handle = await self.client.start_workflow(
                "Sleeper", sample_sleep if sample and measured else sleep,
                id=self._id("t", i), task_queue=TASK_QUEUE,
            )  # fmt: skip
            if measured:
                handles.append(handle)
            return 0.0

        began = time.perf_counter()
        starting = await _pool(count + sample, in_flight, start)
        start_elapsed = time.perf_counter() - began
        started = count + sample - starting.errors

        async def wait(i: int) -> float:
            await handles[i].result()
            return time.perf_counter() - began

        waited = await _pool(len(handles), in_flight, wait)
        phase.elapsed = time.perf_counter() - began
        await _mark("end")  # reading the histories below is bookkeeping, not the workload
        phase.latencies = waited.latencies
        phase.errors = starting.errors + waited.errors
        phase.first_error = starting.first_error or waited.first_error
        fired: list[float] = []
        resumed: list[float] = []

        async def lateness(i: int) -> float:
            f, r = timer_lateness(await handles[i].fetch_history())
            fired.append(f)
            if r is not None:
                resumed.append(r)
            return 0.0

        history = await _pool(len(handles), 20, lateness)
        out = phase.result()
        out.pop("latency_ms")
        out["start_rate_per_s"] = round(started / start_elapsed, 1)
        out["started"] = started
        out["timer_fired_late_ms"] = summarize(fired)
        out["timer_resumed_late_ms"] = summarize(resumed)
        if history.errors:
            out["history_errors"] = history.errors
            out.setdefault("first_error", history.first_error)
        return out

    async def schedules(self, count: int, in_flight: int) -> dict[str, Any]:
        """W7: `count` schedules firing every second (ALLOW_ALL) for a minute; then each
        schedule's recent actions tell how late its fires started."""
        c = importlib.import_module(f"{self.sdk}.client")
        ids = [self._id("s", i) for i in range(count)]
        created: dict[str, float] = {}

        async def create(i: int) -> float:
            await self.client.create_schedule(
                ids[i],
                c.Schedule(
                    action=c.ScheduleActionStartWorkflow(
                        "Sequential", 0, id=ids[i], task_queue=UNPOLLED_QUEUE
                    ),
                    spec=c.ScheduleSpec(
                        intervals=[c.ScheduleIntervalSpec(every=timedelta(seconds=1))]
                    ),
                    policy=c.SchedulePolicy(overlap=c.ScheduleOverlapPolicy.ALLOW_ALL),
                ),
            )
            created[ids[i]] = time.time()
            return 0.0

        creating = await _pool(count, in_flight, create)
        await _mark("loaded")
        await asyncio.sleep(SCHEDULE_SECONDS)
        await _mark("end")
        late: list[float] = []
        fired = due = 0

        async def read(i: int) -> float:
            nonlocal fired, due
            if ids[i] not in created:
                return 0.0
            d = await self.client.get_schedule_handle(ids[i]).describe()
            fired += d.info.num_actions
            due += int(time.time() - created[ids[i]])
            for action in d.info.recent_actions:
                late.append((action.started_at - action.scheduled_at).total_seconds())
            return 0.0

        reading = await _pool(count, 20, read)
        out: dict[str, Any] = {
            "schedules": len(created),
            "fire_late_ms": summarize(late),
            "fires_taken_ratio": round(fired / due, 3) if due else None,
        }
        errors = creating.errors + reading.errors
        if errors:
            out["errors"] = errors
            out["first_error"] = creating.first_error or reading.first_error
        return out


def timer_lateness(history: Any) -> tuple[float, float | None]:
    """Seconds from the timer's due time to TimerFired, and to the next WFT started."""
    from temporalio.api.enums.v1 import EventType

    due = fired = resumed = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            timeout = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            due = event.event_time.ToDatetime() + timeout
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            fired = event.event_time.ToDatetime()
        elif fired is not None and event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            resumed = event.event_time.ToDatetime()
            break
    if due is None or fired is None:
        raise RuntimeError("history has no fired timer")
    late = (fired - due) / timedelta(seconds=1)
    return late, None if resumed is None else (resumed - due) / timedelta(seconds=1)


async def run_driver(args: argparse.Namespace) -> dict[str, Any]:
    client = await _connect(args.sdk, args.target)
    driver = Driver(client, args.workload, args.sdk)
    result: dict[str, Any] = {}
    steps = SEQUENTIAL_STEPS.get(args.workload, FAN_OUT if args.workload == "W5" else 0)
    if args.warmup:
        warm = await _pool(args.warmup, min(args.warmup, 20), lambda i: driver.one("w", i))
        result["warmup"] = warm.result()
        if warm.errors == args.warmup:
            raise RuntimeError(f"every warm-up workflow failed: {warm.first_error}")
    if args.workload == "W7":  # marks "unloaded" before creating, "loaded", "end"
        await _mark("unloaded")
        result["loaded"] = await driver.schedules(args.count, args.in_flight)
        return result
    await _mark("unloaded")
    if args.unloaded and args.workload != "W3":
        unloaded = await _pool(args.unloaded, 1, lambda i: driver.one("u", i))
        result["unloaded"] = unloaded.result(steps)
    await _mark("loaded")
    if args.workload == "W3":
        result["loaded"] = await driver.timers(
            args.count, args.in_flight, args.sleep, args.sample, args.sample_sleep
        )  # marks "end"
    else:
        loaded = await _pool(args.count, args.in_flight, lambda i: driver.one("l", i))
        result["loaded"] = loaded.result(steps)
        await _mark("end")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.agent")
    parser.add_argument("role", choices=["worker", "drive"])
    parser.add_argument("--sdk", choices=["temporalio", "perdure"], required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--workload", default="W1")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--unloaded", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--sleep", type=float, default=SLEEP_SECONDS, help="W3 timer (s)")
    parser.add_argument("--sample", type=int, default=0, help="W3: measured sleepers")
    parser.add_argument("--sample-sleep", type=float, default=60.0, help="their timer (s)")
    args = parser.parse_args()
    code = 0
    try:
        if args.role == "worker":
            asyncio.run(run_worker(args.sdk, args.target))
        else:
            print("RESULT " + json.dumps(asyncio.run(run_driver(args))), flush=True)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
