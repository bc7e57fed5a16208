"""The deterministic workflow runtime (private).

What sdk-core does for the official SDK, in Python, split by concept:

* ``_history``: event classification, workflow-task chunking, marker formats, the seed.
* ``_machines``: one small state machine per command (activity, timer, child, ...).
* ``_replay``: matches commands to recorded events, routes events to machines, turns
  them into jobs; a mismatch is a non-determinism error.
* ``_loop``: the asyncio event loop that runs workflow code one ready callback at a time.
* ``_instance`` / ``_outbound`` / ``_handlers``: the workflow object, its API, and the
  signal/query/update handlers.
* ``_run``: one run's workflow tasks from poll response to completion.
* ``_local_activity``: executing local activities and their retries.
* ``_guard``: the determinism guard.
"""
