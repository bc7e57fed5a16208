"""What every frontend handler shares: the services behind the RPCs."""

from __future__ import annotations

import time
from collections.abc import Callable

from temporalio.api.common.v1 import message_pb2 as common_pb2

from perdure.server.frontend.limits import Limits
from perdure.server.history.history_pages import HistoryPages
from perdure.server.history.service import HistoryService
from perdure.server.matching.queries import QueryRegistry
from perdure.server.matching.queues import Matching
from perdure.server.matching.shared import QueryBridge
from perdure.server.namespaces import Namespace, NamespaceRegistry
from perdure.server.store.base import Store
from perdure.server.visibility import decode_search_attributes

SearchAttributesValidator = Callable[[common_pb2.SearchAttributes], None]


class FrontendContext:
    """Base of the RPC handler mixins; `Frontend` fills these in."""

    namespaces: NamespaceRegistry
    history: HistoryService
    matching: Matching
    store: Store
    limits: Limits
    history_pages: HistoryPages
    queries: QueryRegistry
    query_bridge: QueryBridge | None = None
    """Set when several server processes share the database (matching/shared.py)."""

    def clock_monotonic(self) -> float:
        return time.monotonic()

    def search_attribute_validator(self, ns: Namespace) -> SearchAttributesValidator | None:
        """Checks custom search attributes against the namespace's registered types."""
        aliases = ns.search_attribute_aliases

        def validate(sa: common_pb2.SearchAttributes) -> None:
            decode_search_attributes(sa, aliases, namespace=ns.name)

        return validate
