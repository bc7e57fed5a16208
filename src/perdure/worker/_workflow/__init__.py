"""The deterministic workflow runtime (private).

What sdk-core does for the official SDK, in Python, split by concept:

* ``_history``: event classification, workflow-task chunking, marker formats, the seed.
* ``_machines`` (+ ``_machines_activity``, ``_machines_child``): one small state machine
  per command (timer, patch, update; activity, local activity; child, external).
* ``_replay``: ``ReplayState``, one run's replay state (the SDK's counterpart of what
  the server's engine keeps as ``ExecutionState``): matches commands to recorded events,
  routes events to machines, turns them into jobs; a mismatch is a non-determinism error.
  ``_replay_commands`` turns workflow commands into machines. Event and command types are
  the typed constants of ``temporalio.api.enums.v1`` (``event_type_pb2``,
  ``command_type_pb2``: plain ints, fast on the hot path); cancellation types are the
  ``ActivityCancellationType`` / ``ChildWorkflowCancellationType`` enums.
* ``_jobs``: the vocabulary between the two sides (activation jobs, workflow commands).
* ``_commands``: command attributes exactly as the official SDK sends them.
* ``_loop``: the asyncio event loop that runs workflow code one ready callback at a time.
* ``_instance``: one run's workflow object; wires the collaborators below and answers
  the workflow API by delegating to them:
  ``_mode`` (replaying, read-only, evicting, lang flags), ``_command_buffer`` (commands
  and sequence numbers), ``_waiting`` (durable timers, wait conditions), ``_tasks`` (the
  run's asyncio tasks), ``_conversion`` (payloads, failures), ``_handler_registry`` and
  ``_handlers`` (handlers, buffered signals, delivery through the inbound interceptors),
  ``_outbound_calls`` and ``_outbound`` (activities, children, external workflows,
  continue-as-new; before and after the outbound interceptors) and the
  ``_handles`` they return, ``_main`` (the workflow object and its run method), ``_outcome``
  (how top-level code ends), ``_determinism`` (patches, seeded random), ``_properties``
  (memo, search attributes).
* ``_run``: one run's workflow tasks from poll response to completion.
* ``_local_activity``: executing local activities and their retries.
* ``_guard``: the determinism guard.
* ``_codec``: the payload codec applied to whole tasks.
"""
