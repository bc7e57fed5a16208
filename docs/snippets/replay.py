"""Testing: replay recorded histories against the current workflow code."""

import json
import tempfile
from datetime import timedelta
from pathlib import Path

from perdure import activity, workflow
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker


@activity.defn
async def fetch(url: str) -> int:
    return len(url)


@workflow.defn
class Crawl:
    @workflow.run
    async def run(self, urls: list[str]) -> int:
        total = 0
        for url in urls:
            total += await workflow.execute_activity(
                fetch, url, start_to_close_timeout=timedelta(seconds=10)
            )
        return total


async def record(env: WorkflowEnvironment, task_queue: str, directory: Path) -> None:
    client = env.client
    async with Worker(client, task_queue=task_queue, workflows=[Crawl], activities=[fetch]):
        # --8<-- [start:record]
        handle = await client.start_workflow(
            Crawl.run, ["a", "bb"], id="crawl-1", task_queue=task_queue
        )
        await handle.result()
        history = await handle.fetch_history()
        (directory / "crawl-1.json").write_text(history.to_json())
        # --8<-- [end:record]


# --8<-- [start:replay]
import pytest

from perdure.client import WorkflowHistory
from perdure.worker import Replayer

HISTORIES = Path(__file__).parent / "histories"  # recorded from production, checked in


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda path: path.stem)
async def test_replay(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await Replayer(workflows=[Crawl]).replay_workflow(history)  # raises on non-determinism


# --8<-- [end:replay]


@workflow.defn(name="Crawl")
class CrawlWithPauses:
    """An incompatible change: a timer where the recorded history has an activity."""

    @workflow.run
    async def run(self, urls: list[str]) -> int:
        await workflow.sleep(timedelta(seconds=1))
        return 0


async def check(env: WorkflowEnvironment, task_queue: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        await record(env, task_queue, Path(directory))
        text = (Path(directory) / "crawl-1.json").read_text()
        assert json.loads(text)["events"]
        await test_replay(Path(directory) / "crawl-1.json")
        result = await Replayer(workflows=[CrawlWithPauses]).replay_workflow(
            WorkflowHistory.from_json("crawl-1", text), raise_on_replay_failure=False
        )
        assert isinstance(result.replay_failure, workflow.NondeterminismError)
