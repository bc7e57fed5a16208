"""A process that commits as fast as it can and prints every acknowledged commit.

`python -m tests.server.store.crash_writer DB_PATH WRITERS` runs WRITERS concurrent loops
(so group commit batches them); loop i owns workflow "crash-i" and prints
"<i> <version>" after each commit of version <version> returned. test_sqlite.py kills it
with SIGKILL mid-flight and checks that everything printed survived.
"""

from __future__ import annotations

import asyncio
import sys

from perdure.server.store.base import Commit, ExecutionKey, ExecutionWrite, HistoryBatch
from perdure.server.store.sqlite import SQLiteStore
from tests.server.store.builders import task, vis


def state(i: int, version: int) -> bytes:
    return f"state {i} v{version} ".encode() * 20


async def writer(store: SQLiteStore, i: int) -> None:
    key = ExecutionKey("crash-ns", f"crash-{i}", f"run-{i}")
    version = 0
    while True:
        event = version + 1
        write = ExecutionWrite(
            key,
            None if version == 0 else version,
            state(i, version + 1),
            HistoryBatch(event, event, b"event %d" % event),
        )
        await store.commit(
            Commit(
                key.namespace_id,
                key.workflow_id,
                executions=[write],
                tasks_added=[task(key, f"t{event}")],
                visibility=[vis(key, start=event)],
            )
        )
        version += 1
        sys.stdout.write(f"{i} {version}\n")
        sys.stdout.flush()


async def main(path: str, writers: int) -> None:
    store = await SQLiteStore.open(path)
    print("ready", flush=True)
    await asyncio.gather(*(writer(store, i) for i in range(writers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
