"""Official-SDK workflows for child workflows, external signals/cancels, cron and CAN."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)


def describe_error(err: BaseException) -> dict[str, Any]:
    """An exception chain as plain data, so tests compare it across servers."""
    out: dict[str, Any] = {"error": type(err).__name__, "message": str(err)}
    cause = err.__cause__
    if cause is not None:
        out["cause"] = type(cause).__name__
        out["cause_message"] = getattr(cause, "message", str(cause))
        if isinstance(cause, ApplicationError):
            out["cause_type"] = cause.type
    return out


@workflow.defn
class Echo:
    @workflow.run
    async def run(self, value: str) -> str:
        parent = workflow.info().parent
        return f"child:{value}:{parent.workflow_id if parent else ''}"


@workflow.defn
class Fails:
    @workflow.run
    async def run(self, message: str) -> str:
        raise ApplicationError(message, type="ChildBoom", non_retryable=True)


@workflow.defn
class Forever:
    """Runs until cancelled (then ends as canceled) or terminated."""

    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: "stop" in self.signals)
        return self.signals

    @workflow.signal
    def add(self, value: str) -> None:
        self.signals.append(value)

    @workflow.query
    def seen(self) -> list[str]:
        return self.signals


@workflow.defn
class Continues:
    @workflow.run
    async def run(self, remaining: int) -> str:
        if remaining > 0:
            workflow.continue_as_new(remaining - 1)
        return workflow.info().run_id


@workflow.defn
class Parent:
    """Runs one child to its end and reports its result or its error."""

    @workflow.run
    async def run(self, child: str, arg: Any, child_id: str, run_timeout: float = 0) -> Any:
        args = [] if arg is None else [arg]
        try:
            return await workflow.execute_child_workflow(
                child,
                args=args,
                id=child_id,
                run_timeout=timedelta(seconds=run_timeout) if run_timeout else None,
            )
        except (ChildWorkflowError, WorkflowAlreadyStartedError) as err:
            return describe_error(err)


@workflow.defn
class CancelsChild:
    """Starts a Forever child, cancels it, and reports how the child ended."""

    @workflow.run
    async def run(self, child_id: str, cancellation_type: str) -> Any:
        handle = await workflow.start_child_workflow(
            Forever.run,
            id=child_id,
            cancellation_type=workflow.ChildWorkflowCancellationType[cancellation_type],
        )
        handle.cancel()
        try:
            await handle
        except ChildWorkflowError as err:
            return describe_error(err)
        except BaseException as err:  # reported to the test
            return {"error": type(err).__name__}
        return "completed"


@workflow.defn
class LeavesChild:
    """Starts a Forever child with a close policy, then ends when told to."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, child_id: str, policy: str, then: str = "complete") -> str:
        handle = await workflow.start_child_workflow(
            Forever.run,
            id=child_id,
            parent_close_policy=workflow.ParentClosePolicy[policy],
        )
        await handle.signal(Forever.add, "from-parent")
        await workflow.wait_condition(lambda: self.done)
        if then == "continue":
            workflow.continue_as_new("next", workflow=Echo.run)
        return handle.first_execution_run_id or ""

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
class Signaler:
    """Signals (or cancels) another workflow through an external handle."""

    @workflow.run
    async def run(self, target_id: str, action: str) -> Any:
        handle = workflow.get_external_workflow_handle(target_id)
        try:
            if action == "cancel":
                await handle.cancel()
            else:
                await handle.signal(Forever.add, action)
        except Exception as err:  # reported to the test
            return describe_error(err)
        return "ok"


@workflow.defn
class CronCounter:
    """Counts its cron runs through last_completion_result; run 3 fails once."""

    @workflow.run
    async def run(self) -> int:
        last = 0
        if workflow.has_last_completion_result():
            last = workflow.get_last_completion_result(int) or 0
        count = last + 1
        if count == 3 and workflow.get_last_failure() is None:
            raise ApplicationError("third run fails", non_retryable=True)
        return count


@workflow.defn
class ContinuesKeepingSettings:
    """Continues as new without memo, search attributes or retry policy."""

    @workflow.run
    async def run(self, remaining: int, backoff: float = 0) -> str:
        if remaining > 0:
            workflow.continue_as_new(
                args=[remaining - 1, backoff],
                backoff_start_interval=timedelta(seconds=backoff) if backoff else None,
            )
        return workflow.info().run_id


CHILD_WORKFLOWS = [
    Echo,
    Fails,
    Forever,
    Continues,
    Parent,
    CancelsChild,
    LeavesChild,
    Signaler,
    CronCounter,
    ContinuesKeepingSettings,
]
