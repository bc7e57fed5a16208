"""Visibility: Temporal's list-filter language and search attributes, compiled to SQL.

Pure code, no I/O. The store runs what this package produces; the frontend and the engine
call it with a namespace's custom search attribute alias map (`aliases`: column -> user's
name, from `NamespaceConfig.custom_search_attribute_aliases`).

Queries (List/Scan/Count WorkflowExecutions):
    compile_query(query, *, aliases, dialect, for_count=False) -> VisibilityQuery
        dialect is "sqlite" or "postgresql". `where` always holds at least the implicit
        `TemporalNamespaceDivision IS NULL` unless the query names that attribute;
        `order_by` is "" for the store's default order; for counts, `group_by` is
        ("status",) for `GROUP BY ExecutionStatus`; group_values(group_by, key) turns a
        group's key into the payloads Temporal reports ('"Running"', type Keyword).
        Raises InvalidArgument.

Search attribute values (StartWorkflowExecution, UpsertWorkflowSearchAttributes, ...):
    search_attribute_columns(sa, aliases, *, namespace="", allow_server_set=False,
        skip_invalid=False) -> dict[str, SqlValue]: VisibilityRow.columns for the run's
        merged attributes (skip_invalid: re-index stored ones, dropping what no longer fits).
    visibility_search_attributes(sa, aliases, *, namespace="", skip_invalid=False)
        -> SearchAttributes: the normalized, typed form for VisibilityRow.search_attributes.
    decode_search_attributes(...): the validation alone (also enforces Temporal's size
        limits); annotate_types(sa, aliases): add the "type" metadata Describe returns.

Rows (the history service, on each commit that changes what a run shows):
    build_visibility_row(state, namespace) -> VisibilityRow (visibility/rows.py; imported
        from there: it depends on the engine's run state, the rest of the package does not)

Registry (OperatorService):
    add_search_attributes(aliases, {name: IndexedValueType}) -> new alias map
    remove_search_attributes(aliases, names) -> new alias map; removed_columns(...)
    list_search_attributes(aliases) -> SearchAttributeListing(custom, system)
"""

from perdure.server.visibility.attributes import (
    annotate_types,
    decode_search_attributes,
    group_values,
    search_attribute_columns,
    visibility_search_attributes,
)
from perdure.server.visibility.registry import (
    SearchAttributeListing,
    add_search_attributes,
    list_search_attributes,
    remove_search_attributes,
    removed_columns,
)
from perdure.server.visibility.sql import DIALECTS, compile_query
from perdure.server.visibility.values import status_name

__all__ = [
    "DIALECTS",
    "SearchAttributeListing",
    "add_search_attributes",
    "annotate_types",
    "compile_query",
    "decode_search_attributes",
    "group_values",
    "list_search_attributes",
    "remove_search_attributes",
    "removed_columns",
    "search_attribute_columns",
    "status_name",
    "visibility_search_attributes",
]
