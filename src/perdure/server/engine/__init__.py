"""Perdure server engine: one run's state machine, with no I/O and nothing below it.

A transition takes an `Execution` (execution.py: the run's state plus what the step
writes) and `now`, and returns through `Execution.out` the events, tasks, timers and
flags the history layer commits (its own types: outputs.py; server/history/rows.py maps
them to store rows). Errors are the domain errors of server/errors.py.

- apply.py: what each event does to the state (one applier per event type, one table);
  rebuild.py replays a history through it; NOT_REBUILT lists what history cannot hold.
- completion.py: a completed workflow task and `COMMAND_HANDLERS`, the command table;
  the handlers are in commands.py, children.py, external.py and updates.py.
- workflow_task.py, activities.py, requests.py, updates.py, children.py, external.py:
  the transitions of each kind of pending work; runs.py creates runs; closing.py ends
  them; start.py, reset.py and retention.py decide starts, resets and deletions.
- state.py, codec.py, deadlines.py, tokens.py, retry.py, cron.py, describe.py: the
  state and its encoding, timer purposes, task tokens, retry and cron rules, read views.
- reset_points.py, build_ids.py: what each worker build's completed workflow tasks leave
  (auto-reset points handed along the run chain; the BuildIds search attribute).
"""
