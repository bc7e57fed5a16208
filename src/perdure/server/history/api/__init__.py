"""History operations: one module per request that changes, starts a task of, or reads a run.

Each operation takes a resolved namespace, a validated request and plain values (how long
the caller waits, the poller's identity), runs its engine transition through
`HistoryService.update` (the workflow id's lock, load, apply, commit, retry on a write
conflict, evict the cached state on an error) and returns what the caller answers with.
The frontend resolves namespaces, validates, enforces limits and shapes responses, then
calls one of these (embedded mode reaches them through the same frontend handlers);
matching hands started tasks to pollers. What happens to a run lives here, as in
Temporal's `service/history/api/<operation>`.
"""
