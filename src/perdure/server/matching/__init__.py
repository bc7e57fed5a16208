"""Matching: task queues, long-polling pollers, sync match, the stored backlog.

polling.py        the long-poll loops (workflow and activity tasks): wait, start the
                  task through history, drop stale rows, requeue on failure
waiters.py        the waiting pollers of a queue and the one wait/handoff path
queues.py         a queue of this process (ready tasks, backlog reads) and `Matching`
shared.py         a queue whose backlog other server processes share (PostgreSQL),
                  and the bridge that carries queries between processes
queries.py        queries waiting for, riding on, or answered by workflow tasks
query_routing.py  where a query goes, by the state of the run's workflow task
"""
