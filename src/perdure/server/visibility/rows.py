"""A run's visibility row, with its search attributes mapped to the typed columns."""

from __future__ import annotations

import logging

from perdure.server.engine.state import ExecutionState
from perdure.server.errors import InvalidArgument
from perdure.server.history.rows import visibility_row
from perdure.server.namespaces import Namespace
from perdure.server.store.base import VisibilityRow
from perdure.server.visibility.attributes import (
    search_attribute_columns,
    visibility_search_attributes,
)

log = logging.getLogger(__name__)


def build_visibility_row(st: ExecutionState, ns: Namespace) -> VisibilityRow:
    """The row the store indexes for `st` (the history service writes it on commit)."""
    aliases = ns.search_attribute_aliases
    # Attributes stored before their registration changed are skipped, not fatal.
    columns = search_attribute_columns(
        st.search_attributes, aliases, namespace=ns.name, allow_server_set=True, skip_invalid=True
    )
    try:
        typed = visibility_search_attributes(st.search_attributes, aliases, namespace=ns.name)
        return visibility_row(st, columns, typed.SerializeToString())
    except InvalidArgument:
        log.warning("search attributes of %s no longer match their types", st.workflow_id)
        return visibility_row(st, columns)
