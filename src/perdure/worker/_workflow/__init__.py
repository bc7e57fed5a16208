"""The deterministic workflow runtime (private).

What sdk-core does for the official SDK, in Python, split by concept:

* ``_history``: event classification, workflow-task chunking, marker formats, the seed.
* ``_machines`` (+ ``_machines_activity``, ``_machines_child``): one small state machine
  per command (timer, patch, update; activity, local activity; child, external).
* ``_replay``: matches commands to recorded events, routes events to machines, turns
  them into jobs; a mismatch is a non-determinism error. ``_replay_commands`` turns
  workflow commands into machines.
* ``_jobs``: the vocabulary between the two sides (activation jobs, workflow commands).
* ``_commands``: command attributes exactly as the official SDK sends them.
* ``_loop``: the asyncio event loop that runs workflow code one ready callback at a time.
* ``_instance`` / ``_outbound`` / ``_handlers``: the workflow object, its API, and the
  signal/query/update handlers.
* ``_run``: one run's workflow tasks from poll response to completion.
* ``_local_activity``: executing local activities and their retries.
* ``_guard``: the determinism guard.
* ``_codec``: the payload codec applied to whole tasks.
"""
