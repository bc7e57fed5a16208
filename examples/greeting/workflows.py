"""A workflow that calls one activity."""

from __future__ import annotations

from datetime import timedelta

from perdure import activity, workflow


@activity.defn
async def greet(name: str) -> str:
    """An activity: anything with side effects (I/O, clocks, randomness) belongs here."""
    return f"Hello, {name}!"


@workflow.defn
class Greeting:
    """Greets someone through the `greet` activity."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )
