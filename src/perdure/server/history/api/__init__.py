"""History operations: one module per request that changes or reads a run.

Each operation takes a validated request and plain values (the namespace, how long the
caller waits), owns lock -> load -> engine -> commit (retried on a conflict, the cached
state evicted on an error) through `HistoryService`, and returns the response. The
frontend resolves namespaces, validates, enforces limits and shapes responses, then
calls one of these; embedded mode reaches them through the same frontend handlers.
"""
