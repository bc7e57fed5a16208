"""History operations: one module per request that changes (or starts a task of) a run.

Each operation takes a resolved namespace, validated requests and plain values, runs its
engine transition through `HistoryService.update` (the workflow id's lock, load, apply,
commit, retry on a write conflict, evict the cached state on error) and returns what the
caller answers with. The frontend resolves namespaces, validates and shapes responses;
matching hands tasks to pollers; what happens to a run lives here, as in Temporal's
`service/history/api/<operation>`.
"""
