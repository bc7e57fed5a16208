"""`python -m chaos.worker SDK TARGET TASK_QUEUE EFFECTS_DB`: one worker process.

It reconnects until the server answers and starts again if its worker stops, so the
soak can kill and restart servers under it. It always ends with ``os._exit``: temporalio
1.35 may abort at interpreter exit (sdk-python #300).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import sys
import traceback


async def serve(sdk: str, target: str, task_queue: str) -> None:
    from chaos import workflows

    client_mod = importlib.import_module(f"{sdk}.client")
    worker_mod = importlib.import_module(f"{sdk}.worker")
    while True:
        try:
            client = await client_mod.Client.connect(target)
            worker = worker_mod.Worker(
                client,
                task_queue=task_queue,
                workflows=workflows.WORKFLOWS,
                activities=workflows.ACTIVITIES,
                workflow_runner=worker_mod.UnsandboxedWorkflowRunner(),
            )
            await worker.run()
            print("worker stopped; starting again", file=sys.stderr, flush=True)
        except Exception:
            traceback.print_exc()
        await asyncio.sleep(0.5)


def main() -> None:
    sdk, target, task_queue, effects = sys.argv[1:5]
    os.environ["CHAOS_SDK"] = sdk
    os.environ["CHAOS_EFFECTS"] = effects
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    code = 0
    try:
        asyncio.run(serve(sdk, target, task_queue))
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main()
