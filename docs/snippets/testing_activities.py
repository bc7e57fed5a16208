"""Testing: activities alone, with ActivityEnvironment."""

from perdure.testing import WorkflowEnvironment

# --8<-- [start:code]
from perdure import activity
from perdure.testing import ActivityEnvironment


@activity.defn
async def resize(image: str) -> str:
    activity.heartbeat("halfway")
    return f"small-{image}"


async def test_resize() -> None:
    env = ActivityEnvironment()
    beats: list[object] = []
    env.on_heartbeat = lambda *details: beats.extend(details)
    assert await env.run(resize, "cat.png") == "small-cat.png"
    assert beats == ["halfway"]


# --8<-- [end:code]


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    await test_resize()
