"""The one workflow that runs every generated program, its activity, and the side channel
through which the driver learns where a run is and holds a workflow task open.

A program's body is plain JSON (see program.py), so the same workflow class runs any
program on any server, and a saved regression needs no code.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

from difftest.sdk import activity, common, exceptions, workflow

RetryPolicy = common.RetryPolicy
ActivityError = exceptions.ActivityError
ApplicationError = exceptions.ApplicationError
ChildWorkflowError = exceptions.ChildWorkflowError
FailureError = exceptions.FailureError
ActivityCancellationType = workflow.ActivityCancellationType
ChildWorkflowCancellationType = workflow.ChildWorkflowCancellationType
ParentClosePolicy = workflow.ParentClosePolicy

WORKFLOW = "DiffTest"
ACTIVITY = "act"
SEARCH_ATTRIBUTE = "DiffKeyword"
"""The keyword search attribute `search_attr` steps upsert (the driver registers it)."""
HOLD_LIMIT_S = 20.0
"""A held task is released after this long even if the driver never answers."""


class Gates:
    """Where each workflow reached (block and hold points) and the held tasks' releases.

    Process-global because workflow instances are built by the SDK; keyed by workflow id
    and point, which programs keep unique.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reached: dict[tuple[str, int], threading.Event] = {}
        self._release: dict[tuple[str, int], threading.Event] = {}
        self._held: set[tuple[str, int]] = set()

    def _event(
        self, table: dict[tuple[str, int], threading.Event], key: tuple[str, int]
    ) -> threading.Event:
        with self._lock:
            return table.setdefault(key, threading.Event())

    def reached(self, workflow_id: str, point: int) -> None:
        self._event(self._reached, (workflow_id, point)).set()

    def forget(self, workflow_id: str, point: int) -> None:
        """The point is to be reached again (by the run a reset starts)."""
        with self._lock:
            self._reached.pop((workflow_id, point), None)

    def is_reached(self, workflow_id: str, point: int) -> bool:
        return self._event(self._reached, (workflow_id, point)).is_set()

    def hold(self, workflow_id: str, point: int) -> None:
        """Block the workflow task (this thread) until the driver releases the point; once."""
        key = (workflow_id, point)
        with self._lock:
            if key in self._held:
                return
            self._held.add(key)
        release = self._event(self._release, key)
        self.reached(workflow_id, point)
        release.wait(HOLD_LIMIT_S)

    def release(self, workflow_id: str, point: int) -> None:
        self._event(self._release, (workflow_id, point)).set()


GATES = Gates()


def _describe_error(err: BaseException) -> str:
    """A short, server-independent name for a failure chain (types and timeout types)."""
    parts: list[str] = []
    cur: BaseException | None = err
    while cur is not None:
        name = type(cur).__name__
        if isinstance(cur, ApplicationError) and cur.type:
            name += f"({cur.type})"
        t = getattr(cur, "type", None)
        if type(cur).__name__ == "TimeoutError" and t is not None:
            name += f"({getattr(t, 'name', t)})"
        parts.append(name)
        cur = cur.cause if isinstance(cur, FailureError) else None
    return "/".join(parts)


@activity.defn(name=ACTIVITY)
async def act(spec: dict[str, Any]) -> str:
    """Behaves as the spec says: succeed, fail n times, fail for good, outlive its
    timeouts, heartbeat, or wait for its cancellation."""
    kind = spec["kind"]
    info = activity.info()
    if kind == "ok":
        return f"ok{spec.get('n', 0)}"
    if kind == "fail_n":
        if info.attempt <= spec["n"]:
            raise ApplicationError(f"attempt {info.attempt} fails", type="Flaky")
        return f"ok-after-{info.attempt - 1}"
    if kind == "nonretry":
        raise ApplicationError("fails for good", type="Fatal", non_retryable=True)
    if kind == "slow":  # outlives start-to-close
        await asyncio.sleep(4)
        return "late"
    if kind == "heartbeat":
        for i in range(spec.get("n", 2)):
            activity.heartbeat(i)
            await asyncio.sleep(0.1)
        return "beat"
    if kind == "heartbeat_stop":  # heartbeats once, then goes silent past the timeout
        activity.heartbeat("once")
        await asyncio.sleep(4)
        return "late"
    if kind == "wait_cancel":
        deadline = time.monotonic() + spec.get("n", 8)
        try:
            while time.monotonic() < deadline:
                activity.heartbeat()
                await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            raise
        return "not-cancelled"
    raise ApplicationError(f"unknown activity kind {kind}", non_retryable=True)


_CANCEL_TYPES = {
    "TRY_CANCEL": ActivityCancellationType.TRY_CANCEL,
    "WAIT_CANCELLATION_COMPLETED": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    "ABANDON": ActivityCancellationType.ABANDON,
}
_CHILD_CANCEL_TYPES = {
    "TRY_CANCEL": ChildWorkflowCancellationType.TRY_CANCEL,
    "WAIT_CANCELLATION_COMPLETED": ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
    "ABANDON": ChildWorkflowCancellationType.ABANDON,
    "WAIT_CANCELLATION_REQUESTED": ChildWorkflowCancellationType.WAIT_CANCELLATION_REQUESTED,
}
_POLICIES = {
    "TERMINATE": ParentClosePolicy.TERMINATE,
    "ABANDON": ParentClosePolicy.ABANDON,
    "REQUEST_CANCEL": ParentClosePolicy.REQUEST_CANCEL,
}


@workflow.defn(name=WORKFLOW, sandboxed=False)
class DiffTest:
    """Interprets a program body: steps, then an ending."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.unblocked: set[int] = set()
        self.signals: dict[str, int] = {}
        self.children = 0

    @workflow.run
    async def run(self, body: dict[str, Any]) -> list[str]:
        try:
            await self._steps(body.get("steps", []))
        except asyncio.CancelledError:
            if body.get("on_cancel") == "complete":
                self.log.append("cancelled")
                return self.log
            raise
        end = body.get("end", {"kind": "complete"})
        if end["kind"] == "fail":
            raise ApplicationError("the program fails", type="ProgramFailed", non_retryable=True)
        if end["kind"] == "continue_as_new":
            workflow.continue_as_new(end["next"])
        return self.log

    async def _steps(self, steps: list[dict[str, Any]]) -> None:
        for step in steps:
            await self._step(step)

    async def _step(self, s: dict[str, Any]) -> None:
        op = s["op"]
        wid = workflow.info().workflow_id
        if op == "activity":
            self.log.append(await self._activity(s))
        elif op == "activity_cancel":
            self.log.append(await self._activity_cancel(s))
        elif op == "timer":
            await workflow.sleep(s["seconds"])
            self.log.append(f"timer{s['seconds']}")
        elif op == "timer_cancel":
            long = asyncio.ensure_future(workflow.sleep(60))
            await workflow.sleep(s["seconds"])
            long.cancel()
            try:
                await long
            except asyncio.CancelledError:
                self.log.append("timer-cancelled")
        elif op == "block":
            if not workflow.unsafe.is_replaying():
                GATES.reached(wid, s["point"])
            await workflow.wait_condition(lambda: s["point"] in self.unblocked)
            self.log.append(f"unblocked{s['point']}")
        elif op == "hold":
            if not workflow.unsafe.is_replaying():
                GATES.hold(wid, s["point"])
            self.log.append(f"held{s['point']}")
        elif op == "wait_signal":
            name = s["name"]
            await workflow.wait_condition(lambda: self.signals.get(name, 0) > 0)
            self.log.append(f"got-{name}")
        elif op == "group":
            results = await asyncio.gather(
                *(self._steps(b) for b in s["branches"]), return_exceptions=True
            )
            for r in results:
                if isinstance(r, asyncio.CancelledError):
                    raise r
                if isinstance(r, BaseException):
                    self.log.append(f"branch-error:{_describe_error(r)}")
        elif op == "patched":
            self.log.append(f"patched-{s['id']}:{workflow.patched(s['id'])}")
        elif op == "memo":
            workflow.upsert_memo({"k": s["value"]})
            self.log.append(f"memo-{s['value']}")
        elif op == "search_attr":
            key = common.SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE)
            workflow.upsert_search_attributes([key.value_set(s["value"])])
            self.log.append(f"search-attr-{s['value']}")
        elif op == "child":
            self.log.append(await self._child(s))
        elif op == "register":
            # Handlers registered late: signals sent before are buffered by the SDK and
            # delivered now; updates sent before were rejected.
            workflow.set_signal_handler("late", self._late_signal)
            workflow.set_update_handler("late", self._late_update)
            self.log.append("registered")
        elif op == "info":
            info = workflow.info()
            first = info.first_execution_run_id == info.run_id
            self.log.append(
                f"info:attempt={info.attempt},continued={bool(info.continued_run_id)},"
                f"parent={info.parent is not None},first={first},"
                f"type={info.workflow_type},cron={info.cron_schedule!r}"
            )
        else:
            raise ApplicationError(f"unknown op {op}", non_retryable=True)

    async def _activity(self, s: dict[str, Any]) -> str:
        kind = s["kind"]
        retry = RetryPolicy(
            initial_interval=timedelta(milliseconds=200),
            backoff_coefficient=1.0,
            maximum_attempts=s.get("attempts", 5),
        )
        opts: dict[str, Any] = {"retry_policy": retry}
        spec = {"kind": kind, "n": s.get("n", 0)}
        if kind in ("slow", "heartbeat_stop"):
            retry = RetryPolicy(maximum_attempts=1)
            opts = {"retry_policy": retry, "start_to_close_timeout": timedelta(seconds=1)}
            if kind == "heartbeat_stop":
                opts = {
                    "retry_policy": retry,
                    "start_to_close_timeout": timedelta(seconds=10),
                    "heartbeat_timeout": timedelta(seconds=1),
                }
        elif kind == "unpolled":  # a task queue no worker polls
            spec = {"kind": "ok"}
            opts = {
                "retry_policy": RetryPolicy(maximum_attempts=1),
                "task_queue": workflow.info().task_queue + "-nobody",
                "schedule_to_close_timeout": timedelta(seconds=1),
            }
            if s.get("n", 0):
                opts["schedule_to_start_timeout"] = timedelta(seconds=1)
                opts["start_to_close_timeout"] = timedelta(seconds=5)
                del opts["schedule_to_close_timeout"]
        else:
            opts["start_to_close_timeout"] = timedelta(seconds=10)
        try:
            if s.get("local"):
                opts.pop("task_queue", None)
                opts.pop("heartbeat_timeout", None)
                opts.pop("schedule_to_start_timeout", None)
                result = await workflow.execute_local_activity(ACTIVITY, spec, **opts)
            else:
                result = await workflow.execute_activity(ACTIVITY, spec, **opts)
        except ActivityError as err:
            if s.get("raise"):
                raise
            return f"activity-error:{_describe_error(err)}"
        return f"activity:{result}"

    async def _activity_cancel(self, s: dict[str, Any]) -> str:
        abandon = s["ctype"] == "ABANDON"
        handle = workflow.start_activity(
            ACTIVITY,
            # Abandoned, it ends by itself soon, so its completion lands in the settle time.
            {"kind": "wait_cancel", "n": 2 if abandon else 8},
            start_to_close_timeout=timedelta(seconds=20),
            # The SDK sends heartbeats at most every 0.8 x this timeout, and the activity
            # learns of its cancellation only from a heartbeat's answer.
            heartbeat_timeout=timedelta(seconds=2),
            cancellation_type=_CANCEL_TYPES[s["ctype"]],
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        await workflow.sleep(s.get("after", 1))
        handle.cancel()
        try:
            outcome = f"activity:{await handle}"
        except ActivityError as err:
            outcome = f"activity-error:{_describe_error(err)}"
        except asyncio.CancelledError:
            outcome = "activity-cancelled"
        if s["ctype"] != "WAIT_CANCELLATION_COMPLETED":
            # Without waiting, the activity's end arrives later: let it land before the
            # next step, so its place in the history does not depend on timing.
            await workflow.sleep(4)
        return outcome

    async def _child(self, s: dict[str, Any]) -> str:
        self.children += 1
        child_id = f"{workflow.info().workflow_id}-c{self.children}"
        handle = await workflow.start_child_workflow(
            WORKFLOW,
            s["body"],
            id=child_id,
            parent_close_policy=_POLICIES[s.get("policy", "TERMINATE")],
            cancellation_type=_CHILD_CANCEL_TYPES[s.get("ctype", "WAIT_CANCELLATION_COMPLETED")],
        )
        if s.get("signal"):
            await handle.signal("sig", "ext")
        if s.get("cancel"):
            await workflow.get_external_workflow_handle(child_id).cancel()
        if not s.get("wait", True):
            return f"child-started-{self.children}"
        try:
            result = await handle
        except ChildWorkflowError as err:
            return f"child-error:{_describe_error(err)}"
        return f"child:{len(result)}"

    @workflow.signal(name="unblock")
    def unblock(self, point: int) -> None:
        self.unblocked.add(point)

    @workflow.signal(name="sig")
    def sig(self, name: str) -> None:
        self.signals[name] = self.signals.get(name, 0) + 1
        self.log.append(f"signal-{name}")

    def _late_signal(self, name: str) -> None:
        self.log.append(f"late-signal-{name}")

    async def _late_update(self, spec: dict[str, Any]) -> str:
        self.log.append(f"late-update-{spec['id']}")
        return f"late-{spec['id']}"

    @workflow.query(name="state")
    def state(self) -> list[str]:
        return list(self.log)

    @workflow.query(name="boom")
    def boom(self) -> str:
        raise ApplicationError("query fails", type="QueryFails")

    @workflow.update(name="upd")
    async def upd(self, spec: dict[str, Any]) -> str:
        kind = spec["kind"]
        if kind == "fail":
            raise ApplicationError("update fails", type="UpdateFails")
        if kind == "wait":
            name = spec["signal"]
            await workflow.wait_condition(lambda: self.signals.get(name, 0) > 0)
        elif kind == "timer":
            await workflow.sleep(1)
        elif kind == "activity":
            await workflow.execute_activity(
                ACTIVITY, {"kind": "ok"}, start_to_close_timeout=timedelta(seconds=10)
            )
        self.log.append(f"update-{spec['id']}")
        return f"updated-{spec['id']}"

    @upd.validator
    def check_upd(self, spec: dict[str, Any]) -> None:
        if spec["kind"] == "reject":
            raise ApplicationError("update rejected", type="Rejected")
