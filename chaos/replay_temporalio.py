"""`python -m chaos.replay_temporalio FILE`: replay histories with temporalio's Replayer.

FILE holds length-prefixed serialized ``History`` protos, each preceded by its workflow
id and run id (tab-separated); the replay failures are written to FILE.failures.json
as ``[workflow id, run id, failure]`` lists (stdout is the SDK's). A subprocess, ending
with ``os._exit``, because temporalio 1.35 may abort at interpreter exit (sdk-python #300).
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import sys
import traceback
from pathlib import Path


def read_histories(path: Path) -> list[tuple[str, bytes]]:
    data = path.read_bytes()
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        wf_id = data[i + 4 : i + 4 + n].decode()
        i += 4 + n
        (m,) = struct.unpack_from(">I", data, i)
        out.append((wf_id, data[i + 4 : i + 4 + m]))
        i += 4 + m
    return out


def write_histories(path: Path, histories: list[tuple[str, bytes]]) -> None:
    with path.open("wb") as f:
        for wf_id, blob in histories:
            raw = wf_id.encode()
            f.write(struct.pack(">I", len(raw)) + raw + struct.pack(">I", len(blob)) + blob)


async def replay(path: Path) -> list[list[str]]:
    from temporalio.api.history.v1 import History
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

    from chaos.workflows import WORKFLOWS

    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=UnsandboxedWorkflowRunner())
    failures: list[list[str]] = []
    for key, blob in read_histories(path):
        wf_id, run_id = key.split("\t")
        history = History.FromString(blob)
        result = await replayer.replay_workflow(
            WorkflowHistory(wf_id, list(history.events)), raise_on_replay_failure=False
        )
        if result.replay_failure is not None:
            failures.append([wf_id, run_id, repr(result.replay_failure)])
    return failures


def main() -> None:
    os.environ["CHAOS_SDK"] = "temporalio"
    code = 0
    try:
        failures = asyncio.run(replay(Path(sys.argv[1])))
        Path(f"{sys.argv[1]}.failures.json").write_text(json.dumps(failures))
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
